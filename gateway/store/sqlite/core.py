"""The SQLite backend's core: one database file, written by the process's one writer thread.

All writes go through one connection on the writer thread the spool uses too
(gateway/group_commit.py), so they are serialised without locks and never block the event loop.
They are group-committed: whatever arrives while a commit is under way goes into the next one,
each write in its own savepoint, so concurrent sessions share one fsync instead of queueing for
one each, and a message's relay record and decision can follow its spool put in the same pass
(``Spool.put(then=...)``, ``SQLiteCore.follower``). Reads run on the store's own thread through a
WAL reader connection (they see every committed write: a write's caller hears of it after the
commit); the policy engine, in worker threads, reads through per-thread read-only connections.

The operations themselves, one module per role, are mixins over this core (``SQLiteStore`` in
``__init__``); their SQL is shared with PostgreSQL (gateway/store/sql.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

from gateway.errors import StoreError
from gateway.group_commit import Database, GroupCommitWriter, Outcome, Write, in_savepoint, release, shared_writer
from gateway.store.disagreements import SQLITE_SCHEMA as DISAGREEMENT_SCHEMA
from gateway.store.disagreements import fold_sqlite
from gateway.store.records import EVIDENCE_DIR
from gateway.store.shared import SQLBackend
from gateway.store.sql import SQLITE
from gateway.store.sqlite_review import build_review_index

T = TypeVar("T")

_COLLECTING: ContextVar[tuple[object, list[Write]] | None] = ContextVar("store_collecting", default=None)

SCHEMA_VERSION = 4

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

# Columns added after the first schema: (table, column, declaration). open adds the missing ones.
_ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("bounce_notices", "tenant", "TEXT NOT NULL DEFAULT ''"),
    ("bounce_notices", "evidence", "TEXT"),
    ("bounce_notices", "sha256", "TEXT"),
    # 2: release tracking (see Quarantine.claim_quarantine)
    ("quarantine", "claimed_by", "TEXT"),
    ("quarantine", "claimed_at", "REAL"),
    ("quarantine", "queue_id", "TEXT"),
)
# Indexes on added columns: created after the columns exist.
_LATE_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS bounce_notices_sha256 ON bounce_notices(tenant, sha256);
CREATE INDEX IF NOT EXISTS bounce_notices_alias ON bounce_notices(tenant, alias);
"""


@contextmanager
def as_store_error() -> Iterator[None]:
    """SQLite's and the file system's failures reach callers as the ``StoreError`` every backend
    raises (the disk is full, the state directory is read-only, the database file is damaged)."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"SQLite state: {exc}") from exc


Op = Callable[[sqlite3.Connection], Any]


class StateDatabase(Database):
    """``gateway.db``'s write connection, as the process's writer commits to it: one transaction
    a batch, each write in a savepoint (a failing write fails alone)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self.now = 0.0
        """The clock of the statements (sql.SQLITE.now): one value for each write."""

    def commit(self, ops: Sequence[Op]) -> list[Outcome]:
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            outcomes = [self._run(conn, op) for op in ops]
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [(False, exc)] * len(ops)
        self.commits += 1
        return outcomes

    def _run(self, conn: sqlite3.Connection, op: Op) -> Outcome:
        self.now = time.time()
        return in_savepoint(conn, partial(op, conn), (Exception,))


