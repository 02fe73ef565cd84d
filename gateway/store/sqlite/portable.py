"""The SQLite policy-state view for another process: the policy engine's worker (gateway/evaluation.py)
reads the state database itself, read-only, instead of asking the gateway back over its pipe."""

from __future__ import annotations

import sqlite3
import threading

from gateway.store import sql
from gateway.store.records import REVIEW_COUNTER, AliasStatus

_connections: dict[str, sqlite3.Connection] = {}
_lock = threading.Lock()


class FilePolicyState:
    """What ``StorePolicyState`` answers, from the database file by path (picklable: a path and a tenant)."""

    def __init__(self, db_path: str, tenant: str = "") -> None:
        self.db_path = db_path
        self.tenant = tenant
        self._aliases: dict[str, AliasStatus | None] = {}  # one evaluation asks for an alias per check

    def _reader(self) -> sqlite3.Connection:
        """This process's read-only connection to the file (a WAL reader: it never blocks the writer)."""
        with _lock:
            conn = _connections.get(self.db_path)
            if conn is None:
                conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout=5000")
                _connections[self.db_path] = conn
            return conn

    def review_requests(self, order_id: str) -> int:
        return review_requests(self._reader(), self.tenant, order_id)

    def alias_status(self, alias: str) -> AliasStatus | None:
        key = alias.lower()
        if key not in self._aliases:
            self._aliases[key] = alias_status(self._reader(), self.tenant, key)
        return self._aliases[key]


def review_requests(conn: sqlite3.Connection, tenant: str, order_id: str) -> int:
    row = conn.execute(sql.order_counter(sql.SQLITE), (tenant, order_id, REVIEW_COUNTER)).fetchone()
    return int(row[0]) if row else 0


def alias_status(conn: sqlite3.Connection, tenant: str, alias: str) -> AliasStatus | None:
    row = conn.execute(sql.alias_status(sql.SQLITE), (tenant, alias.lower())).fetchone()
    if row is None:
        return None
    status: AliasStatus = row[0]
    return status
