"""How the spool's writes commit: every queued operation of a batch in one transaction.

The thread, its queue and the batching are the process's one writer (gateway/group_commit.py,
shared with the state database); this is the spool's part of it. Concurrent puts are
group-committed: a batch's puts become two multi-row inserts, its delivery results (``Record``) a
few statements for all of them, its other operations run one by one, all in one transaction,
committed once (one fsync of the WAL). Before a batch's puts it asks the
space guard whether there is room; operations that record delivery results are never refused for
space (see ``space``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from gateway.group_commit import Database, Outcome, in_savepoint
from gateway.log import get_logger
from gateway.spool.errors import SpoolCorrupt, SpoolError, SpoolFull
from gateway.spool.integrity import is_corruption, is_disk_full
from gateway.spool.records import NewMessage, RecipientResult, check_data
from gateway.spool.space import SpaceGuard

log = get_logger("gateway.spool")

RECOVERY = "stop the gateway, then run `gateway spool salvage`"

SCHEMA = """
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


Op = Callable[[sqlite3.Connection], Any]


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # Big blobs can swell the WAL; after a checkpoint, truncate it back to this size.
    conn.execute("PRAGMA journal_size_limit=67108864")
    return conn


INSERT_MESSAGE = ("INSERT INTO messages (id, mail_from, data, meta, arrived, next_attempt) "
                   "VALUES (?,?,?,?,?,?)")
INSERT_RECIPIENT = "INSERT INTO recipients (message_id, position, address) VALUES (?,?,?)"


@dataclass(frozen=True)
class Put:
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


UPDATE_RECIPIENT = ("UPDATE recipients SET state=?, code=?, reply=?, updated=? "
                    "WHERE message_id=? AND address=? AND state='pending'")
RETRY_LATER = "UPDATE messages SET attempts=attempts+1, next_attempt=? WHERE id=?"
FINISH = "UPDATE messages SET attempts=attempts+1, state='done', data=NULL, finished=? WHERE id=?"


@dataclass(frozen=True)
class Record:
    """One delivery attempt's results for the writer: recipients' states, the attempt counter, the
    message ``done`` (bytes dropped) once no recipient is pending, and its DSN (``dsn_id``) if any.
    A batch's records run as a handful of statements for all of them, not five per message."""

    queue_id: str
    results: tuple[RecipientResult, ...]
    next_attempt: float | None
    now: float
    dsn: NewMessage | None = None
    dsn_id: str | None = None


def record(conn: sqlite3.Connection, records: Sequence[Record]) -> None:
    """Apply ``records`` inside the open transaction."""
    conn.executemany(UPDATE_RECIPIENT, [(r.state, r.code, r.reply, rec.now, rec.queue_id, r.address)
                                        for rec in records for r in rec.results])
    ids = list({rec.queue_id for rec in records})
    pending: set[str] = set()
    for start in range(0, len(ids), 500):  # under SQLite's limit of host parameters
        chunk = ids[start:start + 500]
        pending.update(row[0] for row in conn.execute(
            "SELECT DISTINCT message_id FROM recipients WHERE state='pending' "
            f"AND message_id IN ({','.join('?' * len(chunk))})", chunk))
    conn.executemany(RETRY_LATER, [(rec.next_attempt if rec.next_attempt is not None else rec.now, rec.queue_id)
                                   for rec in records if rec.queue_id in pending])
    conn.executemany(FINISH, [(rec.now, rec.queue_id) for rec in records if rec.queue_id not in pending])
    for rec in records:
        if rec.dsn is not None and rec.dsn_id is not None:
            insert(conn, rec.dsn_id, rec.dsn, rec.now)


def insert(conn: sqlite3.Connection, queue_id: str, msg: NewMessage, now: float) -> None:
    put = Put(queue_id, msg, now)
    conn.execute(INSERT_MESSAGE, put.message_row())
    conn.executemany(INSERT_RECIPIENT, put.recipient_rows())


