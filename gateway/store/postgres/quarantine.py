"""PostgreSQL: messages held for review (their bytes in the database, so any instance can release
them) and their exactly-once release."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

from gateway.store import sql
from gateway.store.postgres.core import PostgresCore, _json
from gateway.store.postgres_review import index_quarantined
from gateway.store.search import search_keys
from gateway.store.shared import SharedQuarantine
from gateway.store.sql import POSTGRES as D


class PostgresQuarantine(SharedQuarantine, PostgresCore):
    async def quarantine(self, data: bytes, *, peer: str, mail_from: str, rcpt_tos: Sequence[str],
                         message_id: str, subject: str, marketplace: str | None,
                         verdict: dict[str, Any], tenant: str = "") -> str:
        qid = "Q" + uuid.uuid4().hex[:16].upper()
        keys = await asyncio.to_thread(search_keys, data, mail_from, rcpt_tos, verdict, subject)
        async with self._connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO quarantine (id, tenant, held_at, peer, mail_from, rcpt_tos, message_id, subject,"
                f" marketplace, verdict, size) VALUES (%s, %s, {D.now}, %s, %s, %s, %s, %s, %s, %s, %s)",
                (qid, tenant, peer, mail_from, list(rcpt_tos), message_id, subject, marketplace,
                 _json(verdict), len(data)))
            await conn.execute("INSERT INTO quarantine_messages (id, data) VALUES (%s, %s)", (qid, data))
            await index_quarantined(conn, qid, D.now, keys, subject)  # the admin's search rows
        return qid

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
