"""PostgreSQL: the opt-out registry, shared by every instance."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.store import sql
from gateway.store.postgres.core import PostgresCore
from gateway.store.records import AliasRecord, AliasStatus
from gateway.store.sql import POSTGRES as D


class PostgresRegistry(PostgresCore):
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
        rows = await self._fetchall("SELECT alias, status FROM aliases WHERE tenant = %s AND alias = ANY(%s)",
                                    (tenant, wanted))
        return {str(a): s for a, s in rows}

    async def record_alias(self, alias: str, status: AliasStatus, *, marketplace: str | None,
                           order_id: str | None, evidence: str, source: str,
                           tenant: str = "") -> AliasRecord:
        row = await self._fetchone(f"{sql.upsert_alias(D)} RETURNING {sql.ALIAS_COLUMNS}",
                                   (tenant, alias.lower(), status, marketplace, order_id, evidence, source))
        assert row is not None
        return sql.alias_record(row)

    async def get_alias(self, alias: str, tenant: str = "") -> AliasRecord | None:
        row = await self._fetchone(f"SELECT {sql.ALIAS_COLUMNS} FROM aliases WHERE tenant = %s AND alias = %s",
                                   (tenant, alias.lower()))
        return sql.alias_record(row) if row else None

    async def remove_alias(self, alias: str, tenant: str = "") -> bool:
        row = await self._fetchone("DELETE FROM aliases WHERE tenant = %s AND alias = %s RETURNING 1",
                                   (tenant, alias.lower()))
        return row is not None

    async def list_aliases(self, status: AliasStatus | None = None, search: str | None = None,
                           tenant: str | None = None) -> list[AliasRecord]:
        """Registry entries, most recently seen first; ``tenant`` None lists every tenant's."""
        # As SQLite's LIKE: case-insensitive, and no escape character.
        like = "(alias ILIKE {p} ESCAPE '' OR order_id ILIKE {p} ESCAPE '')"
        statement, args = sql.select(
            D, f"SELECT {sql.ALIAS_COLUMNS} FROM aliases",
            [("tenant", tenant), ("status", status or None),
             (like, (f"%{search.lower()}%", f"%{search}%") if search else None)],
            order="last_seen DESC")
        return [sql.alias_record(row) for row in await self._fetchall(statement, args)]

    async def put_alias_record(self, record: AliasRecord) -> AliasRecord:
        """Merge a whole record (an import) into ``record.tenant``'s registry (see ``sql.merge_alias``)."""
        row = await self._fetchone(
            f"{sql.merge_alias(D)} RETURNING {sql.ALIAS_COLUMNS}",
            (record.tenant, record.alias.lower(), record.status, record.marketplace, record.order_id,
             record.first_seen, record.last_seen, record.evidence, record.source))
        assert row is not None
        return sql.alias_record(row)
