"""``gateway optouts export`` and ``import``: the registry as CSV or JSON, with ISO 8601 UTC times, so a
CSV opened by an admin reads well and an export imported elsewhere keeps first/last seen."""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from gateway.cli.registry_access import (
    UsageError,
    acting_user,
    alias_of,
    command,
    open_registry,
    record_row,
    tenant_of,
)
from gateway.config import GatewayConfig
from gateway.store.base import ALIAS_STATUSES, AliasRecord, AliasStatus

FIELDS = ("alias", "status", "marketplace", "order_id", "first_seen", "last_seen", "evidence", "source",
          "tenant")



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


@command
async def run_export(args: argparse.Namespace) -> int:
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


@command
async def run_import(args: argparse.Namespace) -> int:
    actor = acting_user(args)
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
