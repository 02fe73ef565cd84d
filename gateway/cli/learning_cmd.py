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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gateway.cli.common import actor, add_state_options, emit_json, fmt_time, load_state, with_store
from gateway.cli.report import parse_since, print_disagreements
from gateway.config import GatewayConfig
from gateway.learning import clear_restriction, disagreement_report, fix_template
from gateway.store.base import Disagreement, Store, TenantRestriction

T = TypeVar("T")


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


@dataclass(frozen=True)
class _Command(Generic[T]):
    """One sub-command: what it does with the store, and how it shows the result."""

    work: Callable[[argparse.Namespace, Store, GatewayConfig, str], Awaitable[T | None]]
    """The result, or None for ``missing`` (the store's own failure is None too, said by with_store)."""
    as_json: Callable[[argparse.Namespace, T], Any]
    show: Callable[[argparse.Namespace, T], None]
    changes: bool = False
    """It changes the state: logs at the configured level, and its actor is audited."""
    missing: str | None = None
    """What a None result means (exit code 1); without it, None is exit code 2."""

    def __call__(self, args: argparse.Namespace) -> int:
        config = load_state(args, quiet=not self.changes)
        if config is None:
            return 2
        who = actor(args.actor) if self.changes else ""
        found = with_store(config, lambda store: self.work(args, store, config, who))
        if found is None:
            if self.missing is None:
                return 2
            print(f"gateway: {self.missing.format(args=args)}", file=sys.stderr)
            return 1
        if args.json:
            emit_json(self.as_json(args, found))
        else:
            self.show(args, found)
        return 0


async def _list(args: argparse.Namespace, store: Store, config: GatewayConfig, who: str) -> dict[str, Any]:
    return await disagreement_report(store, args.since or 0.0, args.tenant, args.limit)


cmd_list = _Command(_list, lambda args, section: section, lambda args, section: print_disagreements(section))


def _show(args: argparse.Namespace, d: Disagreement) -> None:
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


async def _disagreement(args: argparse.Namespace, store: Store, config: GatewayConfig, who: str) -> Disagreement | None:
    return await store.disagreement(args.id)


cmd_show = _Command(_disagreement, lambda args, d: d.as_json(), _show, missing="no disagreement #{args.id}")


async def _fix(args: argparse.Namespace, store: Store, config: GatewayConfig, who: str) -> list[int] | None:
    try:
        return await fix_template(store, args.id, who, args.reason, config.learning.template_similarity)
    except KeyError:
        return None


def _show_fixed(args: argparse.Namespace, fixed: list[int]) -> None:
    if fixed:
        print("template fixed: no longer held (disagreements " + ", ".join(f"#{i}" for i in fixed) + ")")
    else:
        print(f"disagreement #{args.id}: its template was not held")


cmd_fix = _Command(_fix, lambda args, fixed: {"fixed": fixed}, _show_fixed, changes=True,
                   missing="no disagreement #{args.id}")


async def _restrictions(args: argparse.Namespace, store: Store, config: GatewayConfig,
                        who: str) -> list[TenantRestriction]:
    found = await store.restrictions(args.tenant)
    found.sort(key=lambda r: not r.active)
    return found


def _show_restrictions(args: argparse.Namespace, found: list[TenantRestriction]) -> None:
    if not found:
        print("no restrictions recorded")
    for r in found:
        state = "ACTIVE" if r.active else f"cleared {fmt_time(r.cleared_at or 0.0)} by {r.cleared_by}: {r.clear_reason}"
        print(f"#{r.id} tenant {r.tenant or '(default)'} since {fmt_time(r.since)} ({state})\n    {r.reason}")


cmd_restrictions = _Command(_restrictions, lambda args, found: [r.as_json() for r in found], _show_restrictions)


async def _add(args: argparse.Namespace, store: Store, config: GatewayConfig, who: str) -> TenantRestriction:
    restriction = await store.restrict_tenant(TenantRestriction(
        tenant=args.tenant, since=args.since if args.since is not None else time.time(), reason=args.reason))
    await store.audit(who, "restriction-added", f"tenant:{args.tenant}", args.reason)
    return restriction


def _show_added(args: argparse.Namespace, added: TenantRestriction) -> None:
    print(f"tenant {args.tenant or '(default)'}: restricted since {fmt_time(added.since)};"
          " its proactive mail is refused until `gateway restriction clear`")


cmd_add = _Command(_add, lambda args, added: added.as_json(), _show_added, changes=True)


async def _clear(args: argparse.Namespace, store: Store, config: GatewayConfig, who: str) -> int:
    return await clear_restriction(store, args.tenant, who, args.reason)


def _show_cleared(args: argparse.Namespace, cleared: int) -> None:
    if cleared:
        print(f"tenant {args.tenant or '(default)'}: restriction cleared; proactive mail flows again")
    else:
        print(f"tenant {args.tenant or '(default)'}: no active restriction")


cmd_clear = _Command(_clear, lambda args, cleared: {"tenant": args.tenant, "cleared": cleared}, _show_cleared,
                     changes=True)
