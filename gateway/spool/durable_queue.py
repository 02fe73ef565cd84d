"""The durable spool: messages accepted by the listener wait here until the upstream took them.

Storage is one SQLite database (``spool.sqlite3``) in WAL mode with ``synchronous=FULL``; message
bytes are stored as blobs next to their envelope, so one commit (one fsync of the WAL) makes both
durable together and there is never a half-written entry. Writes go through the process's one
writer thread, which group-commits (gateway/group_commit.py; the spool's part: ``writer``).
Reads (loading a message for delivery) run on a separate reader thread and connection, so a large
blob being read never holds up the writer. No SQLite or file I/O runs on the event loop.

A message is ``pending`` until every recipient is final (delivered or failed); then it becomes
``done``, its bytes are dropped and its per-recipient results stay as the record of what happened.

Opening checks the file (``PRAGMA quick_check``: SpoolCorrupt) and that it did not vanish
(``marker``: SpoolMissing); a damaged page met later stops new puts the same way (``problem``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import gateway.spool.marker as marker
from gateway.fsutil import fsync_dir
from gateway.group_commit import GroupCommitWriter, Write, release, shared_writer
from gateway.log import get_logger
from gateway.spool.errors import SpoolCorrupt, SpoolError, SpoolFull
from gateway.spool.handoff import FreshPuts
from gateway.spool.integrity import is_corruption, is_disk_full, quick_check
from gateway.spool.records import (
    EntryInfo,
    NewMessage,
    RecipientResult,
    SpooledMessage,
    check_address,
    new_queue_id,
)
from gateway.spool.space import SpaceGuard, release_ballast, wal_checkpoint_pages
from gateway.spool.writer import RECOVERY, SCHEMA, Op, Put, Record, SpoolDatabase, connect

log = get_logger("gateway.spool")

DB_NAME = "spool.sqlite3"


class Spool:
    """Durable queue of messages awaiting delivery. Create with ``await Spool.open(directory)``."""

    def __init__(self, directory: Path, db: SpoolDatabase, reader: sqlite3.Connection,
                 handoff: bool = True) -> None:
        self.directory = directory
        self._db = db
        self._writer: GroupCommitWriter = shared_writer()
        self._reader = reader
        self._reader_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-reader")
        self._closed = False
        self._handoff = handoff
        self._fresh = FreshPuts()  # for the delivery service in this process (``handoff``)
        self._problem: str | None = None

    @classmethod
    async def open(cls, directory: Path, *, max_size_bytes: int | None = None, min_free_bytes: int = 0,
                   handoff: bool = True, accept_empty: bool = False) -> Spool:
        """Open (creating if needed) the spool in ``directory``.

        ``handoff=False`` when no DeliveryService runs on this instance (say, delivery runs in
        another process on the same directory, which SQLite's locking allows): fresh puts are then
        not kept in memory for it, and the other process finds them by polling.

        ``max_size_bytes`` caps the database and ``min_free_bytes`` keeps that much of the file
        system free: past either, puts fail with SpoolFull while delivery results are still
        written (see ``space``).

        Raises SpoolCorrupt if the database fails its check, SpoolMissing if the state directory
        had a spool here whose database is now missing or empty (unless ``accept_empty``), and
        SpoolError for anything else that keeps it from opening (read-only, full, unreadable).
        """
        path = directory / DB_NAME

        def _open() -> tuple[sqlite3.Connection, sqlite3.Connection, int]:
            directory.mkdir(parents=True, exist_ok=True)
            marker.check_present(directory, path, accept_empty)
            conn = connect(path)
            try:
                problems = quick_check(conn)
                if problems:
                    raise SpoolCorrupt(f"spool database {path} is damaged: "  # one line: a start-up refusal
                                       f"{'; '.join(' '.join(p.split()) for p in problems)}",
                                       recovery=RECOVERY)
                try:
                    _initialise(conn)
                except sqlite3.Error as exc:
                    # A full disk: free the ballast (kept for exactly this) and try once more, so
                    # the gateway can start and drain the spool.
                    if not (is_disk_full(exc) and release_ballast(directory)):
                        raise
                    _initialise(conn)
                page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                if max_size_bytes is not None:
                    conn.execute(f"PRAGMA max_page_count={max(1, max_size_bytes // page_size)}")
                if min_free_bytes:
                    conn.execute(f"PRAGMA wal_autocheckpoint={wal_checkpoint_pages(min_free_bytes, page_size)}")
                fsync_dir(directory)
                reader = connect(path)
                reader.execute("PRAGMA query_only=ON")
                pending = int(reader.execute(
                    "SELECT count(*) FROM messages WHERE state='pending'").fetchone()[0])
                marker.record(directory, pending)
            except BaseException:
                conn.close()
                raise
            return conn, reader, pending

        try:
            conn, reader, pending = await asyncio.to_thread(_open)
        except SpoolError:
            raise
        except sqlite3.Error as exc:
            if is_corruption(exc):
                raise SpoolCorrupt(f"spool database {path} is damaged: {exc}", recovery=RECOVERY) from exc
            if is_disk_full(exc):
                raise SpoolFull(f"cannot open spool in {directory}: {exc}") from exc
            raise SpoolError(f"cannot open spool in {directory}: {exc}") from exc
        except OSError as exc:
            raise SpoolError(f"cannot open spool in {directory}: {exc}") from exc
        guard = SpaceGuard(directory, min_free_bytes, max_size_bytes) if (
            min_free_bytes or max_size_bytes) else None
        spool: Spool
        db = SpoolDatabase(conn, guard, on_corrupt=lambda reason: spool._writer_found_damage(reason))
        spool = cls(directory, db, reader, handoff)
        log.info("spool.opened", directory=str(directory), pending=pending)
        return spool

    @property
    def problem(self) -> str | None:
        """Why the spool takes no more mail (damage found), or None while it is healthy."""
        return self._problem

    def _writer_found_damage(self, reason: str) -> None:
        # On the writer thread: a plain attribute write, read by the loop.
        self._note_damage(reason)

    def _note_damage(self, reason: str) -> None:
        if self._problem is None:
            self._problem = reason
            log.error("spool.damaged", directory=str(self.directory), error=reason,
                      action="refusing new mail with 451 4.3.0", recovery=RECOVERY)

    # -- plumbing ---------------------------------------------------------------------------------

    async def _write(self, op: Op | Put | Record, then: Sequence[Write] = ()) -> Any:
        """``op`` in the writer's next batch (with ``then`` to commit right after it)."""
        if self._closed:
            raise SpoolError("spool is closed")
        if not self._writer.is_alive():
            raise SpoolError("spool writer thread is not running")
        fut = self._writer.submit(self._writer.write(self._db, op, then))
        # Shielded: if the caller gives up waiting, the operation still completes (or fails) as one.
        return await asyncio.shield(fut)

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        if self._closed:
            raise SpoolError("spool is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._reader_pool, fn, self._reader)
        except sqlite3.Error as exc:
            if is_corruption(exc):
                self._note_damage(str(exc))
                raise SpoolCorrupt(f"spool is damaged: {exc}", recovery=RECOVERY) from exc
            raise SpoolError(f"spool cannot read: {exc}") from exc

    # -- the listener's API -----------------------------------------------------------------------

    async def put(self, mail_from: str, rcpt_tos: Sequence[str], data: bytes,
                  meta: Mapping[str, Any] | None = None, queue_id: str | None = None,
                  then: Sequence[Write] = ()) -> str:
        """Store a message; the queue id is returned only once bytes and envelope are on disk.

        ``queue_id``: one from new_queue_id() the listener already named in the Received header.
        ``then``: writes to another database of the writer (the state database's records of this
        message) that commit right after this put, in the same pass of the writer, and only if it
        committed (else they fail with ``NotCommitted``); their callers wait for them.

        Raises SpoolError if storage fails, ValueError for an envelope address with CR/LF/NUL or
        data with a bare CR or LF (the caller's bug: the listener rejects those first).
        """
        if not rcpt_tos:
            raise ValueError("a message needs at least one recipient")
        if self._problem is not None:
            raise SpoolCorrupt(f"spool is damaged: {self._problem}", recovery=RECOVERY)
        for address in (mail_from, *rcpt_tos):
            check_address(address)
        msg = NewMessage(mail_from, tuple(rcpt_tos), bytes(data), dict(meta or {}))
        # The data check (a regex over the whole message) runs on the writer thread, off the loop.
        now = time.time()
        result: str = await self._write(Put(queue_id or new_queue_id(), msg, now), then)
        if self._handoff:
            self._fresh.add(result, msg, now)
        return result

    def take_fresh(self, limit: int) -> list[str]:
        """Up to ``limit`` ids of messages put since the last call (for the one delivery service)."""
        return self._fresh.take(limit)

    @property
    def fresh_overflowed(self) -> bool:
        """More was put than the hand-off keeps: the delivery service looks in the database."""
        return self._fresh.overflowed

    @fresh_overflowed.setter
    def fresh_overflowed(self, value: bool) -> None:
        self._fresh.overflowed = value

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
        await release(self._writer, self._db)
        if self._problem is None:
            with contextlib.suppress(OSError, sqlite3.Error):
                pending = await asyncio.get_running_loop().run_in_executor(
                    self._reader_pool, _count_pending, self._reader)
                await asyncio.to_thread(marker.record, self.directory, pending)
        await asyncio.get_running_loop().run_in_executor(self._reader_pool, self._reader.close)
        self._reader_pool.shutdown(wait=False)
        log.info("spool.closed", directory=str(self.directory))

    # -- the delivery side ------------------------------------------------------------------------

    async def due(self, now: float, limit: int, exclude: set[str] | frozenset[str] = frozenset()
                  ) -> tuple[list[SpooledMessage], float | None]:
        """Pending messages whose next attempt is due (oldest first, with their content), and the
        earliest future attempt. One trip to the reader thread for the lot: the delivery service
        polls when another process put mail, and a trip per message cost as much as the query."""

        def fn(conn: sqlite3.Connection) -> tuple[list[SpooledMessage], float | None]:
            rows = conn.execute(
                "SELECT id FROM messages WHERE state='pending' AND next_attempt <= ? "
                "ORDER BY next_attempt LIMIT ?", (now, limit + len(exclude))).fetchall()
            ids = [r[0] for r in rows if r[0] not in exclude][:limit]
            nxt = conn.execute("SELECT min(next_attempt) FROM messages WHERE state='pending' "
                               "AND next_attempt > ?", (now,)).fetchone()[0]
            return [m for m in map(partial(_load, conn), ids) if m is not None], nxt

        result: tuple[list[SpooledMessage], float | None] = await self._read(fn)
        return result

    async def load(self, queue_id: str) -> SpooledMessage | None:
        """The message with its still-pending recipients; None if it is unknown or already done."""
        cached = self._fresh.get(queue_id)
        if cached is not None:
            return cached
        result: SpooledMessage | None = await self._read(partial(_load, queue_id=queue_id))
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
        dsn_id = new_queue_id() if dsn is not None else None
        self._fresh.forget(queue_id)
        result: str | None = await self._write(Record(queue_id, tuple(results), next_attempt, time.time(),
                                                      dsn, dsn_id))
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
        """Transactions committed to the spool so far (for the bench and tests of group commit)."""
        return self._db.commits


def _initialise(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)
    # A write transaction makes sure the -wal file exists; then the directory is fsync'd so the
    # database and its WAL survive a crash as directory entries too. The WAL file stays in place
    # while this connection is open (checkpoints reset, never unlink it).
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE IF NOT EXISTS spool_info (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT OR REPLACE INTO spool_info VALUES ('opened', ?)", (str(time.time()),))
    conn.execute("COMMIT")


def _load(conn: sqlite3.Connection, queue_id: str) -> SpooledMessage | None:
    row = conn.execute("SELECT mail_from, data, meta, arrived, attempts, next_attempt FROM messages "
                       "WHERE id=? AND state='pending'", (queue_id,)).fetchone()
    if row is None:
        return None
    rcpts = conn.execute("SELECT address, state, code, reply FROM recipients WHERE message_id=? "
                         "ORDER BY position", (queue_id,)).fetchall()
    results = tuple(RecipientResult(a, s, c, r) for a, s, c, r in rcpts)
    return SpooledMessage(queue_id, row[0], bytes(row[1]), json.loads(row[2]), row[3], row[4],
                          tuple(r.address for r in results if r.state == "pending"), results, row[5])


def _count_pending(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM messages WHERE state='pending'").fetchone()[0])
