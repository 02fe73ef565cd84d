"""``gateway check FILE.eml``: what the gateway would decide for a message, and why.

With ``--json`` one JSON object (the contract other tools depend on)::

    {"action": ..., "subject": ..., "critical": bool, "reply": bool, "marketplace": tld|null,
     "hits": [{"rule", "action", "reason", "evidence"}], "language": code|null, "purpose": id|null}

Exit 0 for any verdict; 2 when the input cannot be read; 1 when the configuration or the rule
packs cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, load_config
from gateway.policy.content import addresses_in, decode_header_value
from gateway.policy.engine import InMemoryPolicyState, PolicyEngine, PolicyLoadError
from gateway.policy.verdict import Verdict


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check", help="evaluate a message file against the rule packs",
        description="Evaluate an .eml file as if sent to the given recipients (default: its To and Cc).")
    parser.add_argument("file", type=Path, metavar="FILE.eml", help="the message (use - for standard input)")
    parser.add_argument("--rcpt", action="append", default=[], metavar="ADDR",
                        help="an envelope recipient (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="gateway configuration (TOML)")
    parser.set_defaults(func=run)


def _header_recipients(raw: bytes) -> list[str]:
    import email.parser
    import email.policy

    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    found: list[str] = []
    for name in ("To", "Cc"):
        for value in headers.get_all(name) or []:
            found.extend(addresses_in(decode_header_value(value)))
    return found


def explain(verdict: Verdict) -> str:
    lines = [f"Action:      {verdict.action}",
             f"Marketplace: {verdict.marketplace or '(no marketplace recipient)'}",
             f"Subject:     {verdict.subject}",
             f"Reply:       {'yes (buyer thread)' if verdict.reply else 'no (proactive)'}",
             f"Critical:    {'yes' if verdict.critical else 'no'}"]
    if verdict.order_ids:
        lines.append(f"Order ids:   {', '.join(verdict.order_ids)}")
    if verdict.smtp_code:
        lines.append(f"SMTP reply:  {verdict.smtp_code} {verdict.enhanced_status or ''}".rstrip())
    if verdict.hits:
        lines.append("")
        lines.append("Why:")
        for hit in verdict.hits:
            lines.append(f"  [{hit.action}] {hit.rule}: {hit.reason}")
            if hit.evidence:
                lines.append(f"      evidence: {hit.evidence}")
    else:
        lines.append("")
        lines.append("No rule hit.")
    lines.append(f"\n{len(verdict.misses)} other rule(s) ran without a hit.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        raw = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    except OSError as exc:
        print(f"gateway check: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
        engine = PolicyEngine.load(config.policy, config.marketplace)
    except ConfigError as exc:
        print(f"gateway check: configuration: {exc}", file=sys.stderr)
        return 1
    except PolicyLoadError as exc:
        print(f"gateway check: rule packs: {exc}", file=sys.stderr)
        return 1
    addresses = args.rcpt or _header_recipients(raw)
    recipients = engine.classifier.marketplace_recipients(addresses)
    verdict = engine.evaluate(raw, recipients, InMemoryPolicyState())
    if args.json:
        print(json.dumps(verdict.as_json(), ensure_ascii=False))
    else:
        print(explain(verdict))
    return 0
