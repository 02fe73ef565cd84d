"""State on SQLite: one file in the state directory, the embedded default backend.

``SQLiteStore`` is the core (gateway/store/sqlite/core.py: the connection, the writer thread and
its group commits) with the operations both backends share (gateway/store/shared.py: counters,
the registry, lists) and one module per role for what is SQLite's own (relays, notices and their
evidence files, quarantined bytes, decisions). Callers await the ``Store``
methods; the policy engine reads through ``StorePolicyState`` in its worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.store.disagreements import SharedDisagreements
from gateway.store.records import REVIEW_COUNTER, AliasStatus
from gateway.store.shared import SharedCounters, SharedRegistry
from gateway.store.sqlite import portable
from gateway.store.sqlite.core import SCHEMA_VERSION
from gateway.store.sqlite.journal import SQLiteJournal
from gateway.store.sqlite.notices import SQLiteNotices
from gateway.store.sqlite.portable import FilePolicyState
from gateway.store.sqlite.quarantine import SQLiteQuarantine
from gateway.store.sqlite.relays import SQLiteRelays
from gateway.store.sqlite_review import SQLiteReviewQueries

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "StorePolicyState"]


class SQLiteStore(SharedCounters, SharedRegistry, SQLiteRelays, SQLiteNotices, SQLiteQuarantine, SQLiteJournal,
                  SQLiteReviewQueries, SharedDisagreements):
    """The gateway's state in ``<state>/gateway.db`` plus quarantined bytes in ``<state>/quarantine``."""

    async def open(self) -> SQLiteStore:
        await self._run(self._open)
        return self

    async def open_readonly(self) -> SQLiteStore:
        await super().open_readonly()
        return self

    async def close(self) -> None:
        self._close_review()
        await super().close()

    async def policy_state(self, tenant: str = "", aliases: Sequence[str] = ()) -> StorePolicyState:
        # Reads from the evaluating thread go through its own WAL reader: nothing to read ahead.
        return StorePolicyState(self, tenant)


class StorePolicyState:
    """The policy engine's view of state, read from the store in the evaluating thread."""

    REVIEW_COUNTER = REVIEW_COUNTER

    def __init__(self, store: SQLiteStore, tenant: str = "") -> None:
        self._store = store
        self.tenant = tenant

    def portable(self) -> FilePolicyState:
        """The same answers for a policy worker process, read there from the file."""
        return FilePolicyState(str(self._store.db_path), self.tenant)

    def review_requests(self, order_id: str) -> int:
        return portable.review_requests(self._store._reader(), self.tenant, order_id)

    def alias_status(self, alias: str) -> AliasStatus | None:
        return portable.alias_status(self._store._reader(), self.tenant, alias)