class SpoolDatabase(Database):
    """The spool's write connection, as the process's writer commits to it."""

    urgent = True  # a put's caller answers SMTP when it commits

    def __init__(self, conn: sqlite3.Connection, guard: SpaceGuard | None = None,
                 on_corrupt: Callable[[str], None] | None = None) -> None:
        super().__init__(conn)
        self._guard = guard
        self._on_corrupt = on_corrupt
        self.corrupt: str | None = None

    def commit(self, ops: Sequence[Op | Put | Record]) -> list[Outcome]:
        batch = list(ops)
        refusal: SpoolError | None = None
        if self.corrupt is not None:
            refusal = SpoolCorrupt(f"spool is damaged: {self.corrupt}", recovery=RECOVERY)
        elif self._guard is not None and any(isinstance(op, Put) for op in batch):
            try:
                refusal = self._guard.refusal(self.conn)
            except (OSError, sqlite3.Error) as exc:
                refusal = SpoolError(f"spool cannot check its free space: {exc}")
        try:
            outcomes = self._commit(batch, refusal)
            if outcomes is None:  # disk full, and the ballast was freed: once more, with room
                outcomes = self._commit(batch, refusal, retry=False)
        except Exception as exc:
            # Whatever went wrong while handling a failed commit (the state directory gone from
            # under us, say): this batch fails, its callers hear so, and the writer lives on.
            log.exception("spool.batch_failed", batch=len(batch))
            outcomes = [(False, SpoolError(f"spool write failed: {exc!r}"))] * len(batch)
        assert outcomes is not None
        return outcomes

    def _commit(self, batch: list[Op | Put | Record], refusal: SpoolError | None, retry: bool = True
                ) -> list[Outcome] | None:
        conn = self.conn
        try:
            try:
                outcomes = self._fast(batch, refusal)
            except sqlite3.IntegrityError:
                # Something in the batch conflicts (say, a queue id collision): redo it with a
                # savepoint per operation so only the offender fails.
                conn.execute("ROLLBACK")
                outcomes = self._careful(batch, refusal)
            conn.execute("COMMIT")
            self.commits += 1
            return outcomes
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            log.error("spool.commit_failed", error=str(exc), batch=len(batch))
            error: SpoolError
            if is_corruption(exc):
                self._mark_corrupt(str(exc))
                error = SpoolCorrupt(f"spool is damaged: {exc}", recovery=RECOVERY)
            elif is_disk_full(exc):
                if retry and (self._truncate_wal() or (self._guard is not None and self._guard.on_disk_full())):
                    return None
                error = SpoolFull(f"spool cannot store: {exc}")
            else:
                error = SpoolError(f"spool cannot store: {exc}")
            return [(False, error)] * len(batch)
        except Exception as exc:  # a bug in an operation: fail this batch, keep the writer alive
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            log.exception("spool.batch_failed", batch=len(batch))
            return [(False, SpoolError(f"spool write failed: {exc!r}"))] * len(batch)

    def _truncate_wal(self) -> bool:
        """Checkpoint the WAL into the database and cut it to zero: the first room to find."""
        try:
            busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error:
            return False
        if busy:
            return False
        log.warning("spool.wal_truncated_for_space")
        return True

    def _mark_corrupt(self, reason: str) -> None:
        if self.corrupt is None:
            self.corrupt = reason
            if self._on_corrupt is not None:
                self._on_corrupt(reason)

    def _fast(self, batch: list[Op | Put | Record], refusal: SpoolError | None) -> list[Outcome]:
        """All puts of the batch as two executemany statements; other operations one by one.

        Few Python-level round trips per put matter: the writer competes with the event loop for
        the GIL, and every reacquisition can cost a switch interval.
        """
        conn = self.conn
        outcomes: list[Outcome] = []
        messages: list[tuple[Any, ...]] = []
        recipients: list[tuple[str, int, str]] = []
        records: list[Record] = []
        conn.execute("BEGIN IMMEDIATE")
        for op in batch:
            if isinstance(op, Record):
                records.append(op)
                outcomes.append((True, op.dsn_id))
            elif isinstance(op, Put):
                if refusal is not None:
                    outcomes.append((False, refusal))
                    continue
                try:
                    check_data(op.msg.data)
                except ValueError as exc:
                    outcomes.append((False, exc))
                    continue
                messages.append(op.message_row())
                recipients.extend(op.recipient_rows())
                outcomes.append((True, op.queue_id))
            else:
                outcomes.append(in_savepoint(conn, partial(op, conn), (ValueError, KeyError)))
        if records:
            record(conn, records)
        if messages:
            conn.executemany(INSERT_MESSAGE, messages)
            conn.executemany(INSERT_RECIPIENT, recipients)
        return outcomes

    def _careful(self, batch: list[Op | Put | Record], refusal: SpoolError | None) -> list[Outcome]:
        conn = self.conn
        outcomes: list[Outcome] = []
        conn.execute("BEGIN IMMEDIATE")
        for op in batch:
            if isinstance(op, Put) and refusal is not None:
                outcomes.append((False, refusal))
            else:
                outcomes.append(in_savepoint(conn, partial(_apply, conn, op),
                                             (sqlite3.IntegrityError, ValueError, KeyError)))
        return outcomes


def _apply(conn: sqlite3.Connection, op: Op | Put | Record) -> Any:
    if isinstance(op, Record):
        record(conn, [op])
        return op.dsn_id
    if isinstance(op, Put):
        check_data(op.msg.data)
        conn.execute(INSERT_MESSAGE, op.message_row())
        conn.executemany(INSERT_RECIPIENT, op.recipient_rows())
        return op.queue_id
    return op(conn)
