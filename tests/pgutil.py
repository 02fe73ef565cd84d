"""Throwaway PostgreSQL databases for tests, on the server named by ``GATEWAY_TEST_PG_DSN``.

That DSN is an admin connection (a role with CREATEDB); each test gets a database of its own,
dropped afterwards, so tests never see each other's rows and can run in parallel.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

ENV = "GATEWAY_TEST_PG_DSN"


def admin_dsn() -> str:
    """The admin DSN; without one the test fails under CI and is skipped elsewhere."""
    dsn = os.environ.get(ENV)
    if not dsn:
        if os.environ.get("CI"):
            pytest.fail(f"{ENV} not set (CI must run the PostgreSQL tests)")
        pytest.skip(f"{ENV} not set")
    return dsn


@contextmanager
def temporary_database(admin: str) -> Iterator[str]:
    """A new empty database; yields its DSN and drops it (with any open connections) on exit."""
    name = f"gw_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
