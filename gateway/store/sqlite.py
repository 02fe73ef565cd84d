"""State on SQLite: relay records, the opt-out registry, per-order counters, quarantine, audit.

All writes go through one connection on one dedicated thread, so they are serialised without
locks and never block the event loop. Writes from the event loop are group-committed: whatever
arrives while a commit is under way goes into the next one, each write in its own savepoint, so
concurrent sessions share one fsync instead of queueing for one each. Policy evaluation runs in
worker threads and reads through its own per-thread connections (WAL lets readers run beside
the writer). Callers use the async methods of the ``Store`` interface (gateway/store/base.py);
the ``*_sync`` methods behind them run on the store thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from gateway.fsutil import write_durably
from gateway.store.base import (
    ALIAS_STATUSES,
    EVIDENCE_DIR,
    REVIEW_COUNTER,
    AliasRecord,
    AliasStatus,
    AliasUpdate,
    NoticeRow,
    PolicyStateView,
    QuarantineRecord,
    RecordedBounce,
    daily_from_rows,
    evidence_reference,
    report_from_rows,
)
from gateway.store.search import like_literal, search_keys
from gateway.store.sqlite_review import SQLiteReviewQueries, build_review_index, index_quarantined

__all__ = ["ALIAS_STATUSES", "AliasRecord", "AliasStatus", "AliasUpdate", "NoticeRow", "QuarantineRecord",
           "RecordedBounce", "SQLiteStore", "StorePolicyState"]

T = TypeVar("T")

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS relays (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL DEFAULT '',
    queue_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    order_ids TEXT NOT NULL,
    tags TEXT NOT NULL,
    sent_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS relays_message_id ON relays(message_id);
CREATE INDEX IF NOT EXISTS relays_alias ON relays(alias);
CREATE TABLE IF NOT EXISTS relay_orders (
    order_id TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    relay_id INTEGER NOT NULL REFERENCES relays(id),
    PRIMARY KEY (order_id, marketplace, relay_id)
);
CREATE TABLE IF NOT EXISTS order_counters (
    tenant TEXT NOT NULL DEFAULT '',
    order_id TEXT NOT NULL,
    counter TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (tenant, order_id, counter)
);
CREATE TABLE IF NOT EXISTS daily_sends (
    tenant TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    day TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (tenant, marketplace, day)
);
CREATE TABLE IF NOT EXISTS aliases (
    tenant TEXT NOT NULL DEFAULT '',
    alias TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('optout', 'dead')),
    marketplace TEXT,
    order_id TEXT,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    evidence TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (tenant, alias)
);
CREATE TABLE IF NOT EXISTS quarantine (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL DEFAULT '',
    held_at REAL NOT NULL,
    peer TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt_tos TEXT NOT NULL,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    marketplace TEXT,
    verdict TEXT NOT NULL,
    size INTEGER NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released', 'deleted'))
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    tenant TEXT NOT NULL DEFAULT '',
    shadow INTEGER NOT NULL DEFAULT 0,
    ref TEXT NOT NULL,
    message_id TEXT NOT NULL,
    peer TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt_tos TEXT NOT NULL,
    marketplace TEXT,
    action TEXT NOT NULL,
    rules TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_at ON decisions(at);
CREATE TABLE IF NOT EXISTS bounce_notices (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    tenant TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    order_id TEXT,
    marketplace TEXT,
    alias TEXT,
    matched_by TEXT,
    source TEXT NOT NULL,
    report TEXT NOT NULL,
    resolved INTEGER NOT NULL DEFAULT 0,
    evidence TEXT,
    sha256 TEXT
);
"""

