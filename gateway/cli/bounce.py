"""``gateway bounce``: parse one bounce, or import many from files, mbox files and Maildir folders."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.bounces.ingest import ImportSummary, count_messages, ingest_one, iter_messages
from gateway.bounces.parse import BounceReport, parse_bounce
from gateway.log import configure_logging

# Show a progress bar (on a terminal) from this many messages on.
PROGRESS_FROM = 200


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("bounce", help="parse and import bounce-backs and Amazon notices",
                                   description="Parse and import bounce-backs and Amazon seller notices.")
    sub = parser.add_subparsers(dest="bounce_command", metavar="ACTION", required=True)

    p = sub.add_parser("parse", help="parse one message file ('-' for stdin)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_parse)

    i = sub.add_parser("import", help="import .eml files, mbox files and Maildir folders")
    i.add_argument("paths", metavar="PATH", nargs="+", type=Path)
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.set_defaults(func=run_import)


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def summary_text(report: BounceReport) -> str:
    lines = [f"kind:        {report.kind}" + (f" ({report.notice})" if report.notice else "")]
    if report.subject:
        lines.append(f"subject:     {report.subject}")
    if report.order_id or report.marketplace or report.alias:
        lines.append(f"order:       {report.order_id or '-'}   marketplace: {report.marketplace or '-'}"
                     f"   alias: {report.alias or '-'}")
    if report.language:
        verified = "verified wording" if report.wording_verified else "unverified wording"
        lines.append(f"language:    {report.language} ({verified})")
    for r in report.recipients:
        lines.append(f"recipient:   {r.address}  reason={r.reason}  status={r.status or '-'}")
        if r.diagnostic:
            lines.append(f"             {r.diagnostic[:160]}")
    if report.message_ids:
        lines.append("message-ids: " + " ".join(f"<{m}>" for m in report.message_ids))
    return "\n".join(lines)


def run_parse(args: argparse.Namespace) -> int:
    configure_logging()  # log lines go to stderr; stdout carries only the result
    try:
        raw = _read(args.file)
    except OSError as exc:
        print(f"gateway bounce parse: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    report = parse_bounce(raw)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        print(summary_text(report))
    return 0


def run_import(args: argparse.Namespace) -> int:
    configure_logging()
    summary = ImportSummary()
    failed_paths = 0
    paths: list[Path] = []
    for path in args.paths:
        if not path.exists():
            print(f"gateway bounce import: no such file or folder: {path}", file=sys.stderr)
            failed_paths += 1
        else:
            paths.append(path)
    counts = [count_messages(p) for p in paths]
    total = None if any(c is None for c in counts) else sum(c or 0 for c in counts)
    show = sys.stderr.isatty() and (total is None or total >= PROGRESS_FROM)
    from tqdm import tqdm

    with tqdm(total=total, unit="msg", disable=not show, file=sys.stderr, desc="bounces") as bar:
        for path in paths:
            for source, raw in iter_messages(path):
                bar.update(1)
                if raw is None:
                    summary.unreadable += 1
                    print(f"gateway bounce import: cannot read {source}", file=sys.stderr)
                    continue
                summary.add(ingest_one(raw, source))
    if args.json:
        print(json.dumps(summary.as_json()))
    else:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary.by_kind.items())) or "none"
        print(f"messages: {summary.messages}  parsed: {summary.parsed}  not a bounce: {summary.not_bounce}"
              f"  unreadable: {summary.unreadable}")
        print(f"by kind: {kinds}")
        print(f"recipients: {summary.recipients}")
    return 2 if failed_paths or summary.unreadable else 0
