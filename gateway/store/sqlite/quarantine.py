"""SQLite: messages held for review (bytes in ``<state>/quarantine``, 0600) and their
exactly-once release."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.fsutil import write_durably
from gateway.store import sql
from gateway.store.records import QuarantineRecord
from gateway.store.search import search_keys
from gateway.store.shared import SharedQuarantine
from gateway.store.sql import SQLITE as D
from gateway.store.sqlite.core import SQLiteCore, as_store_error
from gateway.store.sqlite_review import index_quarantined

_COLUMNS = f"{sql.QUARANTINE_COLUMNS}, path"


class SQLiteQuarantine(SharedQuarantine, SQLiteCore):
    _quarantine_columns = _COLUMNS

    def _quarantine_record(self, row: Sequence[Any]) -> QuarantineRecord:
        return sql.quarantine_record(row, json.loads, Path(row[12]))

    async def quarantine(self, data: bytes, *, peer: str, mail_from: str, rcpt_tos: Sequence[str],
                         message_id: str, subject: str, marketplace: str | None,
                         verdict: dict[str, Any], tenant: str = "") -> str:
        qid = "Q" + uuid.uuid4().hex[:16].upper()
        path = self.quarantine_dir / f"{qid}.eml"
        with as_store_error():
            # The bytes are durable before the row that points at them is committed.
            await asyncio.to_thread(write_durably, path, data)
        keys = await asyncio.to_thread(search_keys, data, mail_from, rcpt_tos, verdict, subject)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO quarantine (id, tenant, held_at, peer, mail_from, rcpt_tos, message_id, subject,"
                f" marketplace, verdict, size, path) VALUES (?, ?, {D.now}, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (qid, tenant, peer, mail_from, json.dumps(list(rcpt_tos)), message_id, subject, marketplace,
                 json.dumps(verdict, ensure_ascii=False), len(data), str(path)))
            held_at = conn.execute("SELECT held_at FROM quarantine WHERE id = ?", (qid,)).fetchone()[0]
            index_quarantined(conn, qid, held_at, keys, subject)  # the admin's search rows

        await self._write(write)
        return qid

    async def quarantined_bytes(self, qid: str) -> bytes | None:
        record = await self.get_quarantine(qid)
        if record is None or record.path is None:
            return None
        try:
            return await asyncio.to_thread(record.path.read_bytes)
        except FileNotFoundError:
            return None

    async def drop_quarantined_bytes(self, qid: str) -> None:
        record = await self.get_quarantine(qid)
        if record is not None and record.path is not None:
            await asyncio.to_thread(record.path.unlink, True)

    async def _transition(self, qid: str, old: str, new: str, actor: str, action: str, reason: str,
                          instance: str = "") -> bool:
        """``old -> new`` exactly once, with its audit record, in one transaction."""
        def write(conn: sqlite3.Connection) -> bool:
            moved = conn.execute(sql.transition_quarantine(D), (new, instance, time.time(), qid, old)).fetchone()
            if moved is None:
                return False
            conn.execute(sql.insert_audit(D), (actor, action, qid, reason))
            return True

        return await self._write(write)
