"""State on PostgreSQL, shared by several gateway instances.

Same records and semantics as ``SQLiteStore``; what differs is that other instances write at the
same time. Every operation that reads and then writes is one statement that decides atomically
(an upsert, a conditional ``UPDATE ... RETURNING``) or locks what it read (``FOR UPDATE``), in a
short transaction. Rows several writers lock are locked in sorted order, so two transactions never
wait for each other. Quarantined messages and notice evidence are kept in the database, so any
instance can release or show them. Times are the database's clock (epoch seconds), so instances
with skewed clocks still agree on which record is newer.

``PostgresStore`` is the core (pool, schema check, errors) with the operations both backends share
(gateway/store/shared.py) and one module per role for what is PostgreSQL's own. The schema is
managed by ``gateway.store.migrate`` (``gateway db upgrade``); ``open`` refuses a database whose
schema is older than this code.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.store.base import LoopPolicyState
from gateway.store.disagreements import SharedDisagreements
from gateway.store.postgres.core import DatabaseUnavailable, SchemaError
from gateway.store.postgres.journal import PostgresJournal
from gateway.store.postgres.notices import PostgresNotices
from gateway.store.postgres.quarantine import PostgresQuarantine
from gateway.store.postgres.relays import PostgresRelays
from gateway.store.postgres_review import PostgresReviewQueries
from gateway.store.shared import SharedCounters, SharedRegistry

__all__ = ["DatabaseUnavailable", "PostgresStore", "SchemaError"]


class PostgresStore(SharedCounters, SharedRegistry, PostgresRelays, PostgresNotices, PostgresQuarantine,
                    PostgresJournal, PostgresReviewQueries, SharedDisagreements):
    _search = "(alias ILIKE {p} ESCAPE '\\' OR order_id ILIKE {p} ESCAPE '\\')"  # as SQLite's LIKE

    async def open(self) -> PostgresStore:
        """Connect and check the schema.

        Raises ``SchemaError`` when the schema is behind this code, ``StoreError`` when the
        database cannot be reached or used (with libpq's reason: refused, bad password, ...).
        """
        await self._open()
        return self

    async def policy_state(self, tenant: str = "", aliases: Sequence[str] = ()) -> LoopPolicyState:
        if self._loop is None:
            raise RuntimeError("store is not open")
        # The message's aliases are read here, in one query: the evaluating thread would otherwise
        # hold a worker while it waits on the database for each.
        return await LoopPolicyState.read_ahead(self, tenant, aliases)