class SQLiteCore(SQLBackend):
    """``<state>/gateway.db`` plus quarantined bytes in ``<state>/quarantine`` and notice evidence
    in ``<state>/evidence``."""

    backend = "sqlite"
    dialect = SQLITE

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.db_path = state_dir / "gateway.db"
        self.quarantine_dir = state_dir / "quarantine"
        self.evidence_dir = state_dir / EVIDENCE_DIR
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._conn: sqlite3.Connection | None = None
        self._db: StateDatabase | None = None
        self._writer: GroupCommitWriter | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._exclusive: dict[str, asyncio.Lock] = {}

    # -- lifecycle ------------------------------------------------------------------------------
    def _open(self) -> None:
        for folder in (self.state_dir, self.quarantine_dir, self.evidence_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            # An existing folder keeps whatever mode it was made with: tighten it, it holds mail.
            os.chmod(folder, 0o700)
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
        conn.executescript(DISAGREEMENT_SCHEMA)  # 3: learning from Amazon's verdicts
        fold_sqlite(conn)  # 4: a disagreement refers to its relayed message instead of copying it
        build_review_index(conn)
        conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)"
                     " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))
        os.chmod(self.db_path, 0o600)
        db = StateDatabase(conn)
        conn.create_function("gw_now", 0, lambda: db.now)
        self._conn, self._db = conn, db
        self._writer = shared_writer()

    async def open_readonly(self) -> SQLiteCore:
        """Open an existing database to read only (``gateway check``): no schema, no writes, nothing
        created in the state directory; a write raises ``StoreError``."""
        def connect() -> None:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            conn.create_function("gw_now", 0, time.time)
            self._conn = conn

        await self._run(connect)
        return self

    def _close(self) -> None:
        if self._conn is not None and self._db is None:  # read-only: no writer has it
            self._conn.close()
        self._conn = None
        with self._readers_lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()

    async def close(self) -> None:
        if self._writer is not None and self._db is not None:
            writer, db, self._writer, self._db = self._writer, self._db, None, None
            await release(writer, db)  # closes the write connection after what was submitted
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    @property
    def commits(self) -> int:
        """Transactions committed to ``gateway.db`` so far (for the tests of group commit)."""
        return self._db.commits if self._db is not None else 0

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    async def schema_version(self) -> int:
        row = await self._read(lambda c: c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone())
        return int(row[0]) if row else 0

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        # One process owns a SQLite state directory: within it, one holder per name at a time.
        lock = self._exclusive.setdefault(name, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    # -- running work on the store thread -------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        with as_store_error():
            return await loop.run_in_executor(self._executor, fn, *args)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the store thread: it sees every committed write."""
        return await self._run(lambda: fn(self._reader() if self._db is not None else self.conn))

    async def _fetchall(self, sql: str, args: Any = ()) -> list[Any]:
        return await self._read(lambda c: c.execute(sql, args).fetchall())

    async def _fetchone(self, sql: str, args: Any = ()) -> Any:
        return await self._read(lambda c: c.execute(sql, args).fetchone())

    @contextmanager
    def collecting(self) -> Iterator[list[Write]]:
        """The writes this store is asked for meanwhile (in this context, and in the tasks it
        starts) are not submitted but collected, for a spool put to take along: they commit right
        after it, in the same pass of the writer (``Spool.put(then=...)``), and their callers
        await their futures. A collected write returns None at once: only for writes whose result
        nobody reads (a message's relay record and decision, gateway/pipeline/record.py)."""
        writes: list[Write] = []
        token = _COLLECTING.set((self, writes))
        try:
            yield writes
        finally:
            _COLLECTING.reset(token)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the writer thread inside the next group commit."""
        if self._writer is None or self._db is None:
            raise StoreError("SQLite state: opened read-only" if self._conn is not None else "store is not open")
        write = self._writer.write(self._db, fn)
        collecting = _COLLECTING.get()
        if collecting is not None and collecting[0] is self:
            collecting[1].append(write)
            return cast(T, None)
        future = self._writer.submit(write)
        with as_store_error():
            result: T = await future
            return result

    async def _execute(self, sql: str, args: Any = ()) -> None:
        """One write statement in the next group commit."""
        await self._write(lambda c: c.execute(sql, args))

    async def _execute_returning(self, sql: str, args: Any = ()) -> Any:
        return await self._write(lambda c: c.execute(sql, args).fetchone())

    def _decode(self, value: Any) -> Any:
        return json.loads(value)

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only connection (the policy engine's worker threads)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            conn.create_function("gw_now", 0, time.time)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn
