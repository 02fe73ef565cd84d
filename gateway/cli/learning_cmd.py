"""`gateway disagreements list|show|fix` and `gateway restriction list|clear`: what Amazon's
verdicts taught (gateway/learning.py), from the shell.

A disagreement is a message the gateway relayed and Amazon refused for a policy reason; ``fix``
marks its template fixed, so further messages of it relay again. A restriction is Amazon's notice
that the account may no longer send proactive messages; ``clear`` ends it once Amazon lifted it.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from gateway.cli.common import actor, add_state_options, emit_json, fmt_time, load, owner_mismatch, with_store
from gateway.cli.report import parse_since, print_disagreements
from gateway.config import GatewayConfig
from gateway.learning import clear_restriction, disagreement_report, fix_template
from gateway.store.base import Disagreement, Store, TenantRestriction


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "disagreements", help="messages the gateway relayed and Amazon refused; mark a template fixed",
        description="Where the gateway's judgement differed from Amazon's.")
    dsub = parser.add_subparsers(dest="disagreements_command", metavar="ACTION", required=True)
    p = dsub.add_parser("list", help="the latest disagreements with counts per rule pack and tenant")
    add_state_options(p)
    p.add_argument("--since", type=parse_since, default=None, help="7d, 24h or an ISO date (default: all)")
    p.add_argument("--tenant", help="only this tenant's")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_list)
    p = dsub.add_parser("show", help="one disagreement: the relayed message's verdict and hits beside Amazon's reason")
    add_state_options(p)
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_show)
    p = dsub.add_parser("fix", help="mark the template fixed: its messages are no longer held")
    add_state_options(p)
    p.add_argument("id", type=int)
    p.add_argument("--reason", required=True, help="what was changed (recorded in the audit log)")
    p.add_argument("--actor", help="who, for the audit log (default cli:<login user>)")
    p.set_defaults(func=cmd_fix)

    parser = sub.add_parser(
        "restriction", help="tenants whose proactive messaging Amazon restricted; clear a restriction",
        description="While Amazon restricts a tenant, the gateway refuses its proactive mail (replies pass).")
    rsub = parser.add_subparsers(dest="restriction_command", metavar="ACTION", required=True)
    p = rsub.add_parser("list", help="restrictions, active ones first")
    add_state_options(p)
    p.add_argument("--tenant")
    p.set_defaults(func=cmd_restrictions)
    p = rsub.add_parser("add", help="record a restriction by hand (a notice that did not come from an Amazon address)")
    add_state_options(p)
    p.add_argument("--tenant", default="", help="the tenant id (default: the implicit tenant)")
    p.add_argument("--since", type=parse_since, default=None, help="when Amazon restricted it (default: now)")
    p.add_argument("--reason", required=True, help="what Amazon said (shown in the SMTP refusal's evidence)")
    p.add_argument("--actor", help="who, for the audit log (default cli:<login user>)")
    p.set_defaults(func=cmd_add)
    p = rsub.add_parser("clear", help="Amazon lifted the restriction: proactive mail flows again")
    add_state_options(p)
    p.add_argument("--tenant", default="", help="the tenant id (default: the implicit tenant)")
    p.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    p.add_argument("--actor", help="who, for the audit log (default cli:<login user>)")
    p.set_defaults(func=cmd_clear)


def _config(args: argparse.Namespace, *, quiet: bool = True) -> GatewayConfig | None:
    config = load(args, quiet=quiet)
    if config is None:
        return None
    if config.state.database is None:
        if not (config.state_dir / "gateway.db").exists():
            print(f"gateway: no state at {config.state_dir}", file=sys.stderr)
            return None
        problem = owner_mismatch(config.state_dir)
        if problem is not None:
            print(f"gateway: {problem}", file=sys.stderr)
            return None
    return config


def cmd_list(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2
    section = with_store(config, lambda store: disagreement_report(store, args.since or 0.0, args.tenant, args.limit))
    if section is None:
        return 2
    if args.json:
        emit_json(section)
    else:
        print_disagreements(section)
    return 0


def _show(d: Disagreement) -> None:
    print(f"Disagreement #{d.id}  tenant {d.tenant or '(default)'}  recorded {fmt_time(d.at)}")
    print(f"  buyer alias:   {d.alias}   marketplace: {d.marketplace or '-'}   order: {d.order_id or '-'}")
    print(f"  Amazon ({fmt_time(d.notice_date)}, notice #{d.notice_id}): {d.reason}")
    relayed = d.relayed
    if relayed is None:
        print("  gateway: relayed (recorded before relayed messages were kept: no verdict on file)")
    else:
        print(f"  gateway: {relayed.action} as {relayed.queue_id} at {fmt_time(relayed.sent_at)}"
              f" (matched by {d.matched_by})")
        print(f"    subject:    {relayed.subject}")
        print(f"    message-id: {relayed.message_id}")
        if not relayed.hits:
            print("    hits:       none")
        for h in relayed.hits:
            print(f"    hit:        {h.rule} [{h.pack}] {h.action}: {h.reason}"
                  + (f" ({h.evidence})" if h.evidence else ""))
        print("    packs:      " + (", ".join(f"{p} {v}" for p, v in relayed.packs) or "-"))
    fixed = f" by {d.fixed_by} at {fmt_time(d.fixed_at)}: {d.fixed_reason}" if d.fixed_at is not None else ""
    print(f"  template: {d.template}{fixed}")


def cmd_show(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2

    async def read(store: Store) -> Disagreement | None:
        return await store.disagreement(args.id)

    found = with_store(config, read)
    if found is None:
        print(f"gateway: no disagreement #{args.id}", file=sys.stderr)
        return 1
    if args.json:
        emit_json(found.as_json())
    else:
        _show(found)
    return 0


def cmd_fix(args: argparse.Namespace) -> int:
    config = _config(args, quiet=False)
    if config is None:
        return 2
    who = actor(args.actor)

    async def fix(store: Store) -> list[int] | None:
        try:
            return await fix_template(store, args.id, who, args.reason, config.learning.template_similarity)
        except KeyError:
            return None

    fixed = with_store(config, fix)
    if fixed is None:
        print(f"gateway: no disagreement #{args.id}", file=sys.stderr)
        return 1
    if args.json:
        emit_json({"fixed": fixed})
    elif fixed:
        print("template fixed: no longer held (disagreements " + ", ".join(f"#{i}" for i in fixed) + ")")
    else:
        print(f"disagreement #{args.id}: its template was not held")
    return 0


def cmd_restrictions(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2
    found = with_store(config, lambda store: store.restrictions(args.tenant))
    if found is None:
        return 2
    found.sort(key=lambda r: not r.active)
    if args.json:
        emit_json([r.as_json() for r in found])
        return 0
    if not found:
        print("no restrictions recorded")
    for r in found:
        state = "ACTIVE" if r.active else f"cleared {fmt_time(r.cleared_at or 0.0)} by {r.cleared_by}: {r.clear_reason}"
        print(f"#{r.id} tenant {r.tenant or '(default)'} since {fmt_time(r.since)} ({state})\n    {r.reason}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    config = _config(args, quiet=False)
    if config is None:
        return 2
    who = actor(args.actor)

    async def add(store: Store) -> TenantRestriction:
        restriction = await store.restrict_tenant(TenantRestriction(
            tenant=args.tenant, since=args.since if args.since is not None else time.time(), reason=args.reason))
        await store.audit(who, "restriction-added", f"tenant:{args.tenant}", args.reason)
        return restriction

    added = with_store(config, add)
    if added is None:
        return 2
    if args.json:
        emit_json(added.as_json())
    else:
        print(f"tenant {args.tenant or '(default)'}: restricted since {fmt_time(added.since)};"
              " its proactive mail is refused until `gateway restriction clear`")
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    config = _config(args, quiet=False)
    if config is None:
        return 2
    who = actor(args.actor)
    cleared = with_store(config, lambda store: clear_restriction(store, args.tenant, who, args.reason))
    if cleared is None:
        return 2
    if args.json:
        emit_json({"tenant": args.tenant, "cleared": cleared})
    elif cleared:
        print(f"tenant {args.tenant or '(default)'}: restriction cleared; proactive mail flows again")
    else:
        print(f"tenant {args.tenant or '(default)'}: no active restriction")
    return 0
