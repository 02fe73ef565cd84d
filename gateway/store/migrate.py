"""Schema migrations for the PostgreSQL backend (``gateway db upgrade``).

The rule: migrations run while other gateway instances keep serving on the same database, so
every migration is additive (expand only): new tables, new nullable or defaulted columns, new
indexes, new constraints that existing rows and the running code already satisfy. A running
instance must never meet a shape it does not understand. Dropping or renaming a column or table,
or tightening a constraint the old code may violate, is a destructive change: it ships only in a
release after the one that stopped using the old shape, once no instance runs the old code.
``PostgresStore.open`` accepts any schema at or above ``LATEST_VERSION`` for the same reason: a
newer schema is an expanded one.

Each migration is ``pg_migrations/NNNN_name.sql`` and runs in its own transaction holding a
transaction-level advisory lock; under the lock it checks ``schema_migrations`` again, so
several upgraders started at once apply each migration exactly once. Inside a migration,
``lock_timeout`` is set: a DDL statement that waits behind a long transaction fails (and can be
retried) instead of queueing every query of the serving instances behind its own lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

LATEST_VERSION: int = 5
"""The schema version this code needs: the highest migration shipped with it."""

ADVISORY_LOCK_KEY = 4274281931038900250
"""``pg_advisory_xact_lock`` key held while a migration runs (first 8 bytes of
sha256("seller-mail-gateway schema migrations"), signed)."""

CONNECT_TIMEOUT = 10
"""Seconds ``gateway db`` waits for the server to answer (libpq's default is to wait forever)."""

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The shipped migrations, oldest first."""
    found: dict[int, Migration] = {}
    for entry in resources.files("gateway.store").joinpath("pg_migrations").iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations numbered {version}: {found[version].name}, {entry.name}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def read_version(conn: psycopg.AsyncConnection[Any]) -> int:
    """The schema version of the database behind ``conn`` (0 when it has none)."""
    cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return 0
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def current_version(dsn: str) -> int:
    """The schema version of the database at ``dsn``: 0 for an empty database."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        return await read_version(conn)


async def upgrade(dsn: str, *, lock_timeout: float = 10.0, target: int | None = None) -> list[int]:
    """Apply the pending migrations (up to ``target``, default all); return the versions this call
    applied (oldest first).

    ``lock_timeout`` (seconds) bounds how long one DDL statement waits for a table lock.
    """
    applied: list[int] = []
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        have = await read_version(conn)
        for migration in migrations():
            if migration.version <= have or (target is not None and migration.version > target):
                continue
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
                await conn.execute(_BOOTSTRAP)
                cur = await conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s",
                                         (migration.version,))
                if await cur.fetchone() is not None:
                    continue  # another upgrader applied it while we waited for the lock
                # After the advisory lock: lock_timeout must not cut short the wait for a peer upgrader.
                await conn.execute("SELECT set_config('lock_timeout', %s, true)",
                                   (f"{int(lock_timeout * 1000)}ms",))
                await conn.execute(migration.sql.encode())
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                   (migration.version, migration.name))
            applied.append(migration.version)
    return applied
