"""The PostgreSQL backend's core: the connection pool, the schema check, errors as ``StoreError``.

Every failure to reach the database arrives as ``StoreError`` (``DatabaseUnavailable``); a schema
older than this code as ``SchemaError``. The package docstring says how the operations stay
atomic across instances.
"""

from __future__ import annotations

import asyncio
import json
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
                 open_timeout: float = 30.0, acquire_timeout: float = 10.0) -> None:
        self.dsn = dsn
        self._open_timeout = open_timeout
        # autocommit: a read is one round trip; writes open their own transaction block.
        # check: a connection is tested as it leaves the pool, so after a database restart or a
        # failover behind a proxy no message fails on a connection that died meanwhile.
        # acquire_timeout: with the database gone, an operation fails (and the SMTP client hears
        # 451 4.3.0) well inside the client's own DATA timeout instead of hanging.
        self._pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            dsn, min_size=min_size, max_size=max_size, open=False, kwargs={"autocommit": True}, configure=_configure,
            name="gateway-store", check=AsyncConnectionPool.check_connection, timeout=acquire_timeout)
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
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"PostgreSQL unavailable: {exc}".rstrip()) from exc
        except psycopg.OperationalError as exc:
            if not _connection_lost(exc):
                raise  # a deadlock, a cancelled statement, a lock timeout: the statement failed
            raise DatabaseUnavailable(f"PostgreSQL unavailable: {exc}".rstrip()) from exc

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
