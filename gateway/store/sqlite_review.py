"""The SQLite backend's quarantine search and audit queries (see ``gateway.store.search``).

Reads run on their own small thread pool through WAL reader connections, never on the store's
writer thread: a slow admin query must not hold up the SMTP sessions' group commits.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.store import search, sql
from gateway.store.base import daily_from_rows
from gateway.store.records import AuditEntry, QuarantineRecord

T = TypeVar("T")

REVIEW_INDEX_VERSION = "2"
"""Bumped when the search rows change shape: the next open rebuilds them."""

REVIEW_SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine_keys (
    key TEXT NOT NULL,
    held_at REAL NOT NULL,
    qid TEXT NOT NULL,
    PRIMARY KEY (key, held_at, qid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS quarantine_keys_qid ON quarantine_keys(qid);
CREATE VIRTUAL TABLE IF NOT EXISTS quarantine_subjects
    USING fts5(qid UNINDEXED, subject, tokenize = 'unicode61 remove_diacritics 2');
CREATE INDEX IF NOT EXISTS quarantine_status_held ON quarantine(status, held_at, id);
CREATE INDEX IF NOT EXISTS quarantine_tenant_status_held ON quarantine(tenant, status, held_at, id);
CREATE INDEX IF NOT EXISTS quarantine_held ON quarantine(held_at, id);
CREATE INDEX IF NOT EXISTS audit_object ON audit(object, id);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE INDEX IF NOT EXISTS quarantine_message_id ON quarantine(message_id);
CREATE INDEX IF NOT EXISTS decisions_ref ON decisions(ref);
CREATE INDEX IF NOT EXISTS decisions_message_id ON decisions(message_id);
CREATE INDEX IF NOT EXISTS relays_queue_id ON relays(queue_id);
"""


def index_quarantined(conn: sqlite3.Connection, qid: str, held_at: float, keys: Sequence[str],
                      subject: str) -> None:
    """The search rows of one held message, in the caller's transaction."""
    conn.executemany("INSERT OR IGNORE INTO quarantine_keys(key, held_at, qid) VALUES (?, ?, ?)",
                     [(key, held_at, qid) for key in keys])
    # The text index shares the quarantine row's rowid: a search joins on an integer key.
    conn.execute("INSERT INTO quarantine_subjects(rowid, qid, subject)"
                 " SELECT rowid, id, ? FROM quarantine WHERE id = ?", (search.decode_subject(subject), qid))


