"""`gateway quarantine list|show|release|delete`: review held messages from the shell.

Works on the state directory of ``--config`` while the gateway runs: the store's SQLite and the
spool's SQLite are shared safely between processes (WAL, busy timeouts), a release is claimed
exactly once, and the running gateway's delivery picks a released message up at its next poll.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from gateway.admin.message_view import evidence_of, highlight, preview
from gateway.cli.common import actor, add_state_options, emit_json, fmt_time, load, state_owned, with_store
from gateway.config import GatewayConfig
from gateway.quarantine import QuarantineReview, ReviewError
from gateway.store.base import QuarantineRecord, Store
from gateway.store.factory import open_store

_MARK_ON, _MARK_OFF = "\x1b[7m", "\x1b[0m"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "quarantine", help="list, show, release or delete held messages",
        description="Review the quarantine of the gateway whose configuration --config names.")
    qsub = parser.add_subparsers(dest="quarantine_command", metavar="ACTION", required=True)

    p = qsub.add_parser("list", help="held messages (or --all)")
    add_state_options(p)
    p.add_argument("--all", action="store_true", help="include released and deleted messages")
    p.add_argument("--tenant", help="only this tenant's messages")
    p.set_defaults(func=cmd_list)

    p = qsub.add_parser("show", help="a message's envelope, rule hits and text with evidence marked")
    add_state_options(p)
    p.add_argument("id")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.set_defaults(func=cmd_show)

    p = qsub.add_parser("release", help="re-check and put the message into the spool for delivery")
    add_state_options(p)
    p.add_argument("id")
    p.add_argument("--reason", default="", help="why (recorded in the audit log)")
    p.add_argument("--force", action="store_true",
                   help="release without a re-check (needs --reason)")
    p.add_argument("--actor", help="who, for the audit log (default cli:<login user>)")
    p.set_defaults(func=cmd_release)

    p = qsub.add_parser("delete", help="discard the message")
    add_state_options(p)
    p.add_argument("id")
    p.add_argument("--reason", default="", help="why (recorded in the audit log)")
    p.add_argument("--actor", help="who, for the audit log (default cli:<login user>)")
    p.set_defaults(func=cmd_delete)


def _load_owned(args: argparse.Namespace) -> GatewayConfig | None:
    """The configuration, if its SQLite state (when it has one) is the service user's."""
    config = load(args)
    if config is None or (config.state.database is None and not state_owned(config.state_dir)):
        return None
    return config


def _hits(record: QuarantineRecord) -> list[dict[str, Any]]:
    hits = record.verdict.get("hits", [])
    return [h for h in hits if isinstance(h, dict)]


def cmd_list(args: argparse.Namespace) -> int:
    config = _load_owned(args)
    if config is None:
        return 2
    records = with_store(config, lambda store: store.list_quarantine(None if args.all else "held", args.tenant))
    if records is None:
        return 2
    if args.json:
        emit_json([r.as_json() for r in records])
        return 0
    if not records:
        print("quarantine is empty")
        return 0
    for r in records:
        rules = ",".join(str(h.get("rule")) for h in _hits(r)) or "-"
        print(f"{r.id}  {fmt_time(r.held_at)}  {r.status:<8}  {r.mail_from} -> {', '.join(r.rcpt_tos)}"
              f"  [{rules}]  {r.subject}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    config = _load_owned(args)
    if config is None:
        return 2

    async def fetch(store: Store) -> tuple[QuarantineRecord | None, bytes | None]:
        record = await store.get_quarantine(args.id)
        return record, (await store.quarantined_bytes(args.id) if record is not None else None)

    found = with_store(config, fetch)
    if found is None:
        return 2
    record, data = found
    if record is None:
        print(f"gateway: no quarantined message {args.id}", file=sys.stderr)
        return 1
    view = preview(data) if data is not None else None
    if args.json:
        out = record.as_json()
        out["preview"] = view.as_json() if view is not None else None
        emit_json(out)
        return 0
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    on, off = (_MARK_ON, _MARK_OFF) if color else (">>", "<<")

    def marked(text: str) -> str:
        return "".join(f"{on}{seg}{off}" if hit else seg for seg, hit in highlight(text, evidence_of(record)))

    print(f"Quarantine id: {record.id} ({record.status})")
    print(f"Held at:       {fmt_time(record.held_at)} from {record.peer}")
    print(f"Envelope:      {record.mail_from} -> {', '.join(record.rcpt_tos)}")
    print(f"Message-ID:    {record.message_id}")
    print(f"Subject:       {marked(record.subject)}")
    print(f"Verdict:       {record.verdict.get('action')} ({record.marketplace or 'no marketplace'})")
    print("Rule hits:")
    for h in _hits(record):
        print(f"  - {h.get('rule')} [{h.get('action')}]: {h.get('reason')}")
        if h.get("evidence"):
            print(f"      evidence: {on}{h.get('evidence')}{off}")
    if view is None:
        print("(message file is gone)")
        return 0
    print(f"Text ({view.source}):")
    print(marked(view.text))
    return 0


def _run_review(config: GatewayConfig, fn: Any) -> Any:
    """Open store, spool and (if the rule packs load) the tenants' policies, run ``fn(review)``."""
    from gateway.app import policy_loader
    from gateway.instance import instance_id
    from gateway.quarantine import tenants_from
    from gateway.spool import Spool
    from gateway.tenants import TenantDirectory

    try:
        tenants: TenantDirectory | None = TenantDirectory(config, policy_loader(config))
    except Exception as exc:  # rule packs fail to load: a re-check is unavailable, --force still works
        print(f"gateway: policy not loaded, re-check unavailable: {exc}", file=sys.stderr)
        tenants = None

    async def main() -> Any:
        store = await open_store(config)
        # No delivery runs in this process: the running gateway finds the message by polling.
        spool = await Spool.open(config.state_dir / "spool", handoff=False)
        try:
            # The instance id of this state directory: its gateway finishes a release left half done.
            review = QuarantineReview(config, store, spool, tenants_from(lambda: tenants),
                                      instance=instance_id(config.state_dir))
            return await fn(review)
        finally:
            await spool.close()
            await store.close()

    return asyncio.run(main())


def _mutate(args: argparse.Namespace, what: str) -> int:
    config = load(args, quiet=False)
    if config is None:
        return 2
    if not state_owned(config.state_dir):
        return 2
    who = actor(args.actor)

    async def act(review: QuarantineReview) -> dict[str, Any]:
        if what == "release":
            result = await review.release(args.id, actor=who, reason=args.reason, force=args.force)
            return {"ok": True, "action": "released", "actor": who, **result.as_json()}
        await review.delete(args.id, actor=who, reason=args.reason)
        return {"ok": True, "action": "deleted", "actor": who, "quarantine_id": args.id}

    try:
        out = _run_review(config, act)
    except ReviewError as exc:
        if args.json:
            emit_json({"ok": False, "error": exc.code, "message": str(exc)})
        else:
            print(f"gateway: {what} refused: {exc}", file=sys.stderr)
        return 1
    if args.json:
        emit_json(out)
    elif what == "release":
        print(f"{args.id} released by {who} as queue id {out['queue_id']}")
    else:
        print(f"{args.id} deleted by {who}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    if args.force and not args.reason.strip():
        print("gateway: --force needs --reason", file=sys.stderr)
        return 2
    return _mutate(args, "release")


def cmd_delete(args: argparse.Namespace) -> int:
    return _mutate(args, "delete")
