"""The ``store`` fixture the store tests share: each test runs against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.store.base import Store
from gateway.store.migrate import upgrade
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened: Store
    if request.param == "sqlite":
        opened = await SQLiteStore(tmp_path / "state").open()
    else:
        dsn: str = request.getfixturevalue("pg_dsn")
        await upgrade(dsn)
        opened = await PostgresStore(dsn, max_size=4).open()
    yield opened
    if opened.is_open:
        await opened.close()