def build_review_index(conn: sqlite3.Connection) -> None:
    """Create the search tables and fill them for messages held before they existed (from the
    stored fields; order ids only from the subject). Runs once per state directory, at open."""
    conn.executescript(REVIEW_SCHEMA)
    row = conn.execute("SELECT value FROM meta WHERE key = 'review_index'").fetchone()
    if row is not None and row[0] == REVIEW_INDEX_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM quarantine_keys")
        conn.execute("DELETE FROM quarantine_subjects")
        rows = conn.execute("SELECT id, held_at, mail_from, rcpt_tos, verdict, subject FROM quarantine").fetchall()
        for qid, held_at, mail_from, rcpt_tos, verdict, subject in rows:
            keys = search.search_keys(None, mail_from, json.loads(rcpt_tos), json.loads(verdict), subject)
            index_quarantined(conn, qid, held_at, keys, subject)
        conn.execute("INSERT INTO meta(key, value) VALUES ('review_index', ?)"
                     " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (REVIEW_INDEX_VERSION,))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SQLiteReviewQueries:
    """Mixed into ``SQLiteStore``: what the admin pages and API ask of the quarantine and audit."""

    _review_pool: ThreadPoolExecutor | None = None

    if TYPE_CHECKING:  # provided by SQLiteCore and SQLiteQuarantine
        _quarantine_columns: str

        def _reader(self) -> sqlite3.Connection: ...

        def _quarantine_record(self, row: Sequence[Any]) -> QuarantineRecord: ...

    async def _review_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._review_pool is None:
            self._review_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store-review")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._review_pool, lambda: fn(self._reader()))

    def _close_review(self) -> None:
        if self._review_pool is not None:
            self._review_pool.shutdown(wait=True)
            self._review_pool = None

    # -- quarantine ---------------------------------------------------------------------------------
    def _quarantine_page_sync(self, conn: sqlite3.Connection, query: search.QuarantineQuery) -> list[QuarantineRecord]:
        sql = search.quarantine_sql(query, "sqlite")
        cols = ", ".join(f"q.{c.strip()}" for c in self._quarantine_columns.split(","))
        rows = conn.execute(f"SELECT {cols} FROM {sql.source} WHERE {sql.page_where}"
                            f" ORDER BY {sql.order} LIMIT ?", [*sql.page_args, query.limit + 1]).fetchall()
        return [self._quarantine_record(r) for r in rows]

    @staticmethod
    def _quarantine_count_sync(conn: sqlite3.Connection, query: search.QuarantineQuery) -> int:
        sql = search.quarantine_sql(query, "sqlite")
        return int(conn.execute(sql.count_sql(), sql.args).fetchone()[0])

    async def search_quarantine(self, query: search.QuarantineQuery) -> search.Page:
        """A page of held (or released/deleted) messages, newest first, and how many match."""
        query = query.bounded()
        # The page and the count at once, on two reader threads (sqlite3 lets go of the GIL).
        records, total = await asyncio.gather(
            self._review_read(lambda conn: self._quarantine_page_sync(conn, query)),
            self._review_read(lambda conn: self._quarantine_count_sync(conn, query)))
        return search.page_of(records, total, query)

    async def quarantine_ids(self, query: search.QuarantineQuery, limit: int = search.BULK_LIMIT) -> list[str]:
        """The ids of (up to ``limit``) messages a search matches, newest first: a bulk action's targets."""
        def read(conn: sqlite3.Connection) -> list[str]:
            sql = search.quarantine_sql(replace(query, before=None), "sqlite")
            return [str(r[0]) for r in conn.execute(
                f"SELECT q.id FROM {sql.source} WHERE {sql.where} ORDER BY {sql.order} LIMIT ?",
                [*sql.args, limit])]
        return await self._review_read(read)

    async def quarantine_keys(self, qid: str) -> list[str]:
        return await self._review_read(lambda conn: [str(r[0]) for r in conn.execute(
            "SELECT key FROM quarantine_keys WHERE qid = ? ORDER BY key", (qid,))])

    # -- audit --------------------------------------------------------------------------------------
    async def audit_page(self, query: search.AuditQuery) -> search.Page:
        """Audit records matching ``query``, newest first, with the total and the next cursor."""
        def read(conn: sqlite3.Connection) -> search.Page:
            limit = max(1, min(query.limit, 1000))
            page = search.audit_sql(query, "sqlite")
            rows = conn.execute(f"SELECT {sql.AUDIT_COLUMNS} FROM audit WHERE {page.where}"
                                " ORDER BY id DESC LIMIT ?", [*page.args, limit + 1]).fetchall()
            counted = search.audit_sql(replace(query, before_id=None), "sqlite")
            total = int(conn.execute(f"SELECT count(*) FROM audit WHERE {counted.where}", counted.args).fetchone()[0])
            items = [sql.audit_entry(r) for r in rows[:limit]]
            more = len(rows) > limit
            return search.Page(items, total, str(items[-1].id) if more and items else None)
        return await self._review_read(read)

    async def audit_for_objects(self, objects: Sequence[str]) -> dict[str, list[AuditEntry]]:
        """Every audit record of each of ``objects``, newest first (one query)."""
        wanted = sorted(set(objects))
        if not wanted:
            return {}

        def read(conn: sqlite3.Connection) -> dict[str, list[AuditEntry]]:
            out: dict[str, list[AuditEntry]] = {o: [] for o in wanted}
            marks = ",".join("?" * len(wanted))
            for row in conn.execute(f"SELECT {sql.AUDIT_COLUMNS} FROM audit"
                                    f" WHERE object IN ({marks}) ORDER BY id DESC", wanted):
                out[row[4]].append(sql.audit_entry(row))
            return out
        return await self._review_read(read)

    # -- message tracking ---------------------------------------------------------------------------
    async def message_trail(self, ref: str) -> search.MessageTrail:
        """Decisions, quarantine records and relays of the message ``ref`` names (quarantine id,
        queue id or Message-ID), oldest first."""
        ids = search.message_ids(ref)
        if not ids:
            return search.MessageTrail()

        def read(conn: sqlite3.Connection) -> search.MessageTrail:
            marks = ",".join("?" * len(ids))
            trail = search.MessageTrail()
            cols = ", ".join(f"q.{c.strip()}" for c in self._quarantine_columns.split(","))
            rows = conn.execute(f"SELECT {cols}, q.queue_id FROM quarantine q WHERE q.id = ? OR q.message_id IN"
                                f" ({marks}) ORDER BY q.held_at LIMIT 100", [ref, *ids]).fetchall()
            trail.held = [self._quarantine_record(r[:-1]) for r in rows]
            queue_ids = [str(r[-1]) for r in rows if r[-1]]
            msg_ids = sorted({*ids, *(h.message_id for h in trail.held if h.message_id)})
            marks = ",".join("?" * len(msg_ids))
            refs = [ref, *(h.id for h in trail.held)]
            rmarks = ",".join("?" * len(refs))
            for r in conn.execute(
                    f"SELECT {sql.DECISION_COLUMNS}"
                    f" FROM decisions WHERE ref IN ({rmarks}) OR message_id IN ({marks}) ORDER BY at LIMIT 100",
                    [*refs, *msg_ids]):
                trail.decisions.append(sql.decision(r, json.loads))
                if r[1] and (r[7] in ("relay", "rewrite") or r[10]):  # a relayed message's ref: its queue id
                    queue_ids.append(str(r[1]))
            qmarks = ",".join("?" * (len(queue_ids) + 1))
            for r in conn.execute(
                    f"SELECT {sql.RELAY_COLUMNS} FROM relays"
                    f" WHERE queue_id IN ({qmarks}) OR message_id IN ({marks}) ORDER BY sent_at LIMIT 200",
                    [ref, *queue_ids, *msg_ids]):
                trail.relays.append(sql.relay(r))
                queue_ids.append(str(r[1]))
            trail.queue_ids = list(dict.fromkeys(q for q in queue_ids if q))
            return trail
        return await self._review_read(read)

    # -- per-tenant views ---------------------------------------------------------------------------
    async def tenant_daily_counts(self, tenant: str, days: int = 14) -> list[dict[str, Any]]:
        """``Store.daily_counts`` for one tenant's decisions."""
        since = time.time() - days * 86400
        return await self._review_read(lambda conn: daily_from_rows(conn.execute(
            "SELECT date(at, 'unixepoch') AS day, action, rules, shadow FROM decisions WHERE at >= ? AND tenant = ?",
            (since, tenant))))

    async def quarantine_by_tenant(self) -> dict[str, dict[str, int]]:
        """Messages in the quarantine per tenant and status."""
        def read(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
            out: dict[str, dict[str, int]] = {}
            for tenant, status, n in conn.execute("SELECT tenant, status, count(*) FROM quarantine GROUP BY 1, 2"):
                out.setdefault(str(tenant), {})[str(status)] = int(n)
            return out
        return await self._review_read(read)
