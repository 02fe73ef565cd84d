"""Which state backend a config asks for: SQLite in the state directory, or a shared PostgreSQL."""

from __future__ import annotations

import re

from gateway.config import GatewayConfig
from gateway.store.base import Store
from gateway.store.sqlite import SQLiteStore


def make_store(config: GatewayConfig) -> Store:
    """The configured backend, not yet opened."""
    state = config.state
    if state.database is None:
        return SQLiteStore(config.state_dir)
    from gateway.store.postgres import PostgresStore

    return PostgresStore(state.database, min_size=state.pool_min_size, max_size=state.pool_max_size)


async def open_store(config: GatewayConfig) -> Store:
    """The configured backend, opened (PostgreSQL: its schema must be current, see ``gateway db``)."""
    return await make_store(config).open()


def redact_dsn(dsn: str) -> str:
    """A DSN fit for logs and output: any password replaced by ``***``."""
    dsn = re.sub(r"^(\w+://[^:/@]*):[^@]*@", r"\1:***@", dsn)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", dsn)


def describe(config: GatewayConfig) -> str:
    """Where the state is, for logs and ``gateway db status``."""
    if config.state.database is None:
        return f"sqlite:{config.state_dir / 'gateway.db'}"
    return redact_dsn(config.state.database)
