"""One writer thread per process for the SQLite databases it writes (the spool, the state
database): every write goes through it, and it group-commits.

A write is an operation on a database's connection. Writes submitted from an event loop in the
same loop iteration reach the thread as one hand-off (waking a thread costs a GIL switch on a busy
loop, so it happens once per iteration, not per write), and the thread takes whatever is queued
as one batch: per database, one transaction and one commit (one fsync of its WAL) for all of the
batch's writes to it, then each caller's future is resolved, as soon as that database's commit
returned. How a batch runs inside its transaction is the database's own (``Database.commit``):
the spool (gateway/spool/writer.py) turns its puts into multi-row inserts and refuses them when
space is short; the state database (gateway/store/sqlite/core.py) runs each write in a savepoint.

A write may have followers, writes to another database that run only once it committed, in the
same batch: the pipeline submits a message's relay record and decision with its spool put, so one
hand-off and one pass of the thread commit the put and then the records (the put's caller hears of
its commit first). A follower of a write that failed fails with ``NotCommitted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.log import get_logger

log = get_logger("gateway.group_commit")

# How many writes one pass takes at most; bounds the latency of the first one.
MAX_BATCH = 512

Op = Callable[[sqlite3.Connection], Any]
Outcome = tuple[bool, Any]
"""(True, result) or (False, the exception the caller gets)."""


class NotCommitted(Exception):
    """A follower's write did not run: the write it follows failed."""


class Database:
    """A database the writer commits to: its write connection and how a batch runs on it."""

    urgent = False
    """Committed first in a pass: its callers wait for it to answer SMTP (the spool's puts)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.commits = 0
        """Transactions committed so far (for the bench and the tests of group commit)."""

    def commit(self, ops: Sequence[Any]) -> list[Outcome]:
        """Run ``ops`` in one transaction and commit it; one outcome per op, in order. Called on
        the writer thread only. An exception fails every op of the batch."""
        raise NotImplementedError

    def close(self) -> None:
        self.conn.close()


def in_savepoint(conn: sqlite3.Connection, run: Callable[[], Any],
                 catch: tuple[type[BaseException], ...]) -> Outcome:
    """``run()`` inside a savepoint of the open transaction: what it raises of ``catch`` undoes
    only its own changes and becomes its outcome; anything else propagates (the batch fails)."""
    conn.execute("SAVEPOINT op")
    try:
        result = run()
    except catch as exc:
        conn.execute("ROLLBACK TO op")
        outcome: Outcome = (False, exc)
    else:
        outcome = (True, result)
    conn.execute("RELEASE op")
    return outcome


@dataclass(eq=False, slots=True)
class Write:
    """One submitted write and who waits for it."""

    db: Database
    op: Any
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    followers: tuple[Write, ...] = ()


class _Calls(Database):
    """Functions run on the writer thread after the batch's commits (closing a database)."""

    def __init__(self) -> None:
        pass

    def commit(self, ops: Sequence[Any]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for fn in ops:
            try:
                outcomes.append((True, fn()))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes

    def close(self) -> None:
        pass


class GroupCommitWriter(threading.Thread):
    """The thread that owns every write connection of the process; see the module docstring."""

    def __init__(self) -> None:
        super().__init__(name="sqlite-writer", daemon=True)
        self._queue: queue.SimpleQueue[list[Write] | None] = queue.SimpleQueue()
        self._buffers: dict[asyncio.AbstractEventLoop, list[Write]] = {}
        self._lock = threading.Lock()
        self._calls = _Calls()
        self.users = 0
        self.passes = 0
        """Batches taken so far (for the tests: what commits in one pass)."""

    # -- the event loop's side --------------------------------------------------------------------
    def write(self, db: Database, op: Any, followers: Sequence[Write] = ()) -> Write:
        """A write of ``op`` to ``db``, not yet submitted (``submit``); on the running loop."""
        loop = asyncio.get_running_loop()
        return Write(db, op, loop, loop.create_future(), tuple(followers))

    def submit(self, write: Write) -> asyncio.Future[Any]:
        """Queue ``write`` for this loop iteration's hand-off; its future resolves once committed."""
        loop = write.loop
        with self._lock:
            buffer = self._buffers.get(loop)
            if buffer is None:
                buffer = self._buffers[loop] = []
                loop.call_soon(self._hand_off, loop)
            buffer.append(write)
        return write.future

    async def run_after_writes(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on the writer thread once everything submitted before it is committed."""
        self._hand_off(asyncio.get_running_loop())
        return await self.submit(self.write(self._calls, fn))

    def _hand_off(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            batch = self._buffers.pop(loop, None)
        if batch:
            self._queue.put(batch)

    def stop(self) -> None:
        self._queue.put(None)

    # -- the writer thread --------------------------------------------------------------------------
    def run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            batch: list[Write] = []
            while True:
                if item is None:
                    stop = True  # stop() comes after the last user is gone
                    break
                batch.extend(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self.passes += 1
                self._run_batch(batch)

    def _run_batch(self, batch: list[Write]) -> None:
        # One transaction per database, in the order the batch names them, but the urgent ones
        # and those whose writes have followers first (so the followers join their own
        # database's transaction of this pass), and the calls last (after the commits submitted
        # before them).
        groups: dict[Database, list[Write]] = {}
        for write in batch:
            groups.setdefault(write.db, []).append(write)
        order = sorted(groups, key=lambda db: (db is self._calls, not db.urgent,
                                               not any(w.followers for w in groups[db])))
        done: set[Database] = set()
        i = 0
        while i < len(order):
            db = order[i]
            i += 1
            writes = groups[db]
            outcomes = self._commit(db, writes)
            done.add(db)
            for write, (ok, value) in zip(writes, outcomes, strict=True):
                for follower in write.followers:
                    if not ok:
                        self._resolve([follower], [(False, NotCommitted(f"not committed: {value}"))])
                    elif follower.db in groups and follower.db not in done:
                        groups[follower.db].append(follower)
                    else:  # its database has no transaction left in this pass: one more, next
                        groups[follower.db] = [follower]
                        done.discard(follower.db)
                        order.insert(i, follower.db)
            self._resolve(writes, outcomes)

    def _commit(self, db: Database, writes: list[Write]) -> list[Outcome]:
        try:
            return db.commit([w.op for w in writes])
        except Exception as exc:
            # A bug or a failure the database did not turn into outcomes: this batch fails, its
            # callers hear so, and the writer lives on (a dead writer leaves everyone waiting).
            log.exception("writer.batch_failed", batch=len(writes))
            return [(False, exc)] * len(writes)

    @staticmethod
    def _resolve(writes: Sequence[Write], outcomes: Sequence[Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for write, (ok, value) in zip(writes, outcomes, strict=True):
            by_loop.setdefault(write.loop, []).append((write.future, ok, value))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, items)


def _settle(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in items:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


_shared: GroupCommitWriter | None = None
_shared_lock = threading.Lock()


def shared_writer() -> GroupCommitWriter:
    """The process's writer (started at its first user); pair with ``release``."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.is_alive():
            _shared = GroupCommitWriter()
            _shared.start()
        _shared.users += 1
        return _shared


async def release(writer: GroupCommitWriter, db: Database) -> None:
    """Close ``db`` once its submitted writes are committed; the last user stops the thread."""
    global _shared
    try:
        if writer.is_alive():
            await writer.run_after_writes(db.close)
        else:  # nothing will write to it any more
            db.close()
    finally:
        with _shared_lock:
            writer.users -= 1
            last = writer.users <= 0
            if last and _shared is writer:
                _shared = None
        if last:
            writer.stop()
            await asyncio.to_thread(writer.join)