# Columns added after the first schema: (table, column, declaration). open_sync adds the missing ones.
_ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("bounce_notices", "tenant", "TEXT NOT NULL DEFAULT ''"),
    ("bounce_notices", "evidence", "TEXT"),
    ("bounce_notices", "sha256", "TEXT"),
    # 2: release tracking (see claim_quarantine_sync)
    ("quarantine", "claimed_by", "TEXT"),
    ("quarantine", "claimed_at", "REAL"),
    ("quarantine", "queue_id", "TEXT"),
)
# Indexes on added columns: created after the columns exist.
_LATE_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS bounce_notices_sha256 ON bounce_notices(tenant, sha256);
CREATE INDEX IF NOT EXISTS bounce_notices_alias ON bounce_notices(tenant, alias);
"""


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class SQLiteStore(SQLiteReviewQueries):
    """The gateway's state in ``<state>/gateway.db`` plus quarantined bytes in ``<state>/quarantine``."""

    backend = "sqlite"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.db_path = state_dir / "gateway.db"
        self.quarantine_dir = state_dir / "quarantine"
        self.evidence_dir = state_dir / EVIDENCE_DIR
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._conn: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._pending: list[tuple[Callable[[], Any], asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []
        self._pending_lock = threading.Lock()
        self._flush_scheduled = False
        self._batching = False
        self._exclusive: dict[str, asyncio.Lock] = {}

    # -- lifecycle ------------------------------------------------------------------------------
    def open_sync(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # An existing folder keeps whatever mode it was made with: tighten it, it holds mail.
        os.chmod(self.state_dir, 0o700)
        self.quarantine_dir.mkdir(exist_ok=True, mode=0o700)
        os.chmod(self.quarantine_dir, 0o700)
        self.evidence_dir.mkdir(exist_ok=True, mode=0o700)
        os.chmod(self.evidence_dir, 0o700)
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(_SCHEMA)
        for table, column, decl in _ADDED_COLUMNS:
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        conn.executescript(_LATE_INDEXES)
        build_review_index(conn)
        conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)"
                     " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))
        os.chmod(self.db_path, 0o600)
        self._conn = conn

    async def open(self) -> SQLiteStore:
        await self._run(self.open_sync)
        return self

    def close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with self._readers_lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()

    async def close(self) -> None:
        self._close_review()
        await self._run(self.close_sync)
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def _write(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (which may call ``_tx``) on the store thread inside the next group commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._pending_lock:
            self._pending.append((fn, loop, future))
            schedule = not self._flush_scheduled
            self._flush_scheduled = True
        if schedule:
            self._executor.submit(self._flush)
        return await future

    def _flush(self) -> None:
        with self._pending_lock:
            batch, self._pending = self._pending, []
            self._flush_scheduled = False
        if not batch:
            return
        outcomes: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], bool, Any]] = []
        conn = self.conn
        self._batching = True
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, loop, future in batch:
                conn.execute("SAVEPOINT op")
                try:
                    result = fn()
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    outcomes.append((loop, future, False, exc))
                else:
                    outcomes.append((loop, future, True, result))
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(loop, future, False, exc) for _, loop, future in batch]
        finally:
            self._batching = False
        for loop, future, ok, value in outcomes:
            loop.call_soon_threadsafe(_settle, future, ok, value)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self.conn
        if self._batching:
            return fn(conn)  # inside a group commit: its savepoint and commit are the flush's
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # -- relays and counters ----------------------------------------------------------------------
    def record_relay_sync(self, queue_id: str, message_id: str,
                          recipients: Sequence[tuple[str, str]], order_ids: Sequence[str],
                          tags: Iterable[str], counters: Sequence[str] = (), *, tenant: str = "") -> None:
        """Record a message relayed to marketplace aliases, and bump per-order counters."""
        now = time.time()
        tag_text = " ".join(sorted(tags))

        def write(conn: sqlite3.Connection) -> None:
            for alias, marketplace in recipients:
                cur = conn.execute(
                    "INSERT INTO relays(tenant, queue_id, message_id, alias, marketplace, order_ids, tags,"
                    " sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (tenant, queue_id, message_id, alias, marketplace, " ".join(order_ids), tag_text, now))
                for order_id in order_ids:
                    conn.execute("INSERT OR IGNORE INTO relay_orders VALUES (?, ?, ?)",
                                 (order_id, marketplace, cur.lastrowid))
            for order_id in order_ids:
                for counter in counters:
                    conn.execute(
                        "INSERT INTO order_counters(tenant, order_id, counter, count) VALUES (?, ?, ?, 1)"
                        " ON CONFLICT(tenant, order_id, counter) DO UPDATE SET count = count + 1",
                        (tenant, order_id, counter))

        self._tx(write)

    async def record_relay(self, queue_id: str, message_id: str,
                           recipients: Sequence[tuple[str, str]], order_ids: Sequence[str],
                           tags: Iterable[str], counters: Sequence[str] = (), *, tenant: str = "") -> None:
        tags, counters = tuple(tags), tuple(counters)
        await self._write(lambda: self.record_relay_sync(queue_id, message_id, recipients, order_ids,
                                                         tags, counters, tenant=tenant))

    def order_counter_sync(self, order_id: str, counter: str, tenant: str = "") -> int:
        row = self._reader().execute(
            "SELECT count FROM order_counters WHERE tenant = ? AND order_id = ? AND counter = ?",
            (tenant, order_id, counter)).fetchone()
        return int(row[0]) if row else 0

    def relays_by_message_id_sync(self, message_ids: Sequence[str], tenant: str = "") -> list[tuple[str, str]]:
        """(alias, marketplace) of relays whose Message-ID is one of ``message_ids``.

        Relays keep the header value as sent (``<id@host>``); bounce parsers give ids without the
        angle brackets. Either form matches.
        """
        ids: list[str] = []
        for m in message_ids:
            bare = m.strip().strip("<>").strip()
            if bare:
                ids += [bare, f"<{bare}>"]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._reader().execute(
            f"SELECT DISTINCT alias, marketplace FROM relays WHERE tenant = ? AND message_id IN ({marks})",
            [tenant, *ids])
        return [(str(a), str(m)) for a, m in rows]

    def relays_by_order_sync(self, order_id: str, marketplace: str | None,
                        since: float, tenant: str = "") -> list[tuple[str, str]]:
        sql = ("SELECT DISTINCT r.alias, r.marketplace FROM relay_orders o JOIN relays r ON r.id = o.relay_id"
               " WHERE o.order_id = ? AND r.sent_at >= ? AND r.tenant = ?")
        args: list[Any] = [order_id, since, tenant]
        if marketplace:
            sql += " AND o.marketplace = ?"
            args.append(marketplace)
        return [(str(a), str(m)) for a, m in self._reader().execute(sql, args)]

    # -- opt-out registry ---------------------------------------------------------------------------
    def alias_status_sync(self, alias: str, tenant: str = "") -> AliasStatus | None:
        row = self._reader().execute("SELECT status FROM aliases WHERE tenant = ? AND alias = ?",
                                     (tenant, alias.lower())).fetchone()
        if row is None:
            return None
        status: AliasStatus = row[0]
        return status

    def record_alias_sync(self, alias: str, status: AliasStatus, *, marketplace: str | None,
                          order_id: str | None, evidence: str, source: str,
                          tenant: str = "") -> AliasRecord:
        now = time.time()
        alias = alias.lower()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO aliases(tenant, alias, status, marketplace, order_id, first_seen, last_seen,"
                " evidence, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(tenant, alias) DO UPDATE SET status = excluded.status,"
                " marketplace = COALESCE(excluded.marketplace, aliases.marketplace),"
                " order_id = COALESCE(excluded.order_id, aliases.order_id),"
                " last_seen = excluded.last_seen, evidence = excluded.evidence, source = excluded.source",
                (tenant, alias, status, marketplace, order_id, now, now, evidence, source))

        self._tx(write)
        record = self.get_alias_sync(alias, tenant)
        assert record is not None
        return record

    def get_alias_sync(self, alias: str, tenant: str = "") -> AliasRecord | None:
        row = self.conn.execute(
            f"SELECT {self._ACOLS} FROM aliases WHERE tenant = ? AND alias = ?",
            (tenant, alias.lower())).fetchone()
        return AliasRecord(*row) if row else None

    def remove_alias_sync(self, alias: str, tenant: str = "") -> bool:
        return bool(self._tx(lambda c: c.execute("DELETE FROM aliases WHERE tenant = ? AND alias = ?",
                                                  (tenant, alias.lower())).rowcount))

    _ACOLS = "alias, status, marketplace, order_id, first_seen, last_seen, evidence, source, tenant"

    def list_aliases_sync(self, status: AliasStatus | None = None, search: str | None = None,
                          tenant: str | None = None) -> list[AliasRecord]:
        """Registry entries; ``tenant`` None lists every tenant's."""
        sql = f"SELECT {self._ACOLS} FROM aliases WHERE 1=1"
        args: list[Any] = []
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        if status:
            sql += " AND status = ?"
            args.append(status)
        if search:
            # % and _ typed by the admin are literal characters, not wildcards.
            sql += " AND (alias LIKE ? ESCAPE '\\' OR order_id LIKE ? ESCAPE '\\')"
            args += [f"%{like_literal(search.lower())}%", f"%{like_literal(search)}%"]
        sql += " ORDER BY last_seen DESC"
        return [AliasRecord(*row) for row in self.conn.execute(sql, args)]

    # -- bounce notices -----------------------------------------------------------------------------
    def record_notice_sync(self, kind: str, order_id: str | None, marketplace: str | None,
                           alias: str | None, matched_by: str | None, source: str,
                           report: dict[str, Any], tenant: str = "") -> int:
        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO bounce_notices(tenant, at, kind, order_id, marketplace, alias, matched_by, source,"
                " report) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (tenant, time.time(), kind, order_id, marketplace, alias, matched_by, source,
                 json.dumps(report, ensure_ascii=False)))
            return int(cur.lastrowid or 0)

        return self._tx(write)

    def store_evidence_sync(self, raw: bytes) -> tuple[str, str]:
        """Keep the raw bytes of a notice durably (0600); return (reference, sha256).

        The reference is the path relative to the state directory, so a moved state directory keeps
        its references. Content-addressed: the same notice stored twice is one file.
        """
        digest = hashlib.sha256(raw).hexdigest()
        path = self.evidence_dir / f"{digest}.eml"
        if not path.exists():
            write_durably(path, raw)
        return evidence_reference(digest), digest

    def evidence_path(self, reference: str) -> Path | None:
        """The file behind an evidence reference, or None when it is not a stored notice."""
        if not reference.startswith(f"{EVIDENCE_DIR}/"):
            return None
        name = reference[len(EVIDENCE_DIR) + 1:]
        if "/" in name or name.startswith("."):
            return None
        return self.evidence_dir / name

    def record_bounce_sync(self, notice: NoticeRow,
                           alias_updates: Sequence[AliasUpdate] = ()) -> RecordedBounce | None:
        """Record a notice and the alias statuses it establishes (in ``notice.tenant``'s registry),
        in one transaction.

        Returns None when a notice with the same bytes was recorded before (a re-imported file or a
        mailbox message seen twice): the first recording stands.
        """
        now = time.time()
        tenant = notice.tenant

        def write(conn: sqlite3.Connection) -> RecordedBounce | None:
            if notice.sha256 is not None and conn.execute(
                    "SELECT 1 FROM bounce_notices WHERE tenant = ? AND sha256 = ?",
                    (tenant, notice.sha256)).fetchone():
                return None
            previous: dict[str, AliasStatus | None] = {}
            for update in alias_updates:
                alias = update.alias.lower()
                row = conn.execute("SELECT status FROM aliases WHERE tenant = ? AND alias = ?",
                                   (tenant, alias)).fetchone()
                previous[alias] = row[0] if row else None
                conn.execute(
                    "INSERT INTO aliases(tenant, alias, status, marketplace, order_id, first_seen, last_seen,"
                    " evidence, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(tenant, alias) DO UPDATE SET status = excluded.status,"
                    " marketplace = COALESCE(excluded.marketplace, aliases.marketplace),"
                    " order_id = COALESCE(excluded.order_id, aliases.order_id),"
                    " last_seen = excluded.last_seen, evidence = excluded.evidence,"
                    " source = excluded.source",
                    (tenant, alias, update.status, update.marketplace, update.order_id, now, now,
                     notice.evidence or "", notice.source))
            cur = conn.execute(
                "INSERT INTO bounce_notices(tenant, at, kind, order_id, marketplace, alias, matched_by,"
                " source, report, resolved, evidence, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (tenant, now, notice.kind, notice.order_id, notice.marketplace,
                 notice.alias.lower() if notice.alias else None, notice.matched_by, notice.source,
                 json.dumps(notice.report, ensure_ascii=False), int(notice.resolved),
                 notice.evidence, notice.sha256))
            return RecordedBounce(notice_id=int(cur.lastrowid or 0), previous_status=previous)

        return self._tx(write)

    _NCOLS = ("id, at, kind, order_id, marketplace, alias, matched_by, source, report, resolved,"
              " evidence, tenant")

    @staticmethod
    def _notice_row(row: tuple[Any, ...]) -> dict[str, Any]:
        return {"id": row[0], "at": row[1], "kind": row[2], "order_id": row[3], "marketplace": row[4],
                "alias": row[5], "matched_by": row[6], "source": row[7], "report": json.loads(row[8]),
                "resolved": bool(row[9]), "evidence": row[10], "tenant": row[11]}

    def notice_sync(self, notice_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(f"SELECT {self._NCOLS} FROM bounce_notices WHERE id = ?",
                                (notice_id,)).fetchone()
        return self._notice_row(row) if row else None

    def notices_sync(self, alias: str | None = None, tenant: str | None = None,
                     limit: int = 1000) -> list[dict[str, Any]]:
        """Recorded notices, newest first; ``tenant`` None gives every tenant's."""
        sql = f"SELECT {self._NCOLS} FROM bounce_notices WHERE 1=1"
        args: list[Any] = []
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        if alias:
            sql += " AND alias = ?"
            args.append(alias.lower())
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return [self._notice_row(r) for r in self.conn.execute(sql, args).fetchall()]

    def put_alias_record_sync(self, record: AliasRecord) -> AliasRecord:
        """Merge a whole record (an import) into ``record.tenant``'s registry: keep the earliest
        first_seen, the latest last_seen and, when the incoming record is the newer one, its
        status, evidence and source."""
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO aliases(tenant, alias, status, marketplace, order_id, first_seen, last_seen,"
                " evidence, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(tenant, alias) DO UPDATE SET"
                " status = CASE WHEN excluded.last_seen >= aliases.last_seen THEN excluded.status"
                "   ELSE aliases.status END,"
                " evidence = CASE WHEN excluded.last_seen >= aliases.last_seen THEN excluded.evidence"
                "   ELSE aliases.evidence END,"
                " source = CASE WHEN excluded.last_seen >= aliases.last_seen THEN excluded.source"
                "   ELSE aliases.source END,"
                " marketplace = COALESCE(aliases.marketplace, excluded.marketplace),"
                " order_id = COALESCE(aliases.order_id, excluded.order_id),"
                " first_seen = MIN(aliases.first_seen, excluded.first_seen),"
                " last_seen = MAX(aliases.last_seen, excluded.last_seen)",
                (record.tenant, record.alias.lower(), record.status, record.marketplace, record.order_id,
                 record.first_seen, record.last_seen, record.evidence, record.source))

        self._tx(write)
        stored = self.get_alias_sync(record.alias, record.tenant)
        assert stored is not None
        return stored

    def unmatched_notices_sync(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """The admins' review list: notices no alias was found for; ``tenant`` None gives all."""
        sql = ("SELECT id, at, kind, order_id, marketplace, source, report, tenant FROM bounce_notices"
               " WHERE alias IS NULL AND resolved = 0")
        args: list[Any] = []
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        rows = self.conn.execute(sql + " ORDER BY at DESC", args).fetchall()
        return [{"id": r[0], "at": r[1], "kind": r[2], "order_id": r[3], "marketplace": r[4],
                 "source": r[5], "report": json.loads(r[6]), "tenant": r[7]} for r in rows]

    def assign_notice_sync(self, notice_id: int, alias: str) -> None:
        self._tx(lambda c: c.execute(
            "UPDATE bounce_notices SET alias = ?, matched_by = 'admin', resolved = 1 WHERE id = ?",
            (alias.lower(), notice_id)))

    # -- decisions and audit --------------------------------------------------------------------------
    def record_decision_sync(self, ref: str, message_id: str, peer: str, mail_from: str,
                             rcpt_tos: Sequence[str], marketplace: str | None, action: str,
                             rules: Sequence[str], *, tenant: str = "", shadow: bool = False) -> None:
        """One decision; with ``shadow`` the action is what would have happened (the mail was relayed)."""
        self._tx(lambda c: c.execute(
            "INSERT INTO decisions(at, tenant, shadow, ref, message_id, peer, mail_from, rcpt_tos,"
            " marketplace, action, rules) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), tenant, int(shadow), ref, message_id, peer, mail_from,
             json.dumps(list(rcpt_tos)), marketplace, action, " ".join(rules))))

    async def record_decision(self, ref: str, message_id: str, peer: str, mail_from: str,
                              rcpt_tos: Sequence[str], marketplace: str | None, action: str,
                              rules: Sequence[str], *, tenant: str = "", shadow: bool = False) -> None:
        rcpts, rule_ids = list(rcpt_tos), list(rules)
        await self._write(lambda: self.record_decision_sync(ref, message_id, peer, mail_from, rcpts,
                                                            marketplace, action, rule_ids,
                                                            tenant=tenant, shadow=shadow))

    def decisions_sync(self, since: float = 0.0, limit: int = 1000,
                       tenant: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT at, ref, message_id, peer, mail_from, rcpt_tos, marketplace, action, rules,"
               " tenant, shadow FROM decisions WHERE at >= ?")
        args: list[Any] = [since]
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        rows = self.conn.execute(sql + " ORDER BY at DESC LIMIT ?", [*args, limit]).fetchall()
        return [{"at": r[0], "ref": r[1], "message_id": r[2], "peer": r[3], "mail_from": r[4],
                 "rcpt_tos": json.loads(r[5]), "marketplace": r[6], "action": r[7],
                 "rules": r[8].split() if r[8] else [], "tenant": r[9], "shadow": bool(r[10])}
                for r in rows]

    # -- daily sending caps ---------------------------------------------------------------------------
    def _reserve_count_sync(self, table: str, key: dict[str, str], limit: int) -> bool:
        """Add one to ``table``'s count for ``key`` unless it is at ``limit``; False (and no count)
        when it is. ``table`` and the key's columns are this module's own names, never input."""
        where = " AND ".join(f"{column} = ?" for column in key)
        columns = ", ".join(key)

        def write(conn: sqlite3.Connection) -> bool:
            row = conn.execute(f"SELECT count FROM {table} WHERE {where}", tuple(key.values())).fetchone()
            if (row[0] if row else 0) >= limit:
                return False
            conn.execute(f"INSERT INTO {table}({columns}, count) VALUES ({', '.join('?' * len(key))}, 1)"
                         f" ON CONFLICT({columns}) DO UPDATE SET count = count + 1", tuple(key.values()))
            return True

        return self._tx(write)

    def _release_count_sync(self, table: str, key: dict[str, str]) -> None:
        where = " AND ".join(f"{column} = ?" for column in key)
        self._tx(lambda c: c.execute(f"UPDATE {table} SET count = MAX(count - 1, 0) WHERE {where}",
                                     tuple(key.values())))

    def reserve_send_sync(self, tenant: str, marketplace: str, day: str, cap: int) -> bool:
        """Count one proactive message against the day's cap; False (and no count) when it is full."""
        return self._reserve_count_sync("daily_sends", {"tenant": tenant, "marketplace": marketplace, "day": day},
                                        cap)

    def reserve_counter_sync(self, order_id: str, counter: str, limit: int, tenant: str = "") -> bool:
        return self._reserve_count_sync("order_counters",
                                        {"tenant": tenant, "order_id": order_id, "counter": counter}, limit)

    def release_counter_sync(self, order_id: str, counter: str, tenant: str = "") -> None:
        self._release_count_sync("order_counters", {"tenant": tenant, "order_id": order_id, "counter": counter})

    async def reserve_counter(self, order_id: str, counter: str, limit: int, tenant: str = "") -> bool:
        return await self._write(lambda: self.reserve_counter_sync(order_id, counter, limit, tenant))

    async def release_counter(self, order_id: str, counter: str, tenant: str = "") -> None:
        await self._write(lambda: self.release_counter_sync(order_id, counter, tenant))

    def release_send_sync(self, tenant: str, marketplace: str, day: str) -> None:
        self._release_count_sync("daily_sends", {"tenant": tenant, "marketplace": marketplace, "day": day})

    async def reserve_send(self, tenant: str, marketplace: str, day: str, cap: int) -> bool:
        return await self._write(lambda: self.reserve_send_sync(tenant, marketplace, day, cap))

    async def release_send(self, tenant: str, marketplace: str, day: str) -> None:
        await self._write(lambda: self.release_send_sync(tenant, marketplace, day))

    def sends_sync(self, tenant: str, marketplace: str, day: str) -> int:
        row = self.conn.execute("SELECT count FROM daily_sends WHERE tenant = ? AND marketplace = ? AND day = ?",
                                (tenant, marketplace, day)).fetchone()
        return int(row[0]) if row else 0

    def audit_sync(self, actor: str, action: str, obj: str, reason: str) -> None:
        self._tx(lambda c: c.execute(
            "INSERT INTO audit(at, actor, action, object, reason) VALUES (?, ?, ?, ?, ?)",
            (time.time(), actor, action, obj, reason)))

    def audit_log_sync(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT at, actor, action, object, reason FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [{"at": r[0], "actor": r[1], "action": r[2], "object": r[3], "reason": r[4]}
                for r in rows]

    # -- quarantine ------------------------------------------------------------------------------------
    def quarantine_sync(self, data: bytes, *, peer: str, mail_from: str, rcpt_tos: Sequence[str],
                        message_id: str, subject: str, marketplace: str | None,
                        verdict: dict[str, Any], tenant: str = "") -> str:
        qid = "Q" + uuid.uuid4().hex[:16].upper()
        path = self.quarantine_dir / f"{qid}.eml"
        write_durably(path, data)
        now = time.time()
        keys = search_keys(data, mail_from, rcpt_tos, verdict, subject)

        def write(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO quarantine(id, tenant, held_at, peer, mail_from, rcpt_tos, message_id, subject,"
                " marketplace, verdict, size, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (qid, tenant, now, peer, mail_from, json.dumps(list(rcpt_tos)), message_id, subject,
                 marketplace, json.dumps(verdict, ensure_ascii=False), len(data), str(path)))
            index_quarantined(c, qid, now, keys, subject)

        self._tx(write)
        return qid

    async def quarantine(self, data: bytes, *, peer: str, mail_from: str, rcpt_tos: Sequence[str],
                         message_id: str, subject: str, marketplace: str | None,
                         verdict: dict[str, Any], tenant: str = "") -> str:
        return await self._write(lambda: self.quarantine_sync(
            data, peer=peer, mail_from=mail_from, rcpt_tos=rcpt_tos, message_id=message_id,
            subject=subject, marketplace=marketplace, verdict=verdict, tenant=tenant))

    def _quarantine_row(self, row: tuple[Any, ...]) -> QuarantineRecord:
        return QuarantineRecord(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), row[5],
                                row[6], row[7], json.loads(row[8]), row[9], Path(row[10]), row[11],
                                row[12])

    _QCOLS = ("id, held_at, peer, mail_from, rcpt_tos, message_id, subject, marketplace, verdict,"
              " size, path, status, tenant")

    def list_quarantine_sync(self, status: str | None = "held",
                             tenant: str | None = None) -> list[QuarantineRecord]:
        sql = f"SELECT {self._QCOLS} FROM quarantine WHERE 1=1"
        args: list[Any] = []
        if status:
            sql += " AND status = ?"
            args.append(status)
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        sql += " ORDER BY held_at DESC"
        return [self._quarantine_row(r) for r in self.conn.execute(sql, args)]

    def get_quarantine_sync(self, qid: str) -> QuarantineRecord | None:
        row = self.conn.execute(f"SELECT {self._QCOLS} FROM quarantine WHERE id = ?",
                                (qid,)).fetchone()
        return self._quarantine_row(row) if row else None

    def claim_quarantine_sync(self, qid: str, new_status: str, actor: str, reason: str,
                              instance: str = "") -> bool:
        """Move a held message to ``released``/``deleted`` exactly once, with its audit record."""
        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("UPDATE quarantine SET status = ?, claimed_by = ?, claimed_at = ?, queue_id = NULL"
                               " WHERE id = ? AND status = 'held'", (new_status, instance, time.time(), qid))
            if cur.rowcount != 1:
                return False
            conn.execute("INSERT INTO audit(at, actor, action, object, reason) VALUES (?, ?, ?, ?, ?)",
                         (time.time(), actor, new_status, qid, reason))
            return True

        return self._tx(write)

    def unclaim_quarantine_sync(self, qid: str, actor: str, reason: str) -> bool:
        """Undo a release whose spooling failed: back to ``held``, with its own audit record."""
        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("UPDATE quarantine SET status = 'held' WHERE id = ? AND status = 'released'",
                               (qid,))
            if cur.rowcount != 1:
                return False
            conn.execute("INSERT INTO audit(at, actor, action, object, reason) VALUES (?, ?, ?, ?, ?)",
                         (time.time(), actor, "release-failed", qid, reason))
            return True

        return self._tx(write)

    # -- reports ----------------------------------------------------------------------------------------
    def report_sync(self, since: float = 0.0, top: int = 10, tenant: str | None = None) -> dict[str, Any]:
        """Counts by action, rule and marketplace, and the senders with most violations, since ``since``."""
        sql = "SELECT mail_from, marketplace, action, rules, shadow FROM decisions WHERE at >= ?"
        args: list[Any] = [since]
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        return report_from_rows(self.conn.execute(sql, args), since, top, tenant)

    def daily_counts_sync(self, days: int = 14) -> list[dict[str, Any]]:
        """Per UTC day: messages by action and hits by rule, newest day first."""
        since = time.time() - days * 86400
        return daily_from_rows(self.conn.execute(
            "SELECT date(at, 'unixepoch') AS day, action, rules, shadow FROM decisions WHERE at >= ?", (since,)))

    # -- the Store interface (async) ------------------------------------------------------------------
    # Reads run on the store thread; writes join the next group commit.
    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        # One process owns a SQLite state directory: within it, one holder per name at a time.
        lock = self._exclusive.setdefault(name, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    async def schema_version(self) -> int:
        def read() -> int:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            return int(row[0]) if row else 0
        return await self._run(read)

    async def policy_state(self, tenant: str = "", aliases: Sequence[str] = ()) -> PolicyStateView:
        # Reads from the evaluating thread go through its own WAL reader: nothing to read ahead.
        return StorePolicyState(self, tenant)

    def alias_statuses_sync(self, aliases: Sequence[str], tenant: str = "") -> dict[str, AliasStatus]:
        wanted = sorted({a.lower() for a in aliases})
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._reader().execute(
            f"SELECT alias, status FROM aliases WHERE tenant = ? AND alias IN ({marks})", [tenant, *wanted])
        return {str(a): s for a, s in rows}

    async def alias_statuses(self, aliases: Sequence[str], tenant: str = "") -> dict[str, AliasStatus]:
        return await self._run(self.alias_statuses_sync, aliases, tenant)

    async def order_counter(self, order_id: str, counter: str, tenant: str = "") -> int:
        return await self._run(self.order_counter_sync, order_id, counter, tenant)

    async def relays_by_message_id(self, message_ids: Sequence[str],
                                         tenant: str = "") -> list[tuple[str, str]]:
        return await self._run(self.relays_by_message_id_sync, message_ids, tenant)

    async def relays_by_order(self, order_id: str, marketplace: str | None, since: float,
                                    tenant: str = "") -> list[tuple[str, str]]:
        return await self._run(self.relays_by_order_sync, order_id, marketplace, since, tenant)

    async def alias_status(self, alias: str, tenant: str = "") -> AliasStatus | None:
        return await self._run(self.alias_status_sync, alias, tenant)

    async def record_alias(self, alias: str, status: AliasStatus, *, marketplace: str | None,
                           order_id: str | None, evidence: str, source: str,
                           tenant: str = "") -> AliasRecord:
        return await self._write(lambda: self.record_alias_sync(
            alias, status, marketplace=marketplace, order_id=order_id, evidence=evidence, source=source,
            tenant=tenant))

    async def get_alias(self, alias: str, tenant: str = "") -> AliasRecord | None:
        return await self._run(self.get_alias_sync, alias, tenant)

    async def remove_alias(self, alias: str, tenant: str = "") -> bool:
        return await self._write(lambda: self.remove_alias_sync(alias, tenant))

    async def list_aliases(self, status: AliasStatus | None = None, search: str | None = None,
                           tenant: str | None = None) -> list[AliasRecord]:
        return await self._run(self.list_aliases_sync, status, search, tenant)

    async def put_alias_record(self, record: AliasRecord) -> AliasRecord:
        return await self._write(lambda: self.put_alias_record_sync(record))

    async def store_evidence(self, raw: bytes) -> tuple[str, str]:
        return await asyncio.to_thread(self.store_evidence_sync, raw)

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
        return await self._write(lambda: self.record_notice_sync(kind, order_id, marketplace, alias,
                                                                 matched_by, source, report, tenant))

    async def record_bounce(self, notice: NoticeRow,
                            alias_updates: Sequence[AliasUpdate] = ()) -> RecordedBounce | None:
        updates = tuple(alias_updates)
        return await self._write(lambda: self.record_bounce_sync(notice, updates))

    async def notice(self, notice_id: int) -> dict[str, Any] | None:
        return await self._run(self.notice_sync, notice_id)

    async def notices(self, alias: str | None = None, tenant: str | None = None,
                      limit: int = 1000) -> list[dict[str, Any]]:
        return await self._run(self.notices_sync, alias, tenant, limit)

    async def unmatched_notices(self, tenant: str | None = None) -> list[dict[str, Any]]:
        return await self._run(self.unmatched_notices_sync, tenant)

    async def assign_notice(self, notice_id: int, alias: str) -> None:
        await self._write(lambda: self.assign_notice_sync(notice_id, alias))

    async def decisions(self, since: float = 0.0, limit: int = 1000,
                        tenant: str | None = None) -> list[dict[str, Any]]:
        return await self._run(self.decisions_sync, since, limit, tenant)

    async def audit(self, actor: str, action: str, obj: str, reason: str) -> None:
        await self._write(lambda: self.audit_sync(actor, action, obj, reason))

    async def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        return await self._run(self.audit_log_sync, limit)

    async def sends(self, tenant: str, marketplace: str, day: str) -> int:
        return await self._run(self.sends_sync, tenant, marketplace, day)

    async def list_quarantine(self, status: str | None = "held",
                              tenant: str | None = None) -> list[QuarantineRecord]:
        return await self._run(self.list_quarantine_sync, status, tenant)

    async def get_quarantine(self, qid: str) -> QuarantineRecord | None:
        return await self._run(self.get_quarantine_sync, qid)

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

    async def claim_quarantine(self, qid: str, new_status: str, actor: str, reason: str,
                               instance: str = "") -> bool:
        return await self._write(lambda: self.claim_quarantine_sync(qid, new_status, actor, reason, instance))

    async def mark_release_spooled(self, qid: str, queue_id: str) -> None:
        await self._write(lambda: self._tx(lambda c: c.execute(
            "UPDATE quarantine SET queue_id = ? WHERE id = ?", (queue_id, qid))))

    async def unspooled_releases(self, instance: str, claimed_before: float) -> list[QuarantineRecord]:
        def read() -> list[QuarantineRecord]:
            rows = self.conn.execute(
                f"SELECT {self._QCOLS} FROM quarantine WHERE status = 'released' AND queue_id IS NULL"
                " AND claimed_by = ? AND claimed_at < ? ORDER BY claimed_at", (instance, claimed_before))
            return [self._quarantine_row(r) for r in rows]
        return await self._run(read)

    async def unclaim_quarantine(self, qid: str, actor: str, reason: str) -> bool:
        return await self._write(lambda: self.unclaim_quarantine_sync(qid, actor, reason))

    async def report(self, since: float = 0.0, top: int = 10,
                     tenant: str | None = None) -> dict[str, Any]:
        return await self._run(self.report_sync, since, top, tenant)

    async def daily_counts(self, days: int = 14) -> list[dict[str, Any]]:
        return await self._run(self.daily_counts_sync, days)

    def prune_sync(self, *, relays_before: float | None = None,
                   decisions_before: float | None = None) -> dict[str, int]:
        def write(conn: sqlite3.Connection) -> dict[str, int]:
            out = {"relays": 0, "decisions": 0}
            if relays_before is not None:
                conn.execute("DELETE FROM relay_orders WHERE relay_id IN (SELECT id FROM relays WHERE sent_at < ?)",
                             (relays_before,))
                out["relays"] = conn.execute("DELETE FROM relays WHERE sent_at < ?", (relays_before,)).rowcount
            if decisions_before is not None:
                out["decisions"] = conn.execute("DELETE FROM decisions WHERE at < ?", (decisions_before,)).rowcount
            return out

        return self._tx(write)

    async def prune(self, *, relays_before: float | None = None,
                    decisions_before: float | None = None) -> dict[str, int]:
        return await self._write(lambda: self.prune_sync(relays_before=relays_before,
                                                         decisions_before=decisions_before))

    def state_counts_sync(self) -> tuple[int, dict[str, int]]:
        held = self.conn.execute("SELECT count(*) FROM quarantine WHERE status = 'held'").fetchone()[0]
        kinds = self.conn.execute("SELECT kind, count(*) FROM bounce_notices GROUP BY kind").fetchall()
        return int(held), {str(k): int(n) for k, n in kinds}

    async def state_counts(self) -> tuple[int, dict[str, int]]:
        return await self._run(self.state_counts_sync)


class StorePolicyState:
    """The policy engine's view of state, read from the store in the evaluating thread."""

    REVIEW_COUNTER = REVIEW_COUNTER

    def __init__(self, store: SQLiteStore, tenant: str = "") -> None:
        self._store = store
        self.tenant = tenant

    def review_requests(self, order_id: str) -> int:
        return self._store.order_counter_sync(order_id, self.REVIEW_COUNTER, self.tenant)

    def alias_status(self, alias: str) -> AliasStatus | None:
        return self._store.alias_status_sync(alias, self.tenant)
