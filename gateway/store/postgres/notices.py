"""PostgreSQL: bounce notices and their raw bytes (kept in the database, so any instance shows them)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from gateway.store import sql
from gateway.store.postgres.core import Connection, PostgresCore, _json
from gateway.store.records import (
    AliasStatus,
    AliasUpdate,
    NoticeRow,
    RecordedBounce,
    evidence_digest,
    evidence_reference,
)
from gateway.store.shared import SharedNotices
from gateway.store.sql import POSTGRES as D


class PostgresNotices(SharedNotices, PostgresCore):
    async def store_evidence(self, raw: bytes) -> tuple[str, str]:
        """Keep a notice's raw bytes; content-addressed, so the same notice stored twice is one row."""
        digest = hashlib.sha256(raw).hexdigest()
        async with self._connection() as conn:
            cur = await conn.execute("SELECT 1 FROM evidence WHERE sha256 = %s", (digest,))
            if await cur.fetchone() is None:
                await conn.execute(
                    f"INSERT INTO evidence (sha256, data, stored_at) VALUES (%s, %s, {D.now})"
                    " ON CONFLICT (sha256) DO NOTHING", (digest, raw))
        return evidence_reference(digest), digest

    async def read_evidence(self, reference: str) -> bytes | None:
        digest = evidence_digest(reference)
        if digest is None:
            return None
        row = await self._fetchone("SELECT data FROM evidence WHERE sha256 = %s", (digest,))
        return bytes(row[0]) if row else None

    async def record_notice(self, kind: str, order_id: str | None, marketplace: str | None,
                            alias: str | None, matched_by: str | None, source: str,
                            report: dict[str, Any], tenant: str = "") -> int:
        row = await self._fetchone(sql.insert_notice(D), (tenant, kind, order_id, marketplace, alias, matched_by,
                                                          source, _json(report), False, None, None))
        assert row is not None
        return int(row[0])

    async def record_bounce(self, notice: NoticeRow,
                            alias_updates: Sequence[AliasUpdate] = ()) -> RecordedBounce | None:
        """Record a notice and the alias statuses it establishes (in ``notice.tenant``'s registry),
        in one transaction.

        Returns None when a notice with the same bytes was recorded before: the first recording
        stands. Two instances recording the same bytes at once meet on the unique (tenant, sha256)
        index; the second waits for the first and then records nothing.
        """
        tenant = notice.tenant
        async with self._connection() as conn, conn.transaction():
            cur = await conn.execute(sql.insert_notice(D), (
                tenant, notice.kind, notice.order_id, notice.marketplace,
                notice.alias.lower() if notice.alias else None, notice.matched_by, notice.source,
                _json(notice.report), notice.resolved, notice.evidence, notice.sha256))
            row = await cur.fetchone()
            if row is None:
                return None
            previous: dict[str, AliasStatus | None] = {}
            # Sorted (stable for repeated aliases): concurrent notices lock aliases in one order.
            for update in sorted(alias_updates, key=lambda u: u.alias.lower()):
                alias = update.alias.lower()
                previous[alias] = await self._set_alias_status(conn, tenant, alias, update, notice)
            in_given_order = {u.alias.lower(): previous[u.alias.lower()] for u in alias_updates}
            return RecordedBounce(notice_id=int(row[0]), previous_status=in_given_order)

    @staticmethod
    async def _set_alias_status(conn: Connection, tenant: str, alias: str, update: AliasUpdate,
                                notice: NoticeRow) -> AliasStatus | None:
        """Upsert one alias inside the caller's transaction; return its status before, read under
        the row's lock so a concurrent writer cannot slip between the read and the write."""
        args = (tenant, alias, update.status, update.marketplace, update.order_id, notice.evidence or "",
                notice.source)
        locked = f"{sql.alias_status(D)} FOR UPDATE"
        cur = await conn.execute(locked, (tenant, alias))
        row = await cur.fetchone()
        if row is None:
            # No row to lock: insert; if another transaction inserted it meanwhile (the insert waits
            # for it), the row now exists and is read under its lock below.
            cur = await conn.execute(f"{sql.insert_alias(D)} ON CONFLICT (tenant, alias) DO NOTHING RETURNING 1", args)
            if await cur.fetchone() is not None:
                return None
            cur = await conn.execute(locked, (tenant, alias))
            row = await cur.fetchone()
        await conn.execute(sql.upsert_alias(D), args)
        status: AliasStatus | None = row[0] if row else None
        return status
