"""``gateway check FILE.eml``: what the gateway would decide for a message, and why.

The message runs the server's own pipeline (``gateway.pipeline``, entrance ``check``): the same
tenant, rule packs, registered-sender check and shadow mode; with ``--config`` the same state too
(the opt-out registry, the per-order counters and the daily caps are read, never reserved or
written). Without ``--config`` the defaults apply and no state is recorded yet.

With ``--json`` one JSON object (the contract other tools depend on; fields are only ever added)::

    {"action": ..., "subject": ..., "critical": bool, "reply": bool, "marketplace": tld|null,
     "hits": [{"rule", "action", "reason", "evidence"}],
     "outcome": "queued"|"held"|"refused"|"deferred", "cause": ..., "shadow": bool,
     "decided_by": [stage, ...], "stages": [{"stage", "result", "detail"}],
     "smtp_reply": "...", "tenant": id, "order_ids": [...],
     "language": code|null, "purpose": id|null}

``action`` and ``hits`` are the decision the server would record (in shadow mode, what would have
happened); ``decided_by`` names the stages that changed it or ended the run (``evaluate``: the
rule packs or the sender check; ``shadow``; ``reserve``: a cap or per-order limit; ``store``).

Exit 0 for any verdict; 2 when the input cannot be read; 1 when the configuration, the rule
packs or the state cannot be loaded, or no tenant matches the sender.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from gateway import replies
from gateway.app import policy_loader
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.errors import GatewayError, StoreError
from gateway.message import addresses_in, decode_header_value, header_recipients, read_headers
from gateway.outcome import Outcome
from gateway.pipeline import Entrance, Pipeline
from gateway.policy.loader import PolicyLoadError
from gateway.policy.verdict import Verdict
from gateway.store.factory import open_store_readonly
from gateway.tenants import TenantDirectory
from gateway.transaction import Transaction


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check", help="evaluate a message file as the server would",
        description="Run an .eml file through the gateway's pipeline as if sent to the given recipients "
                    "(default: its To and Cc), without sending or recording anything.")
    parser.add_argument("file", type=Path, metavar="FILE.eml", help="the message (use - for standard input)")
    parser.add_argument("--rcpt", action="append", default=[], metavar="ADDR",
                        help="an envelope recipient (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="gateway configuration (TOML); its state is read as the server reads it")
    parser.add_argument("--mail-from", default=None, metavar="ADDR",
                        help="the envelope sender (default: the From address)")
    parser.add_argument("--tenant", default=None, metavar="ID",
                        help="the tenant (default: resolved as the server does, from --auth-user, --peer, --mail-from)")
    parser.add_argument("--auth-user", default=None, metavar="USER", help="the SMTP AUTH user, for the tenant")
    parser.add_argument("--peer", default="127.0.0.1", metavar="IP", help="the client address, for the tenant")
    parser.add_argument("--write-repaired", type=Path, default=None, metavar="OUT.eml",
                        help="write the message as it would be relayed (repaired, subject rewritten)")
    parser.set_defaults(func=run)


class CheckError(GatewayError):
    """The check cannot run: no tenant for the sender, or the state cannot be read."""


async def check_message(config: GatewayConfig, tenants: TenantDirectory, raw: bytes, rcpt_tos: list[str], *,
                        mail_from: str | None = None, tenant_id: str | None = None,
                        auth_user: str | None = None, peer: str = "127.0.0.1",
                        read_state: bool = True) -> tuple[Outcome, str]:
    """The outcome the server would reach for ``raw``, and the tenant it was checked for.

    ``read_state``: read the configured store (``--config``), as the server would."""
    sender = mail_from if mail_from is not None else _from_address(raw)
    if tenant_id is not None:
        if tenant_id and tenant_id not in tenants.tenants:
            raise CheckError(f"no tenant {tenant_id!r} in the configuration")
        tenant = tenants.get(tenant_id)
    else:
        found = tenants.resolve(auth_user=auth_user, peer=peer, mail_from=sender)
        if found is None:
            raise CheckError(f"no tenant matches (user {auth_user}, client {peer}, sender {sender}): "
                             "the server refuses this sender; name one with --tenant")
        tenant = found
    store = await open_store_readonly(config) if read_state else None
    try:
        txn = Transaction(peer=peer, mail_from=sender, rcpt_tos=list(rcpt_tos), data=raw, auth_user=auth_user,
                          tenant=tenant.id)
        outcome = await Pipeline(config, store).run(txn, tenant, Entrance.CHECK)
    finally:
        if store is not None:
            await store.close()
    return outcome, tenant.id


def _from_address(raw: bytes) -> str:
    found = addresses_in(decode_header_value(read_headers(raw).get("From", "")))
    return found[0] if found else ""


def _subject(raw: bytes) -> str:
    return decode_header_value(read_headers(raw).get("Subject", ""))


def as_json(outcome: Outcome, tenant: str, raw: bytes) -> dict[str, Any]:
    verdict = outcome.verdict
    out = verdict.as_json()
    if not out["subject"] and verdict.marketplace is None:
        out["subject"] = _subject(raw)  # no marketplace recipient: nothing was evaluated
    pipeline = outcome.as_json()
    for key in ("queue_id", "quarantine_id"):  # nothing is stored by a check
        pipeline.pop(key)
    out.update(pipeline)
    out["smtp_reply"] = replies.smtp_reply(outcome)
    out["tenant"] = tenant
    out["order_ids"] = list(verdict.order_ids)
    return out


def explain(verdict: Verdict, outcome: Outcome | None = None) -> str:
    lines = [f"Action:      {verdict.action}",
             f"Marketplace: {verdict.marketplace or '(no marketplace recipient)'}",
             f"Subject:     {verdict.subject}",
             f"Reply:       {'yes (buyer thread)' if verdict.reply else 'no (proactive)'}",
             f"Critical:    {'yes' if verdict.critical else 'no'}"]
    if verdict.order_ids:
        lines.append(f"Order ids:   {', '.join(verdict.order_ids)}")
    if verdict.smtp_code:
        lines.append(f"SMTP reply:  {verdict.smtp_code} {verdict.enhanced_status or ''}".rstrip())
    if outcome is not None:
        shadow = " (shadow mode: relayed as it came)" if outcome.shadow else ""
        lines.append(f"Outcome:     {outcome.disposition} ({outcome.cause}){shadow}")
        lines.append(f"Decided by:  {', '.join(outcome.decided_by) or '(no stage changed it)'}")
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
    if outcome is not None:
        lines.append("")
        lines.append("Stages:")
        for stage in outcome.stages:
            lines.append(f"  {stage.stage:<9} {stage.result:<8} {stage.detail}".rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        raw = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    except OSError as exc:
        print(f"gateway check: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
        tenants = TenantDirectory(config, policy_loader(config))
    except ConfigError as exc:
        print(f"gateway check: configuration: {exc}", file=sys.stderr)
        return 1
    except PolicyLoadError as exc:
        print(f"gateway check: rule packs: {exc}", file=sys.stderr)
        return 1
    addresses = args.rcpt or header_recipients(read_headers(raw))
    try:
        outcome, tenant = asyncio.run(check_message(
            config, tenants, raw, addresses, mail_from=args.mail_from, tenant_id=args.tenant,
            auth_user=args.auth_user, peer=args.peer, read_state=args.config is not None))
    except (CheckError, StoreError) as exc:  # no tenant for the sender; the state cannot be read
        print(f"gateway check: {exc}", file=sys.stderr)
        return 1
    if args.write_repaired is not None:
        if not outcome.data:
            print(f"gateway check: not written: the message would be {outcome.disposition}, not relayed",
                  file=sys.stderr)
        else:
            args.write_repaired.write_bytes(outcome.data)
    if args.json:
        print(json.dumps(as_json(outcome, tenant, raw), ensure_ascii=False))
    else:
        print(explain(outcome.verdict, outcome))
    return 0
