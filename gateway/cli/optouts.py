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
import asyncio
import csv
import datetime
import getpass
import io
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gateway.bounces.ingest import assign_notice
from gateway.classify import Classifier
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.store.base import ALIAS_STATUSES, AliasRecord, AliasStatus, Store, StoreError
from gateway.store.factory import open_store

FIELDS = ("alias", "status", "marketplace", "order_id", "first_seen", "last_seen", "evidence", "source",
          "tenant")


class UsageError(Exception):
    pass


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


# -- helpers ------------------------------------------------------------------------------------------
@asynccontextmanager
async def open_registry(args: argparse.Namespace) -> AsyncIterator[tuple[Store, GatewayConfig]]:
    config = load_config(args.config)
    store = await open_store(config)
    try:
        yield store, config
    finally:
        await store.close()


def tenant_of(args: argparse.Namespace, config: GatewayConfig, *, every: bool = False) -> str | None:
    """The --tenant given (checked against the config); without one, "" or, with ``every``, None
    (all tenants)."""
    tenant: str | None = args.tenant
    if tenant is None:
        return None if every else ""
    if tenant not in config.tenant_ids():
        known = ", ".join(repr(t) for t in config.tenant_ids())
        raise UsageError(f"no tenant {tenant!r} in the configuration (known: {known})")
    return tenant


def _object(alias: str, tenant: str) -> str:
    return f"{tenant}/{alias}" if tenant else alias


def _actor(args: argparse.Namespace) -> str:
    if getattr(args, "actor", None):
        return str(args.actor)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "admin"


def iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


