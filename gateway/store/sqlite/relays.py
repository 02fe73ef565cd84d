"""SQLite: relay records (what went to which alias, for which orders), per-order counters and
the daily sending caps."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from gateway.store import sql
from gateway.store.disagreements import prune_relayed
from gateway.store.shared import SharedRelays
from gateway.store.sql import SQLITE as D
from gateway.store.sqlite.core import SQLiteCore


class SQLiteRelays(SharedRelays, SQLiteCore):
    async def record_relay(self, queue_id: str, message_id: str, recipients: Sequence[tuple[str, str]],
                           order_ids: Sequence[str], tags: Iterable[str], counters: Sequence[str] = (),
                           *, tenant: str = "") -> None:
        tag_text, order_text = " ".join(sorted(tags)), " ".join(order_ids)
        orders, counted = tuple(order_ids), tuple(counters)

        def write(conn: sqlite3.Connection) -> None:
            for alias, marketplace in recipients:
                relay_id = conn.execute(sql.insert_relay(D), (tenant, queue_id, message_id, alias, marketplace,
                                                              order_text, tag_text)).fetchone()[0]
                for order_id in orders:
                    conn.execute(sql.insert_relay_order(D), (order_id, marketplace, relay_id))
            for order_id in orders:
                for counter in counted:
                    conn.execute(sql.bump_counter(D), (tenant, order_id, counter))

        await self._write(write)

    async def prune(self, *, relays_before: float | None = None,
                    decisions_before: float | None = None) -> dict[str, int]:
        def write(conn: sqlite3.Connection) -> dict[str, int]:
            out = {"relays": 0, "decisions": 0}
            if relays_before is not None:
                conn.execute("DELETE FROM relay_orders WHERE relay_id IN (SELECT id FROM relays WHERE sent_at < ?)",
                             (relays_before,))
                out["relays"] = conn.execute("DELETE FROM relays WHERE sent_at < ?", (relays_before,)).rowcount
                conn.execute(prune_relayed(D), (relays_before,))
            if decisions_before is not None:
                out["decisions"] = conn.execute("DELETE FROM decisions WHERE at < ?", (decisions_before,)).rowcount
            return out

        return await self._write(write)
