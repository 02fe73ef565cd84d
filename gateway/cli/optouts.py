"""``gateway optouts``: the registry of buyer aliases that opted out or no longer exist.

    gateway optouts list [--status optout|dead] [--search TEXT] [--json]
    gateway optouts show ALIAS [--json]
    gateway optouts add ALIAS [--status optout|dead] [--order ID] [--reason TEXT]
    gateway optouts remove ALIAS [--reason TEXT]
    gateway optouts export [--format csv|json] [--output FILE]
    gateway optouts import FILE [--format csv|json]
    gateway optouts review [--json]                 notices no alias was found for
    gateway optouts assign NOTICE_ID ALIAS          match a reviewed notice to its alias

Every command takes ``--config FILE`` to find the state directory and ``--tenant ID`` to pick a
merchant's registry (default: the implicit tenant ""; ``list``, ``export`` and ``review`` show every
tenant's unless one is given). Changes made here are audited with the acting user. Times are ISO
8601 UTC in exports, so a CSV opened by an admin reads well and an export imported elsewhere keeps
first/last seen.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.bounces.ingest import assign_notice
from gateway.cli.registry_access import (
    UsageError,
    acting_user,
    alias_of,
    audit_object,
    command,
    iso,
    open_alias,
    open_registry,
    record_row,
    tenant_of,
)
from gateway.cli.registry_files import run_export, run_import
from gateway.store.base import ALIAS_STATUSES, AliasStatus


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "optouts", help="the opt-out registry: buyer aliases that opted out or are dead",
        description="Show and edit the registry of buyer aliases that opted out of unsolicited "
                    "messages or no longer exist.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=None,
                        help="gateway configuration file (finds the state directory)")
    common.add_argument("--tenant", default=None, metavar="ID",
                        help="the tenant whose registry to use (default: the implicit tenant)")
    actions = parser.add_subparsers(dest="optouts_command", metavar="ACTION", required=True)

    p = actions.add_parser("list", parents=[common], help="list registered aliases")
    p.add_argument("--status", choices=ALIAS_STATUSES)
    p.add_argument("--search", help="part of an alias or order id")
    p.add_argument("--json", action="store_true", help="one JSON array")
    p.set_defaults(func=run_list)

    p = actions.add_parser("show", parents=[common], help="one alias with its notices and evidence")
    p.add_argument("alias")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_show)

    p = actions.add_parser("add", parents=[common], help="register an alias by hand")
    p.add_argument("alias")
    p.add_argument("--status", choices=ALIAS_STATUSES, default="optout")
    p.add_argument("--order", dest="order_id", help="the order the evidence is about")
    p.add_argument("--reason", default="", help="why (kept as the evidence)")
    p.add_argument("--actor", default=None, help="who does this (default: the login name)")
    p.set_defaults(func=run_add)

    p = actions.add_parser("remove", parents=[common], help="take an alias out of the registry")
    p.add_argument("alias")
    p.add_argument("--reason", default="")
    p.add_argument("--actor", default=None)
    p.set_defaults(func=run_remove)

    p = actions.add_parser("export", parents=[common], help="write the registry as CSV or JSON")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--output", "-o", type=Path, default=None, help="file (default: standard output)")
    p.set_defaults(func=run_export)

    p = actions.add_parser("import", parents=[common], help="merge a CSV or JSON export into the registry")
    p.add_argument("file", type=Path)
    p.add_argument("--format", choices=("csv", "json"), default=None,
                   help="default: from the file name (.json, else CSV)")
    p.add_argument("--actor", default=None)
    p.set_defaults(func=run_import)

    p = actions.add_parser("review", parents=[common], help="notices that matched no alias")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_review)

    p = actions.add_parser("assign", parents=[common], help="match a notice from the review list to an alias")
    p.add_argument("notice_id", type=int)
    p.add_argument("alias")
    p.add_argument("--actor", default=None)
    p.set_defaults(func=run_assign)


# -- commands -----------------------------------------------------------------------------------------
@command
async def run_list(args: argparse.Namespace) -> int:
    async with open_registry(args) as (store, config):
        records = await store.list_aliases(status=args.status, search=args.search,
                                          tenant=tenant_of(args, config, every=True))
    if args.json:
        print(json.dumps([record_row(r) for r in records], ensure_ascii=False, indent=1))
        return 0
    if not records:
        print("no aliases registered")
        return 0
    width = max(len(r.alias) for r in records)
    tenants = any(r.tenant for r in records)
    head = f"{'TENANT':<16}  " if tenants else ""
    print(f"{head}{'ALIAS':<{width}}  STATUS  MARKETPLACE  ORDER                LAST SEEN             EVIDENCE")
    for r in records:
        lead = f"{r.tenant or '-':<16}  " if tenants else ""
        print(f"{lead}{r.alias:<{width}}  {r.status:<6}  {r.marketplace or '-':<11}  {r.order_id or '-':<19}  "
              f"{iso(r.last_seen)[:19]}Z  {r.evidence}")
    return 0


@command
async def run_show(args: argparse.Namespace) -> int:
    async with open_alias(args) as at:
        alias = at.alias
        record = await at.store.get_alias(alias, at.tenant)
        notices = await at.store.notices(alias=alias, tenant=at.tenant)
        evidence = getattr(at.store, "evidence_path", lambda _ref: None)(record.evidence) if record else None
    if args.json:
        print(json.dumps({"alias": alias, "record": record_row(record) if record else None,
                          "evidence_file": str(evidence) if evidence else None,
                          "notices": [n.as_json() for n in notices]}, ensure_ascii=False, indent=1))
        return 0 if record else 1
    if record is None:
        print(f"{alias}: not registered")
    else:
        for key, value in record_row(record).items():
            print(f"{key + ':':<13}{value if value is not None else '-'}")
        if evidence is not None:
            print(f"{'file:':<13}{evidence}")
    for n in notices:
        print(f"notice #{n.id}  {iso(n.at)[:19]}Z  {n.kind}  order {n.order_id or '-'}"
              f"  matched by {n.matched_by or '-'}  from {n.source}")
    return 0 if record else 1


@command
async def run_add(args: argparse.Namespace) -> int:
    actor = acting_user(args)
    async with open_alias(args) as at:
        status: AliasStatus = args.status
        evidence = f"manual entry by {actor}" + (f": {args.reason}" if args.reason else "")
        record = await at.store.record_alias(at.alias, status, marketplace=at.marketplace, order_id=args.order_id,
                                            evidence=evidence, source=f"admin:{actor}", tenant=at.tenant)
        await at.store.audit(actor, "optout-add", audit_object(at.alias, at.tenant),
                             f"{status} {args.reason}".strip())
    print(f"{record.alias}: {record.status}")
    return 0


@command
async def run_remove(args: argparse.Namespace) -> int:
    actor = acting_user(args)
    async with open_alias(args) as at:
        alias = at.alias
        removed = await at.store.remove_alias(alias, at.tenant)
        if removed:
            await at.store.audit(actor, "optout-remove", audit_object(alias, at.tenant), args.reason)
    if not removed:
        print(f"{alias}: not registered", file=sys.stderr)
        return 1
    print(f"{alias}: removed")
    return 0


@command
async def run_review(args: argparse.Namespace) -> int:
    async with open_registry(args) as (store, config):
        notices = await store.unmatched_notices(tenant_of(args, config, every=True))
    if args.json:
        print(json.dumps([n.as_review_json() for n in notices], ensure_ascii=False, indent=1))
        return 0
    if not notices:
        print("no notices waiting for review")
        return 0
    for n in notices:
        report = n.report
        candidates = (report.get("correlation") or {}).get("candidates") or []
        print(f"#{n.id}  {iso(n.at)[:19]}Z  {'tenant ' + n.tenant + '  ' if n.tenant else ''}{n.kind}"
              f"{' (' + report['notice'] + ')' if report.get('notice') else ''}"
              f"  order {n.order_id or '-'}  marketplace {n.marketplace or '-'}  from {n.source}")
        if report.get("subject"):
            print(f"     subject: {report['subject']}")
        if candidates:
            print(f"     candidates: {', '.join(candidates)}")
    print("assign one with: gateway optouts assign NOTICE_ID ALIAS")
    return 0


@command
async def run_assign(args: argparse.Namespace) -> int:
    actor = acting_user(args)
    async with open_registry(args) as (store, config):
        alias, _marketplace = alias_of(config, args.alias)
        try:
            status = await assign_notice(store, args.notice_id, alias, actor)
        except KeyError:
            raise UsageError(f"no notice #{args.notice_id}") from None
    print(f"notice #{args.notice_id} -> {alias}: {status or 'recorded, no status change'}")
    return 0