def parse_time(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not a time: {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def record_row(record: AliasRecord) -> dict[str, Any]:
    return {"alias": record.alias, "status": record.status, "marketplace": record.marketplace,
            "order_id": record.order_id, "first_seen": iso(record.first_seen),
            "last_seen": iso(record.last_seen), "evidence": record.evidence, "source": record.source,
            "tenant": record.tenant}


def alias_of(config: GatewayConfig, address: str) -> tuple[str, str]:
    found = Classifier(config.marketplace.tlds, config.marketplace.domain_prefix).classify(address.strip())
    if found is None:
        raise UsageError(f"not a marketplace buyer alias: {address!r} "
                         f"(expected <alias>@{config.marketplace.domain_prefix}<tld>)")
    return found.alias, found.marketplace


def _fail(message: str) -> int:
    print(f"gateway optouts: {message}", file=sys.stderr)
    return 2


def _guard(fn: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            code: int = fn(args)
            return code
        except ConfigError as exc:
            return _fail(str(exc))
        except UsageError as exc:
            return _fail(str(exc))
        except StoreError as exc:
            return _fail(f"state: {exc}")
        except OSError as exc:
            return _fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}")
    return wrapped


# -- commands -----------------------------------------------------------------------------------------
@_guard
def run_list(args: argparse.Namespace) -> int:
    return asyncio.run(_list(args))


async def _list(args: argparse.Namespace) -> int:
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


@_guard
def run_show(args: argparse.Namespace) -> int:
    return asyncio.run(_show(args))


async def _show(args: argparse.Namespace) -> int:
    async with open_registry(args) as (store, config):
        tenant = tenant_of(args, config) or ""
        alias, _marketplace = alias_of(config, args.alias)
        record = await store.get_alias(alias, tenant)
        notices = await store.notices(alias=alias, tenant=tenant)
        evidence = getattr(store, "evidence_path", lambda _ref: None)(record.evidence) if record else None
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


@_guard
def run_add(args: argparse.Namespace) -> int:
    return asyncio.run(_add(args))


async def _add(args: argparse.Namespace) -> int:
    actor = _actor(args)
    async with open_registry(args) as (store, config):
        tenant = tenant_of(args, config) or ""
        alias, marketplace = alias_of(config, args.alias)
        status: AliasStatus = args.status
        evidence = f"manual entry by {actor}" + (f": {args.reason}" if args.reason else "")
        record = await store.record_alias(alias, status, marketplace=marketplace, order_id=args.order_id,
                                         evidence=evidence, source=f"admin:{actor}", tenant=tenant)
        await store.audit(actor, "optout-add", _object(alias, tenant), f"{status} {args.reason}".strip())
    print(f"{record.alias}: {record.status}")
    return 0


@_guard
def run_remove(args: argparse.Namespace) -> int:
    return asyncio.run(_remove(args))


async def _remove(args: argparse.Namespace) -> int:
    actor = _actor(args)
    async with open_registry(args) as (store, config):
        tenant = tenant_of(args, config) or ""
        alias, _marketplace = alias_of(config, args.alias)
        removed = await store.remove_alias(alias, tenant)
        if removed:
            await store.audit(actor, "optout-remove", _object(alias, tenant), args.reason)
    if not removed:
        print(f"{alias}: not registered", file=sys.stderr)
        return 1
    print(f"{alias}: removed")
    return 0


def export_text(records: list[AliasRecord], fmt: str) -> str:
    rows = [record_row(r) for r in records]
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


@_guard
def run_export(args: argparse.Namespace) -> int:
    return asyncio.run(_export(args))


async def _export(args: argparse.Namespace) -> int:
    async with open_registry(args) as (store, config):
        records = sorted(await store.list_aliases(tenant=tenant_of(args, config, every=True)),
                         key=lambda r: (r.tenant, r.alias))
    text = export_text(records, args.format)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"{len(records)} aliases written to {args.output}", file=sys.stderr)
    return 0


def read_rows(path: Path, fmt: str | None) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8-sig")
    if (fmt or ("json" if path.suffix.lower() == ".json" else "csv")) == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise UsageError(f"{path}: expected a JSON array of objects")
        return list(data)
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "alias" not in reader.fieldnames:
        raise UsageError(f"{path}: the CSV needs a header row with at least an 'alias' column")
    return list(reader)


def row_record(row: dict[str, Any], config: GatewayConfig, now: float, default_source: str,
               default_tenant: str) -> AliasRecord:
    alias, marketplace = alias_of(config, str(row.get("alias") or ""))
    tenant = str(row.get("tenant") or "").strip() or default_tenant
    if tenant not in config.tenant_ids():
        raise UsageError(f"{alias}: no tenant {tenant!r} in the configuration")
    text = str(row.get("status") or "optout").strip().lower()
    statuses = {s: s for s in ALIAS_STATUSES}
    if text not in statuses:
        raise UsageError(f"{alias}: status must be optout or dead, not {text!r}")
    status: AliasStatus = statuses[text]
    last_seen = parse_time(row.get("last_seen"), now)
    first_seen = parse_time(row.get("first_seen"), last_seen)
    order_id = str(row.get("order_id") or "").strip() or None
    return AliasRecord(alias=alias, status=status,
                       marketplace=str(row.get("marketplace") or "").strip() or marketplace,
                       order_id=order_id, first_seen=min(first_seen, last_seen), last_seen=last_seen,
                       evidence=str(row.get("evidence") or "").strip() or default_source,
                       source=str(row.get("source") or "").strip() or default_source, tenant=tenant)


@_guard
def run_import(args: argparse.Namespace) -> int:
    return asyncio.run(_import(args))


async def _import(args: argparse.Namespace) -> int:
    actor = _actor(args)
    rows = read_rows(args.file, args.format)
    async with open_registry(args) as (store, config):
        default_tenant = tenant_of(args, config) or ""
        now = time.time()
        source = f"import:{args.file.name}"
        problems: list[str] = []
        records: list[AliasRecord] = []
        for number, row in enumerate(rows, start=1):
            try:
                records.append(row_record(row, config, now, source, default_tenant))
            except UsageError as exc:
                problems.append(f"entry {number}: {exc}")
        if problems:
            # All or nothing: a half-imported file is harder to reason about than a refused one.
            for line in problems:
                print(f"gateway optouts import: {line}", file=sys.stderr)
            print(f"gateway optouts import: nothing imported ({len(problems)} bad entries)", file=sys.stderr)
            return 2
        for record in records:
            await store.put_alias_record(record)
        await store.audit(actor, "optout-import", str(args.file), f"{len(records)} aliases")
    print(f"{len(records)} aliases imported from {args.file}")
    return 0


@_guard
def run_review(args: argparse.Namespace) -> int:
    return asyncio.run(_review(args))


async def _review(args: argparse.Namespace) -> int:
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


@_guard
def run_assign(args: argparse.Namespace) -> int:
    return asyncio.run(_assign(args))


async def _assign(args: argparse.Namespace) -> int:
    actor = _actor(args)
    async with open_registry(args) as (store, config):
        alias, _marketplace = alias_of(config, args.alias)
        try:
            status = await assign_notice(store, args.notice_id, alias, actor)
        except KeyError:
            raise UsageError(f"no notice #{args.notice_id}") from None
    print(f"notice #{args.notice_id} -> {alias}: {status or 'recorded, no status change'}")
    return 0
