"""The PostgreSQL backend's core: the connection pool, the schema check, errors as ``StoreError``.

Every failure to reach the database arrives as ``StoreError`` (``DatabaseUnavailable``); a schema
older than this code as ``SchemaError``. The package docstring says how the operations stay
atomic across instances.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types.json import Json
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from gateway.store.base import StoreError
from gateway.store.migrate import LATEST_VERSION, read_version
from gateway.store.shared import SQLBackend
from gateway.store.sql import POSTGRES

Connection = psycopg.AsyncConnection[tuple[Any, ...]]


# While the database is known to be gone, how long an operation waits for a connection.
OUTAGE_ACQUIRE_TIMEOUT = 2.0
# How long the pool keeps retrying one failed connection (with doubling delays) before it gives
# the slot up; the next operation then starts a fresh attempt, without delay.
RECONNECT_TIMEOUT = 8.0
# Longest one store operation (connection, statements, commit) may take before it fails as
# DatabaseUnavailable; while the database is known to be gone, twice OUTAGE_ACQUIRE_TIMEOUT.
OPERATION_TIMEOUT = 30.0


class SchemaError(StoreError):
    """The database's schema is older than this gateway needs (or absent)."""

    def __init__(self, have: int, need: int) -> None:
        self.have = have
        self.need = need
        super().__init__(f"database schema is at version {have}, this gateway needs {need}:"
                         " run `gateway db upgrade`")


class DatabaseUnavailable(StoreError):
    """The database could not be reached (or the connection broke) during an operation."""


def _connection_lost(exc: psycopg.OperationalError) -> bool:
    """A failure of the connection (client side, SQLSTATE class 08, or the server shutting down
    or refusing connections, 57P0x), as opposed to a failed statement."""
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _json(value: Any) -> Json:
    # jsonb refuses the escape \u0000 as well: the same replacement as for text.
    return Json(value, dumps=lambda v: json.dumps(v, ensure_ascii=False).replace("\\u0000", "\\ufffd"))


class _NulSafeStrDumper(Dumper):
    """Strings as text parameters with NUL replaced by U+FFFD.

    PostgreSQL text cannot hold NUL, SQLite's can; a header with a raw NUL (any sender can send
    one) must not turn into an error that defers or loses the message on this backend only.
    """

    format = Format.TEXT
    oid = 0  # unknown: the server infers the type from the statement, as for psycopg's own str dumper

    def dump(self, obj: str) -> bytes:
        return obj.replace("\x00", "\ufffd").encode()


async def _configure(conn: Connection) -> None:
    conn.adapters.register_dumper(str, _NulSafeStrDumper)


