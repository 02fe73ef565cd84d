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


async def open_store_readonly(config: GatewayConfig) -> Store | None:
    """The configured backend opened for reading only, creating nothing (``gateway check``); None
    when the SQLite state does not exist yet (nothing recorded: the same as an empty store)."""
    store = make_store(config)
    if isinstance(store, SQLiteStore):
        if not store.db_path.exists():
            return None
        return await store.open_readonly()
    return await store.open()


_SECRETS = ("password", "sslpassword")


def redact_dsn(dsn: str) -> str:
    """A DSN fit for logs and output: a URI keeps its form with the password shown as ``***``;
    anything else is parsed as libpq does and written back without its secrets."""
    uri = re.fullmatch(r"(postgres(?:ql)?://)([^@/?#]*@)?([^?#]*)(\?[^#]*)?", dsn)
    if uri is not None and not re.search(r"(?i)(^|[?&])(ssl)?password=", uri.group(4) or ""):
        scheme, userinfo, rest, query = uri.group(1), uri.group(2) or "", uri.group(3), uri.group(4) or ""
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***@"
        return f"{scheme}{userinfo}{rest}{query}"
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(dsn)
    except Exception:
        return "(unparsable connection string)"
    shown = {k: ("***" if k in _SECRETS else v) for k, v in params.items() if v is not None}
    return make_conninfo("", **shown)


def describe(config: GatewayConfig) -> str:
    """Where the state is, for logs and ``gateway db status``."""
    if config.state.database is None:
        return f"sqlite:{config.state_dir / 'gateway.db'}"
    return redact_dsn(config.state.database)
