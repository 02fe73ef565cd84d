"""`gateway report [--since ...]`: what the gateway decided, by action, rule and marketplace."""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime
from typing import Any

from gateway.cli.common import add_state_options, emit_json, fmt_time, load_state, with_store
from gateway.learning import disagreement_report
from gateway.store.base import Store

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(value: str, now: float | None = None) -> float:
    """``7d``, ``12h``, ``30m``, an ISO date or date-time (UTC when no zone is given)."""
    now = time.time() if now is None else now
    match = _RELATIVE.match(value.strip().lower())
    if match:
        return now - int(match.group(1)) * _UNITS[match.group(2)]
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration (7d, 12h) or ISO date: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "report", help="counts by action, rule and marketplace; senders with most violations; disagreements",
        description="Summarise the gateway's decisions on messages to marketplace buyers.")
    add_state_options(parser)
    parser.add_argument("--since", type=parse_since, default=None,
                        help="7d, 24h, 2026-11-01 or an ISO date-time (default: 7d)")
    parser.add_argument("--top", type=int, default=10, help="how many senders to list")
    parser.add_argument("--tenant", help="only this tenant's decisions (default: all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_state(args)  # opening the database may create its -wal/-shm files
    if config is None:
        return 2
    since = args.since if args.since is not None else time.time() - 7 * 86400
    async def both(store: Store) -> dict[str, Any]:
        out = await store.report(since, top=args.top, tenant=args.tenant)
        return {**out, "disagreements": await disagreement_report(store, since, args.tenant)}

    report = with_store(config, both)
    if report is None:
        return 2
    if args.json:
        emit_json(report)
        return 0
    scope = f" for tenant {args.tenant}" if args.tenant is not None else ""
    print(f"Decisions{scope} since {fmt_time(since)}: {report['total']}")
    for title, key in (("By action", "by_action"), ("By rule", "by_rule"), ("By marketplace", "by_marketplace")):
        print(f"\n{title}:")
        if not report[key]:
            print("  (none)")
        for name, count in report[key].items():
            print(f"  {count:>7}  {name}")
    print("\nTop senders with violations:")
    if not report["top_senders"]:
        print("  (none)")
    for s in report["top_senders"]:
        print(f"  {s['messages']:>7} messages, {s['hits']:>4} hits  {s['mail_from']}")
    print_disagreements(report["disagreements"])
    return 0


def print_disagreements(section: dict[str, Any]) -> None:
    """The disagreements part of the text report: where the gateway relayed and Amazon refused."""
    print(f"\nDisagreements with Amazon (relayed, then refused by Amazon): {section['total']}")
    for title, key in (("By rule pack of the rules that hit", "by_pack"), ("By tenant", "by_tenant")):
        if section[key]:
            print(f"  {title}:")
            for name, count in section[key].items():
                print(f"  {count:>7}  {name or '(default tenant)'}")
    print(f"  Templates held for review: {section['held_templates']}")
    for r in section["restricted_tenants"]:
        print(f"  RESTRICTED: tenant {r['tenant'] or '(default)'} since {fmt_time(r['since'])}: {r['reason']}")
    for d in section["latest"]:
        relayed = d["relayed"] or {}
        hits = ", ".join(f"{h['rule']} ({h['action']})" for h in relayed.get("hits", [])) or "no rule hit"
        print(f"\n  #{d['id']} {fmt_time(d['notice_date'])} tenant {d['tenant'] or '(default)'} {d['alias']}"
              f" order {d['order_id'] or '-'} (matched by {d['matched_by']})")
        print(f"     gateway: {relayed.get('action') or '?'} {relayed.get('queue_id') or ''}"
              f" \"{relayed.get('subject', '')}\"; {hits}")
        print(f"     Amazon:  {d['reason']}")
        fixed = f" by {d['fixed_by']}: {d['fixed_reason']}" if d["fixed_by"] else ""
        print(f"     template: {d['template']}{fixed}")
