"""The durable spool: messages accepted by the listener wait here until the upstream took them.

Storage is one SQLite database (``spool.sqlite3``) in WAL mode with ``synchronous=FULL``; message
bytes are stored as blobs next to their envelope, so one commit (one fsync of the WAL) makes both
durable together and there is never a half-written entry. Puts are group-committed: a single writer
thread drains a queue of pending operations, runs them all in one transaction, commits once and
then resolves every caller's future. Concurrent puts therefore share one fsync instead of paying
one each. Reads (loading a message for delivery) run on a separate reader thread and connection, so
a large blob being read never holds up the writer. No SQLite or file I/O runs on the event loop.

A message is ``pending`` until every recipient is final (delivered or failed); then it becomes
``done``, its bytes are dropped and its per-recipient results stay as the record of what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import random
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway.errors import GatewayError
from gateway.fsutil import fsync_dir
from gateway.log import get_logger
from gateway.transaction import FORBIDDEN_ADDRESS_CHARS, has_bare_line_ending

log = get_logger("gateway.spool")

DB_NAME = "spool.sqlite3"
# How many queued operations one transaction takes at most; bounds the latency of the first one.
MAX_BATCH = 512
# Fresh puts kept in memory for the delivery service (see Spool.take_fresh).
FRESH_MAX_IDS = 100_000
FRESH_MAX_BYTES = 64 * 1024 * 1024

RecipientState = Literal["pending", "delivered", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id            TEXT PRIMARY KEY,
    mail_from     TEXT NOT NULL,
    data          BLOB,
    meta          TEXT NOT NULL,
    arrived       REAL NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  REAL NOT NULL,
    finished      REAL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages(state, next_attempt);
CREATE TABLE IF NOT EXISTS recipients (
    message_id    TEXT NOT NULL REFERENCES messages(id),
    position      INTEGER NOT NULL,
    address       TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending',
    code          INTEGER,
    reply         TEXT,
    updated       REAL,
    PRIMARY KEY (message_id, position)
);
"""


class SpoolError(GatewayError):
    """The storage cannot take the message (disk full, read-only, ...): answer 452 4.3.1."""


def _check_address(address: str) -> None:
    # aiosmtplib silently truncates at an embedded CR/LF; such an address must never be stored.
    if FORBIDDEN_ADDRESS_CHARS.intersection(address):
        raise ValueError(f"envelope address contains CR, LF or NUL: {address!r}")


def _check_data(data: bytes) -> None:
    # aiosmtplib would turn a bare CR or LF into CRLF on the way out, changing the content (and
    # breaking DKIM); the listener never hands such data on, and the spool refuses to store it.
    if has_bare_line_ending(data):
        raise ValueError("message data contains a bare CR or LF")


# Seeded from os.urandom once; a getrandbits call per id avoids a syscall per put (measured at
# ~85 us under GIL contention). Uniqueness, not secrecy, is what a queue id needs.
_id_random = random.Random(secrets.randbits(64))


def new_queue_id() -> str:
    """Time-ordered and unique across restarts: microseconds since the epoch plus 24 random bits."""
    return f"{time.time_ns() // 1000:014X}{_id_random.getrandbits(24):06X}"


@dataclass(frozen=True)
class RecipientResult:
    address: str
    state: RecipientState
    code: int | None = None
    reply: str | None = None


@dataclass(frozen=True)
class SpooledMessage:
    queue_id: str
    mail_from: str
    data: bytes = field(repr=False)
    meta: dict[str, Any]
    arrived: float
    attempts: int
    pending: tuple[str, ...]
    recipients: tuple[RecipientResult, ...] = ()
    next_attempt: float = 0.0


