"""SQLite: the opt-out registry (buyer aliases that opted out or are dead, per tenant)."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.store import sql
from gateway.store.records import AliasRecord, AliasStatus
from gateway.store.sql import SQLITE as D
from gateway.store.sqlite.core import SQLiteCore


class SQLiteRegistry(SQLiteCore):
    async def alias_status(self, alias: str, tenant: str = "") -> AliasStatus | None:
        row = await self._fetchone(sql.alias_status(D), (tenant, alias.lower()))
        if row is None:
            return None
        status: AliasStatus = row[0]
        return status

    async def alias_statuses(self, aliases: Sequence[str], tenant: str = "") -> dict[str, AliasStatus]:
        wanted = sorted({a.lower() for a in aliases})
        if not wanted:
            return {}
        rows = await self._fetchall(
            f"SELECT alias, status FROM aliases WHERE tenant = ? AND alias IN ({D.marks(len(wanted))})",
            [tenant, *wanted])
        return {str(a): s for a, s in rows}

    async def record_alias(self, alias: str, status: AliasStatus, *, marketplace: str | None,
                           order_id: str | None, evidence: str, source: str,
                           tenant: str = "") -> AliasRecord:
        statement = f"{sql.upsert_alias(D)} RETURNING {sql.ALIAS_COLUMNS}"
        args = (tenant, alias.lower(), status, marketplace, order_id, evidence, source)
        return sql.alias_record(await self._write(lambda c: c.execute(statement, args).fetchone()))

    async def get_alias(self, alias: str, tenant: str = "") -> AliasRecord | None:
        row = await self._fetchone(f"SELECT {sql.ALIAS_COLUMNS} FROM aliases WHERE tenant = ? AND alias = ?",
                                   (tenant, alias.lower()))
        return sql.alias_record(row) if row else None

    async def remove_alias(self, alias: str, tenant: str = "") -> bool:
        return bool(await self._execute("DELETE FROM aliases WHERE tenant = ? AND alias = ?", (tenant, alias.lower())))

    async def list_aliases(self, status: AliasStatus | None = None, search: str | None = None,
                           tenant: str | None = None) -> list[AliasRecord]:
        """Registry entries, most recently seen first; ``tenant`` None lists every tenant's."""
        statement, args = sql.select(
            D, f"SELECT {sql.ALIAS_COLUMNS} FROM aliases",
            [("tenant", tenant), ("status", status or None),
             ("(alias LIKE {p} OR order_id LIKE {p})", (f"%{search.lower()}%", f"%{search}%") if search else None)],
            order="last_seen DESC")
        return [sql.alias_record(row) for row in await self._fetchall(statement, args)]

    async def put_alias_record(self, record: AliasRecord) -> AliasRecord:
        """Merge a whole record (an import) into ``record.tenant``'s registry (see ``sql.merge_alias``)."""
        statement = f"{sql.merge_alias(D)} RETURNING {sql.ALIAS_COLUMNS}"
        args = (record.tenant, record.alias.lower(), record.status, record.marketplace, record.order_id,
                record.first_seen, record.last_seen, record.evidence, record.source)
        return sql.alias_record(await self._write(lambda c: c.execute(statement, args).fetchone()))

    # For the policy engine's worker threads (StorePolicyState): their own read-only connection.
    def _alias_status_now(self, alias: str, tenant: str) -> AliasStatus | None:
        row = self._reader().execute(sql.alias_status(D), (tenant, alias.lower())).fetchone()
        return None if row is None else row[0]

    def _order_counter_now(self, order_id: str, counter: str, tenant: str) -> int:
        row = self._reader().execute(sql.order_counter(D), (tenant, order_id, counter)).fetchone()
        return int(row[0]) if row else 0


