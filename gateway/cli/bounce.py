"""``gateway bounce``: parse one bounce, or import many from files, mbox files and Maildir folders."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from gateway.bounces.batch import ImportSummary, count_messages, ingest_one, iter_messages
from gateway.bounces.ingest import BounceIngestService
from gateway.bounces.parse import BounceReport, parse_bounce
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.log import configure_logging
from gateway.store.base import StoreError
from gateway.store.factory import describe, open_store

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
    i.add_argument("--config", type=Path, default=None,
                   help="gateway configuration: record into the opt-out registry of its state directory "
                        "(without it, messages are only parsed and counted)")
    i.add_argument("--dry-run", action="store_true",
                   help="with --config: only parse and count; record nothing")
    i.add_argument("--tenant", default="", metavar="ID",
                   help="with --config: the tenant whose registry the notices belong to")
    i.set_defaults(func=run_import)

    q = sub.add_parser("poll", help="poll the configured [bounces.imap] mailboxes once and record what is there")
    q.add_argument("--config", type=Path, required=True, help="gateway configuration with [bounces.imap]")
    q.add_argument("--json", action="store_true", help="one JSON object per mailbox")
    q.set_defaults(func=run_poll)


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


def wording_ready(command: str, wording_dir: Path | None) -> bool:
    """Load the bounce wording up front: a missing folder is an error, not every message "not-bounce"."""
    from gateway.bounces.wording import load_bounce_wording
    from gateway.datafiles import DataFilesError

    try:
        load_bounce_wording(wording_dir)
    except DataFilesError as exc:
        print(f"gateway bounce {command}: {exc}", file=sys.stderr)
        return False
    return True


def run_parse(args: argparse.Namespace) -> int:
    configure_logging()  # log lines go to stderr; stdout carries only the result
    if not wording_ready("parse", None):
        return 2
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
    if args.dry_run or args.config is None:
        configure_logging("auto", "warning")
        wording_dir = None
        if args.config is not None:
            try:
                wording_dir = load_config(args.config).bounces.wording_dir
            except ConfigError as exc:
                print(f"gateway bounce import: {exc}", file=sys.stderr)
                return 2
        if not wording_ready("import", wording_dir):
            return 2
        return asyncio.run(_import(args, None))
    else:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(f"gateway bounce import: {exc}", file=sys.stderr)
            return 2
        if args.tenant not in config.tenant_ids():
            print(f"gateway bounce import: no tenant {args.tenant!r} in {args.config}", file=sys.stderr)
            return 2
        # Per-notice records stay out of the summary on stdout; warnings (policy notices, status
        # changes) go to stderr.
        configure_logging(config.log.format, "warning")
        if not wording_ready("import", config.bounces.wording_dir):
            return 2

    async def recording() -> int:
        store = await open_store(config)
        try:
            return await _import(args, BounceIngestService(store, config))
        finally:
            await store.close()

    try:
        return asyncio.run(recording())
    except StoreError as exc:
        print(f"gateway bounce import: state at {describe(config)}: {exc}", file=sys.stderr)
        return 2


async def _import(args: argparse.Namespace, service: BounceIngestService | None) -> int:
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
                if service is None:
                    summary.add(ingest_one(raw, source))
                    continue
                try:
                    summary.add(await service.ingest_result(raw, f"file:{source}", args.tenant))
                except Exception as exc:  # one bad message must not stop a mailbox import
                    summary.failed += 1
                    print(f"gateway bounce import: {source}: not recorded: {exc!r}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary.as_json()))
    else:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary.by_kind.items())) or "none"
        print(f"messages: {summary.messages}  parsed: {summary.parsed}  not a bounce: {summary.not_bounce}"
              f"  unreadable: {summary.unreadable}")
        print(f"by kind: {kinds}")
        print(f"recipients: {summary.recipients}")
        if service is None:
            print("nothing recorded (parse only; give --config to record into the opt-out registry)")
        else:
            print(f"matched: {summary.matched}  unmatched: {summary.unmatched} (see gateway optouts review)"
                  f"  unrelated: {summary.unrelated}  already recorded: {summary.duplicate}"
                  f"  failed: {summary.failed}")
            print(f"aliases marked: optout {summary.optout}  dead {summary.dead}")
    return 2 if failed_paths or summary.unreadable or summary.failed else 0


def run_poll(args: argparse.Namespace) -> int:
    """One poll of every configured mailbox: to check the settings, or from cron instead of the
    gateway's own poller."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"gateway bounce poll: {exc}", file=sys.stderr)
        return 2
    if not config.bounces.imap:
        print(f"gateway bounce poll: no [bounces.imap] mailbox in {args.config}", file=sys.stderr)
        return 2
    configure_logging(config.log.format, "warning")
    if not wording_ready("poll", config.bounces.wording_dir):
        return 2
    return asyncio.run(_poll_all(config, args.json))


async def _poll_all(config: GatewayConfig, as_json: bool) -> int:
    from gateway.bounces.imap import ImapError, ImapPoller

    store = await open_store(config)
    service = BounceIngestService(store, config)
    failed = False
    try:
        for mailbox_config in config.bounces.imap:
            poller = ImapPoller(mailbox_config, service)
            try:
                summary = await poller.poll_once()
            except (ImapError, OSError) as exc:  # OSError: e.g. an unreadable password_file
                failed = True
                print(f"gateway bounce poll: {poller.source}: {exc}", file=sys.stderr)
                continue
            summary.recorded = True  # the registry counters are meaningful even for an empty mailbox
            if as_json:
                print(json.dumps({"mailbox": poller.source, "tenant": mailbox_config.tenant,
                                  **summary.as_json()}))
            else:
                print(f"{poller.source}: messages {summary.messages}, matched {summary.matched}, "
                      f"unmatched {summary.unmatched}, not a bounce {summary.not_bounce}, "
                      f"already recorded {summary.duplicate}, failed {summary.failed}")
            failed = failed or summary.failed > 0
    finally:
        await store.close()
    return 2 if failed else 0