@dataclass(frozen=True)
class NewMessage:
    """A message to add inside another operation's transaction (a DSN next to its failure record)."""

    mail_from: str
    rcpt_tos: Sequence[str]
    data: bytes = field(repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EntryInfo:
    queue_id: str
    mail_from: str
    state: str
    attempts: int
    next_attempt: float
    arrived: float
    meta: dict[str, Any]
    recipients: tuple[RecipientResult, ...]


_Op = Callable[[sqlite3.Connection], Any]


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # Big blobs can swell the WAL; after a checkpoint, truncate it back to this size.
    conn.execute("PRAGMA journal_size_limit=67108864")
    return conn


_INSERT_MESSAGE = ("INSERT INTO messages (id, mail_from, data, meta, arrived, next_attempt) "
                   "VALUES (?,?,?,?,?,?)")
_INSERT_RECIPIENT = "INSERT INTO recipients (message_id, position, address) VALUES (?,?,?)"


@dataclass(frozen=True)
class _Put:
    """A new entry for the writer; puts are batched into multi-row inserts."""

    queue_id: str
    msg: NewMessage
    now: float

    def message_row(self) -> tuple[Any, ...]:
        m = self.msg
        return (self.queue_id, m.mail_from, m.data, json.dumps(dict(m.meta), default=str),
                self.now, self.now)

    def recipient_rows(self) -> list[tuple[str, int, str]]:
        return [(self.queue_id, i, rcpt) for i, rcpt in enumerate(self.msg.rcpt_tos)]


def _insert(conn: sqlite3.Connection, queue_id: str, msg: NewMessage, now: float) -> None:
    put = _Put(queue_id, msg, now)
    conn.execute(_INSERT_MESSAGE, put.message_row())
    conn.executemany(_INSERT_RECIPIENT, put.recipient_rows())


_Item = tuple[_Op | _Put, asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class _Writer(threading.Thread):
    """Owns the write connection; each loop runs every queued operation in one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(name="spool-writer", daemon=True)
        self._conn = conn
        self.ops: queue.SimpleQueue[list[_Item] | None] = queue.SimpleQueue()
        self.batches = 0

    def run(self) -> None:
        stop = False
        while not stop:
            item = self.ops.get()
            batch: list[_Item] = []
            while True:
                if item is None:
                    stop = True  # close() queues nothing after this
                    break
                batch.extend(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self.ops.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._run_batch(batch)
        self._conn.close()

    def _run_batch(self, batch: list[tuple[_Op | _Put, asyncio.AbstractEventLoop, asyncio.Future[Any]]]
                   ) -> None:
        conn = self._conn
        try:
            try:
                outcomes = self._fast(batch)
            except sqlite3.IntegrityError:
                # Something in the batch conflicts (say, a queue id collision): redo it with a
                # savepoint per operation so only the offender fails.
                conn.execute("ROLLBACK")
                outcomes = self._careful(batch)
            conn.execute("COMMIT")
            self.batches += 1
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            log.error("spool.commit_failed", error=str(exc), batch=len(batch))
            error = SpoolError(f"spool cannot store: {exc}")
            outcomes = [(False, error)] * len(batch)
        except Exception as exc:  # a bug in an operation: fail this batch, keep the writer alive
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            log.exception("spool.batch_failed", batch=len(batch))
            outcomes = [(False, SpoolError(f"spool write failed: {exc!r}"))] * len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_, loop, fut), (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((fut, ok, value))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
                loop.call_soon_threadsafe(_resolve, items)

    def _fast(self, batch: list[tuple[_Op | _Put, asyncio.AbstractEventLoop, asyncio.Future[Any]]]
              ) -> list[tuple[bool, Any]]:
        """All puts of the batch as two executemany statements; other operations one by one.

        Few Python-level round trips per put matter: the writer competes with the event loop for
        the GIL, and every reacquisition can cost a switch interval.
        """
        conn = self._conn
        outcomes: list[tuple[bool, Any]] = []
        messages: list[tuple[Any, ...]] = []
        recipients: list[tuple[str, int, str]] = []
        conn.execute("BEGIN IMMEDIATE")
        for op, _, _ in batch:
            if isinstance(op, _Put):
                try:
                    _check_data(op.msg.data)
                except ValueError as exc:
                    outcomes.append((False, exc))
                    continue
                messages.append(op.message_row())
                recipients.extend(op.recipient_rows())
                outcomes.append((True, op.queue_id))
            else:
                conn.execute("SAVEPOINT op")
                try:
                    outcomes.append((True, op(conn)))
                except (ValueError, KeyError) as exc:
                    conn.execute("ROLLBACK TO op")
                    outcomes.append((False, exc))
                conn.execute("RELEASE op")
        if messages:
            conn.executemany(_INSERT_MESSAGE, messages)
            conn.executemany(_INSERT_RECIPIENT, recipients)
        return outcomes

    def _careful(self, batch: list[tuple[_Op | _Put, asyncio.AbstractEventLoop, asyncio.Future[Any]]]
                 ) -> list[tuple[bool, Any]]:
        conn = self._conn
        outcomes: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        for op, _, _ in batch:
            conn.execute("SAVEPOINT op")
            try:
                if isinstance(op, _Put):
                    _check_data(op.msg.data)
                    conn.execute(_INSERT_MESSAGE, op.message_row())
                    conn.executemany(_INSERT_RECIPIENT, op.recipient_rows())
                    result: Any = op.queue_id
                else:
                    result = op(conn)
            except (sqlite3.IntegrityError, ValueError, KeyError) as exc:
                conn.execute("ROLLBACK TO op")
                outcomes.append((False, exc))
            else:
                outcomes.append((True, result))
            conn.execute("RELEASE op")
        return outcomes


def _resolve(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in items:
        if fut.done():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


class Spool:
    """Durable queue of messages awaiting delivery. Create with ``await Spool.open(directory)``."""

    def __init__(self, directory: Path, writer: _Writer, reader: sqlite3.Connection,
                 handoff: bool = True) -> None:
        self.directory = directory
        self._writer = writer
        self._reader = reader
        self._reader_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-reader")
        self._closed = False
        self._handoff = handoff
        self._buffer: list[_Item] = []
        # Fresh puts, handed to the delivery service without a database round trip: their ids in
        # arrival order, and (within a memory budget) their content, until the first attempt is
        # recorded. Each trip to a spool thread costs GIL hand-offs on a busy loop; this saves two
        # per message (the due-query and the load). The database stays the source of truth.
        self._fresh_ids: deque[str] = deque()
        self._fresh: dict[str, SpooledMessage] = {}
        self._fresh_bytes = 0
        self.fresh_overflowed = False

    @classmethod
    async def open(cls, directory: Path, *, max_size_bytes: int | None = None,
                   handoff: bool = True) -> Spool:
        """Open (creating if needed) the spool in ``directory``.

        ``handoff=False`` when no DeliveryService runs on this instance (say, delivery runs in
        another process on the same directory, which SQLite's locking allows): fresh puts are then
        not kept in memory for it, and the other process finds them by polling.

        ``max_size_bytes`` caps the database; a put that would grow it beyond fails with SpoolError,
        so a runaway queue cannot fill the disk that the rest of the host needs.
        """

        def _open() -> tuple[sqlite3.Connection, sqlite3.Connection]:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / DB_NAME
            conn = _connect(path)
            try:
                conn.executescript(_SCHEMA)
                # A write transaction makes sure the -wal file exists; then the directory is fsync'd
                # so the database and its WAL survive a crash as directory entries too. The WAL file
                # stays in place while this connection is open (checkpoints reset, never unlink it).
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("CREATE TABLE IF NOT EXISTS spool_info (key TEXT PRIMARY KEY, value TEXT)")
                conn.execute("INSERT OR REPLACE INTO spool_info VALUES ('opened', ?)", (str(time.time()),))
                conn.execute("COMMIT")
                if max_size_bytes is not None:
                    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                    conn.execute(f"PRAGMA max_page_count={max(1, max_size_bytes // page_size)}")
                fsync_dir(directory)
                reader = _connect(path)
                reader.execute("PRAGMA query_only=ON")
            except BaseException:
                conn.close()
                raise
            return conn, reader

        try:
            conn, reader = await asyncio.to_thread(_open)
        except (OSError, sqlite3.Error) as exc:
            raise SpoolError(f"cannot open spool in {directory}: {exc}") from exc
        writer = _Writer(conn)
        writer.start()
        spool = cls(directory, writer, reader, handoff)
        log.info("spool.opened", directory=str(directory), pending=await spool.depth())
        return spool

    # -- plumbing ---------------------------------------------------------------------------------

    async def _write(self, op: _Op | _Put) -> Any:
        if self._closed:
            raise SpoolError("spool is closed")
        if not self._writer.is_alive():
            raise SpoolError("spool writer thread is not running")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        # Writes issued in the same loop iteration go to the writer as one hand-off: waking the
        # writer thread costs a GIL switch on a busy loop, so do it once per iteration, not per op.
        self._buffer.append((op, loop, fut))
        if len(self._buffer) == 1:
            loop.call_soon(self._flush)
        # Shielded: if the caller gives up waiting, the operation still completes (or fails) as one.
        return await asyncio.shield(fut)

    def _flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self._writer.ops.put(batch)

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        if self._closed:
            raise SpoolError("spool is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._reader_pool, fn, self._reader)
        except sqlite3.Error as exc:
            raise SpoolError(f"spool cannot read: {exc}") from exc

    # -- the listener's API -----------------------------------------------------------------------

    async def put(self, mail_from: str, rcpt_tos: Sequence[str], data: bytes,
                  meta: Mapping[str, Any] | None = None, queue_id: str | None = None) -> str:
        """Store a message; the queue id is returned only once bytes and envelope are on disk.

        ``queue_id``: one from new_queue_id() the listener already named in the Received header.

        Raises SpoolError if storage fails, ValueError for an envelope address with CR/LF/NUL or
        data with a bare CR or LF (the caller's bug: the listener rejects those first).
        """
        if not rcpt_tos:
            raise ValueError("a message needs at least one recipient")
        for address in (mail_from, *rcpt_tos):
            _check_address(address)
        msg = NewMessage(mail_from, tuple(rcpt_tos), bytes(data), dict(meta or {}))
        # The data check (a regex over the whole message) runs on the writer thread, off the loop.
        now = time.time()
        result: str = await self._write(_Put(queue_id or new_queue_id(), msg, now))
        if self._handoff:
            self._hand_off(result, msg, now)
        return result

    def _hand_off(self, queue_id: str, msg: NewMessage, now: float) -> None:
        if len(self._fresh_ids) >= FRESH_MAX_IDS:
            self.fresh_overflowed = True  # the delivery service then finds it by polling
            return
        self._fresh_ids.append(queue_id)
        if self._fresh_bytes + len(msg.data) <= FRESH_MAX_BYTES:
            self._fresh[queue_id] = SpooledMessage(
                queue_id, msg.mail_from, msg.data, dict(msg.meta), now, 0, tuple(msg.rcpt_tos),
                tuple(RecipientResult(r, "pending") for r in msg.rcpt_tos), now)
            self._fresh_bytes += len(msg.data)

    def take_fresh(self, limit: int) -> list[str]:
        """Up to ``limit`` ids of messages put since the last call (for the one delivery service)."""
        out: list[str] = []
        while self._fresh_ids and len(out) < limit:
            out.append(self._fresh_ids.popleft())
        return out

    def _forget_fresh(self, queue_id: str) -> None:
        cached = self._fresh.pop(queue_id, None)
        if cached is not None:
            self._fresh_bytes -= len(cached.data)

    async def depth(self) -> int:
        """Messages not yet finished (some recipient still pending)."""

        def fn(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT count(*) FROM messages WHERE state='pending'").fetchone()
            return int(row[0])

        result: int = await self._read(fn)
        return result

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._flush()
        self._writer.ops.put(None)
        await asyncio.to_thread(self._writer.join)
        await asyncio.get_running_loop().run_in_executor(self._reader_pool, self._reader.close)
        self._reader_pool.shutdown(wait=False)
        log.info("spool.closed", directory=str(self.directory))

    # -- the delivery side ------------------------------------------------------------------------

    async def due(self, now: float, limit: int, exclude: set[str] | frozenset[str] = frozenset()
                  ) -> tuple[list[str], float | None]:
        """Pending queue ids whose next attempt is due (oldest first), and the earliest future one."""

        def fn(conn: sqlite3.Connection) -> tuple[list[str], float | None]:
            rows = conn.execute(
                "SELECT id FROM messages WHERE state='pending' AND next_attempt <= ? "
                "ORDER BY next_attempt LIMIT ?", (now, limit + len(exclude))).fetchall()
            ids = [r[0] for r in rows if r[0] not in exclude][:limit]
            nxt = conn.execute("SELECT min(next_attempt) FROM messages WHERE state='pending' "
                               "AND next_attempt > ?", (now,)).fetchone()[0]
            return ids, nxt

        result: tuple[list[str], float | None] = await self._read(fn)
        return result

    async def load(self, queue_id: str) -> SpooledMessage | None:
        """The message with its still-pending recipients; None if it is unknown or already done."""
        cached = self._fresh.get(queue_id)
        if cached is not None:
            return cached

        def fn(conn: sqlite3.Connection) -> SpooledMessage | None:
            row = conn.execute("SELECT mail_from, data, meta, arrived, attempts, next_attempt FROM messages "
                               "WHERE id=? AND state='pending'", (queue_id,)).fetchone()
            if row is None:
                return None
            rcpts = conn.execute("SELECT address, state, code, reply FROM recipients WHERE message_id=? "
                                 "ORDER BY position", (queue_id,)).fetchall()
            results = tuple(RecipientResult(a, s, c, r) for a, s, c, r in rcpts)
            return SpooledMessage(queue_id, row[0], bytes(row[1]), json.loads(row[2]), row[3], row[4],
                                  tuple(r.address for r in results if r.state == "pending"), results,
                                  row[5])

        result: SpooledMessage | None = await self._read(fn)
        return result

    async def find_by_meta(self, key: str, value: str) -> str | None:
        """The queue id of an entry (pending or done, until purged) whose meta has ``key`` = ``value``."""
        if not key.isidentifier():
            raise ValueError(f"not a meta key: {key!r}")

        def fn(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT id FROM messages WHERE json_extract(meta, ?) = ? LIMIT 1",
                               (f"$.{key}", value)).fetchone()
            return str(row[0]) if row else None

        result: str | None = await self._read(fn)
        return result

    async def info(self, queue_id: str) -> EntryInfo | None:
        """Envelope, state and per-recipient results of any entry (pending or done)."""

        def fn(conn: sqlite3.Connection) -> EntryInfo | None:
            row = conn.execute("SELECT mail_from, state, attempts, next_attempt, arrived, meta "
                               "FROM messages WHERE id=?", (queue_id,)).fetchone()
            if row is None:
                return None
            rcpts = conn.execute("SELECT address, state, code, reply FROM recipients WHERE message_id=? "
                                 "ORDER BY position", (queue_id,)).fetchall()
            return EntryInfo(queue_id, row[0], row[1], row[2], row[3], row[4], json.loads(row[5]),
                             tuple(RecipientResult(a, s, c, r) for a, s, c, r in rcpts))

        result: EntryInfo | None = await self._read(fn)
        return result

    async def record_attempt(self, queue_id: str, results: Sequence[RecipientResult],
                             next_attempt: float | None, dsn: NewMessage | None = None) -> str | None:
        """Durably record one delivery attempt in a single transaction.

        Recipient states are updated, the attempt counter advances, and the message becomes ``done``
        (bytes dropped) once no recipient is pending. A DSN, if given, is spooled in the same commit,
        so a failure is never recorded without its bounce, nor the other way round. Returns the
        DSN's queue id.
        """
        now = time.time()
        dsn_id = new_queue_id() if dsn is not None else None
        self._forget_fresh(queue_id)

        def op(conn: sqlite3.Connection) -> str | None:
            for r in results:
                conn.execute("UPDATE recipients SET state=?, code=?, reply=?, updated=? "
                             "WHERE message_id=? AND address=? AND state='pending'",
                             (r.state, r.code, r.reply, now, queue_id, r.address))
            left = conn.execute("SELECT count(*) FROM recipients WHERE message_id=? AND state='pending'",
                                (queue_id,)).fetchone()[0]
            if left:
                conn.execute("UPDATE messages SET attempts=attempts+1, next_attempt=? WHERE id=?",
                             (next_attempt if next_attempt is not None else now, queue_id))
            else:
                conn.execute("UPDATE messages SET attempts=attempts+1, state='done', data=NULL, "
                             "finished=? WHERE id=?", (now, queue_id))
            if dsn is not None and dsn_id is not None:
                _insert(conn, dsn_id, dsn, now)
            return dsn_id

        result: str | None = await self._write(op)
        return result

    async def purge_finished(self, finished_before: float) -> int:
        """Forget finished entries (their per-recipient records) older than ``finished_before``."""

        def op(conn: sqlite3.Connection) -> int:
            old = "SELECT id FROM messages WHERE state='done' AND finished < ?"
            conn.execute(f"DELETE FROM recipients WHERE message_id IN ({old})", (finished_before,))
            return conn.execute("DELETE FROM messages WHERE state='done' AND finished < ?",
                                (finished_before,)).rowcount

        result: int = await self._write(op)
        return result

    @property
    def commits(self) -> int:
        """Transactions committed by the writer so far (for the bench and tests of group commit)."""
        return self._writer.batches
