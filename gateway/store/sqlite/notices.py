"""SQLite: bounce notices as recorded, and their raw bytes (evidence files in the state folder)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.fsutil import write_durably
from gateway.store import sql
from gateway.store.records import EVIDENCE_DIR, AliasStatus, AliasUpdate, NoticeRow, RecordedBounce, evidence_reference
from gateway.store.shared import SharedNotices
from gateway.store.sql import SQLITE as D
from gateway.store.sqlite.core import SQLiteCore, as_store_error


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class SQLiteNotices(SharedNotices, SQLiteCore):
    def _store_evidence(self, raw: bytes) -> tuple[str, str]:
        digest = hashlib.sha256(raw).hexdigest()
        path = self.evidence_dir / f"{digest}.eml"
        if not path.exists():
            write_durably(path, raw)
        return evidence_reference(digest), digest

    async def store_evidence(self, raw: bytes) -> tuple[str, str]:
        """Keep the raw bytes of a notice durably (0600); return (reference, sha256).

        The reference is the path relative to the state directory, so a moved state directory keeps
        its references. Content-addressed: the same notice stored twice is one file.
        """
        with as_store_error():
            return await asyncio.to_thread(self._store_evidence, raw)

    def evidence_path(self, reference: str) -> Path | None:
        """The file behind an evidence reference, or None when it is not a stored notice."""
        if not reference.startswith(f"{EVIDENCE_DIR}/"):
            return None
        name = reference[len(EVIDENCE_DIR) + 1:]
        if "/" in name or name.startswith("."):
            return None
        return self.evidence_dir / name

    async def read_evidence(self, reference: str) -> bytes | None:
        path = self.evidence_path(reference)
        if path is None:
            return None
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def record_notice(self, kind: str, order_id: str | None, marketplace: str | None,
                            alias: str | None, matched_by: str | None, source: str,
                            report: dict[str, Any], tenant: str = "") -> int:
        args = (tenant, kind, order_id, marketplace, alias, matched_by, source, _text(report), 0, None, None)
        row = await self._write(lambda c: c.execute(sql.insert_notice(D), args).fetchone())
        return int(row[0])

    async def record_bounce(self, notice: NoticeRow,
                            alias_updates: Sequence[AliasUpdate] = ()) -> RecordedBounce | None:
        """Record a notice and the alias statuses it establishes (in ``notice.tenant``'s registry),
        in one transaction.

        Returns None when a notice with the same bytes was recorded before (a re-imported file or a
        mailbox message seen twice): the first recording stands.
        """
        tenant = notice.tenant
        updates = tuple(alias_updates)

        def write(conn: sqlite3.Connection) -> RecordedBounce | None:
            row = conn.execute(sql.insert_notice(D), (
                tenant, notice.kind, notice.order_id, notice.marketplace,
                notice.alias.lower() if notice.alias else None, notice.matched_by, notice.source,
                _text(notice.report), int(notice.resolved), notice.evidence, notice.sha256)).fetchone()
            if row is None:
                return None
            previous: dict[str, AliasStatus | None] = {}
            for update in updates:
                alias = update.alias.lower()
                before = conn.execute(sql.alias_status(D), (tenant, alias)).fetchone()
                previous[alias] = before[0] if before else None
                conn.execute(sql.upsert_alias(D), (tenant, alias, update.status, update.marketplace, update.order_id,
                                                   notice.evidence or "", notice.source))
            return RecordedBounce(notice_id=int(row[0]), previous_status=previous)

        return await self._write(write)