class PostgresCore(SQLBackend):
    """The gateway's state in one PostgreSQL database, through a connection pool."""

    backend = "postgresql"
    dialect = POSTGRES

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10,
                 open_timeout: float = 30.0, acquire_timeout: float = 10.0,
                 outage_timeout: float = OUTAGE_ACQUIRE_TIMEOUT,
                 reconnect_timeout: float = RECONNECT_TIMEOUT,
                 operation_timeout: float = OPERATION_TIMEOUT) -> None:
        self.dsn = dsn
        self._open_timeout = open_timeout
        self._acquire_timeout = acquire_timeout
        self._operation_timeout = max(operation_timeout, acquire_timeout)
        self._outage_timeout = min(outage_timeout, acquire_timeout)
        # Set when an operation found the database gone, cleared by the next one that got a
        # connection: while it is set, callers wait only outage_timeout for one, so every SMTP
        # client hears 451 4.3.0 within seconds instead of each waiting the full acquire_timeout.
        self.unavailable_since: float | None = None
        self._lent = 0  # connections this process holds right now
        # autocommit: a read is one round trip; writes open their own transaction block.
        # check: a connection is tested as it leaves the pool, so after a database restart or a
        # failover behind a proxy no message fails on a connection that died meanwhile.
        # acquire_timeout: with the database gone, an operation fails (and the SMTP client hears
        # 451 4.3.0) well inside the client's own DATA timeout instead of hanging.
        # reconnect_timeout: the pool retries a failed connection with doubling delays until this
        # much time has passed, then gives the slot up, and the next caller starts a fresh attempt
        # at once. psycopg_pool's default (5 minutes) let the delays grow to a minute and more, so
        # mail kept getting 451 for as long again after the database was back (found with a
        # private server stopped under load, tests/e2e/test_postgres_faults.py).
        self._pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            dsn, min_size=min_size, max_size=max_size, open=False, kwargs={"autocommit": True}, configure=_configure,
            name="gateway-store", check=AsyncConnectionPool.check_connection, timeout=acquire_timeout,
            reconnect_timeout=reconnect_timeout)
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    async def _open(self) -> None:
        """Connect and check the schema.

        Raises ``SchemaError`` when the schema is behind this code, ``StoreError`` when the
        database cannot be reached or used (with libpq's reason: refused, bad password, ...).
        """
        # One plain connection first: a failure says why, where the pool would only time out.
        try:
            async with await psycopg.AsyncConnection.connect(
                    self.dsn, autocommit=True, connect_timeout=max(1, round(self._open_timeout))) as conn:
                version = await read_version(conn)
        except psycopg.Error as exc:
            raise StoreError(f"cannot use the PostgreSQL database: {exc}".rstrip()) from exc
        if version < LATEST_VERSION:
            raise SchemaError(version, LATEST_VERSION)
        try:
            await self._pool.open(wait=True, timeout=self._open_timeout)
        except PoolTimeout as exc:
            await self._pool.close()
            raise StoreError(f"cannot use the PostgreSQL database: {exc}") from exc
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self._loop = None
        await self._pool.close()

    @property
    def is_open(self) -> bool:
        return self._loop is not None and not self._pool.closed

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; losing the database is a ``StoreError`` (``DatabaseUnavailable``),
        so callers handle it as they handle any unusable store."""
        down = self.unavailable_since is not None
        timeout = self._outage_timeout if down else self._acquire_timeout
        # The whole operation has a deadline too: a server that accepts and never answers (hung,
        # stopped with SIGSTOP, a network path that drops packets) held SMTP clients for the
        # listener's 10-minute DATA timeout, each. Cancelling a psycopg query makes psycopg try a
        # server-side cancel, then the pool discards the connection.
        deadline = 2 * self._outage_timeout if down else self._operation_timeout
        try:
            async with asyncio.timeout(deadline), self._pool.connection(timeout=timeout) as conn:
                self.unavailable_since = None
                self._lent += 1
                try:
                    yield conn
                finally:
                    self._lent -= 1
        except TimeoutError as exc:
            self._note_unavailable()
            raise DatabaseUnavailable(f"PostgreSQL did not answer within {deadline:g} s") from exc
        except PoolTimeout as exc:
            if self._lent == 0:  # nobody holds a connection: the database is gone, not just busy
                self._note_unavailable()
            raise DatabaseUnavailable(f"PostgreSQL unavailable: {exc}".rstrip()) from exc
        except psycopg.OperationalError as exc:
            if not _connection_lost(exc):
                raise  # a deadlock, a cancelled statement, a lock timeout: the statement failed
            self._note_unavailable()
            raise DatabaseUnavailable(f"PostgreSQL unavailable: {exc}".rstrip()) from exc

    def _note_unavailable(self) -> None:
        if self.unavailable_since is None:
            self.unavailable_since = time.monotonic()

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """A session-level advisory lock, on a connection of its own (not the pool's: a long
        holder must not take one of the connections mail needs), held for the block. Closing that
        connection releases the lock, also when this instance dies."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True,
                                                         connect_timeout=max(1, round(self._open_timeout)))
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"PostgreSQL unavailable: {exc}".rstrip()) from exc
        try:
            cur = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (name,))
            row = await cur.fetchone()
            yield bool(row and row[0])
        finally:
            await conn.close()

    async def schema_version(self) -> int:
        async with self._connection() as conn:
            return await read_version(conn)

    async def _fetchone(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        async with self._connection() as conn:
            cur = await conn.execute(sql, args)
            return await cur.fetchone()

    async def _fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            cur = await conn.execute(sql, args)
            return await cur.fetchall()

    async def _execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        async with self._connection() as conn:
            await conn.execute(sql, args)

    async def _execute_returning(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return await self._fetchone(sql, args)

    def _decode(self, value: Any) -> Any:
        return value  # jsonb and arrays arrive as Python values
