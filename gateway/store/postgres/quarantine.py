"""PostgreSQL: messages held for review (their bytes in the database, so any instance can release
them) and their exactly-once release."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from gateway.store import sql
from gateway.store.postgres.core import PostgresCore, _json
from gateway.store.records import QuarantineRecord
from gateway.store.sql import POSTGRES as D


def _record(row: Sequence[Any]) -> QuarantineRecord:
    return sql.quarantine_record(row, lambda value: value)


class PostgresQuarantine(PostgresCore):
    async def quarantine(self, data: bytes, *, peer: str, mail_from: str, rcpt_tos: Sequence[str],
                         message_id: str, subject: str, marketplace: str | None,
                         verdict: dict[str, Any], tenant: str = "") -> str:
        qid = "Q" + uuid.uuid4().hex[:16].upper()
        async with self._connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO quarantine (id, tenant, held_at, peer, mail_from, rcpt_tos, message_id, subject,"
                f" marketplace, verdict, size) VALUES (%s, %s, {D.now}, %s, %s, %s, %s, %s, %s, %s, %s)",
                (qid, tenant, peer, mail_from, list(rcpt_tos), message_id, subject, marketplace,
                 _json(verdict), len(data)))
            await conn.execute("INSERT INTO quarantine_messages (id, data) VALUES (%s, %s)", (qid, data))
        return qid

    async def list_quarantine(self, status: str | None = "held",
                              tenant: str | None = None) -> list[QuarantineRecord]:
        statement, args = sql.select(D, f"SELECT {sql.QUARANTINE_COLUMNS} FROM quarantine",
                                     [("status", status or None), ("tenant", tenant)], order="held_at DESC")
        return [_record(r) for r in await self._fetchall(statement, args)]

    async def get_quarantine(self, qid: str) -> QuarantineRecord | None:
        row = await self._fetchone(f"SELECT {sql.QUARANTINE_COLUMNS} FROM quarantine WHERE id = %s", (qid,))
        return _record(row) if row else None

    async def quarantined_bytes(self, qid: str) -> bytes | None:
        row = await self._fetchone("SELECT data FROM quarantine_messages WHERE id = %s", (qid,))
        return bytes(row[0]) if row else None

    async def drop_quarantined_bytes(self, qid: str) -> None:
        await self._execute("DELETE FROM quarantine_messages WHERE id = %s", (qid,))

    async def _transition(self, qid: str, old: str, new: str, actor: str, action: str, reason: str,
                          instance: str = "") -> bool:
        """Of two instances moving one message at once, the second's UPDATE waits for the first to
        commit, then finds the row no longer in ``old`` and changes nothing."""
        async with self._connection() as conn, conn.transaction():
            # claimed_at from this instance's clock: unspooled_releases compares it with the same.
            cur = await conn.execute(sql.transition_quarantine(D), (new, instance, time.time(), qid, old))
            if await cur.fetchone() is None:
                return False
            await conn.execute(sql.insert_audit(D), (actor, action, qid, reason))
            return True

    async def claim_quarantine(self, qid: str, new_status: str, actor: str, reason: str,
                               instance: str = "") -> bool:
        """Move a held message to ``released``/``deleted`` exactly once, with its audit record."""
        return await self._transition(qid, "held", new_status, actor, new_status, reason, instance)

    async def unclaim_quarantine(self, qid: str, actor: str, reason: str) -> bool:
        """Undo a release whose spooling failed: back to ``held``, with its own audit record."""
        return await self._transition(qid, "released", "held", actor, "release-failed", reason)

    async def mark_release_spooled(self, qid: str, queue_id: str) -> None:
        await self._execute("UPDATE quarantine SET queue_id = %s WHERE id = %s", (queue_id, qid))

    async def unspooled_releases(self, instance: str, claimed_before: float) -> list[QuarantineRecord]:
        return [_record(r) for r in await self._fetchall(sql.unspooled_releases(D), (instance, claimed_before))]
