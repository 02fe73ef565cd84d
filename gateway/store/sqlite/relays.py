"""SQLite: relay records (what went to which alias, for which orders), per-order counters and
the daily sending caps."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from gateway.store import sql
from gateway.store.sql import SQLITE as D
from gateway.store.sqlite.core import SQLiteCore

_ORDER_KEY = ("tenant", "order_id", "counter")
_DAY_KEY = ("tenant", "marketplace", "day")


class SQLiteRelays(SQLiteCore):
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

    async def relays_by_message_id(self, message_ids: Sequence[str], tenant: str = "") -> list[tuple[str, str]]:
        ids = sql.bare_and_bracketed(message_ids)
        if not ids:
            return []
        rows = await self._fetchall(
            f"SELECT DISTINCT alias, marketplace FROM relays WHERE tenant = ? AND message_id IN ({D.marks(len(ids))})",
            [tenant, *ids])
        return [(str(a), str(m)) for a, m in rows]

    async def relays_by_order(self, order_id: str, marketplace: str | None, since: float,
                              tenant: str = "") -> list[tuple[str, str]]:
        args = [order_id, since, tenant, *([marketplace] if marketplace else [])]
        rows = await self._fetchall(sql.relays_by_order(D, bool(marketplace)), args)
        return [(str(a), str(m)) for a, m in rows]

    async def prune(self, *, relays_before: float | None = None,
                    decisions_before: float | None = None) -> dict[str, int]:
        def write(conn: sqlite3.Connection) -> dict[str, int]:
            out = {"relays": 0, "decisions": 0}
            if relays_before is not None:
                conn.execute("DELETE FROM relay_orders WHERE relay_id IN (SELECT id FROM relays WHERE sent_at < ?)",
                             (relays_before,))
                out["relays"] = conn.execute("DELETE FROM relays WHERE sent_at < ?", (relays_before,)).rowcount
            if decisions_before is not None:
                out["decisions"] = conn.execute("DELETE FROM decisions WHERE at < ?", (decisions_before,)).rowcount
            return out

        return await self._write(write)


class SQLiteCounters(SQLiteCore):
    async def order_counter(self, order_id: str, counter: str, tenant: str = "") -> int:
        row = await self._fetchone(sql.order_counter(D), (tenant, order_id, counter))
        return int(row[0]) if row else 0

    async def _reserve(self, table: str, key: tuple[str, ...], values: tuple[str, ...], limit: int) -> bool:
        statement = sql.reserve_count(D, table, key)
        return await self._write(lambda c: c.execute(statement, (*values, limit, limit)).fetchone() is not None)

    async def reserve_counter(self, order_id: str, counter: str, limit: int, tenant: str = "") -> bool:
        return await self._reserve("order_counters", _ORDER_KEY, (tenant, order_id, counter), limit)

    async def release_counter(self, order_id: str, counter: str, tenant: str = "") -> None:
        await self._execute(sql.release_count(D, "order_counters", _ORDER_KEY), (tenant, order_id, counter))

    async def reserve_send(self, tenant: str, marketplace: str, day: str, cap: int) -> bool:
        """Count one proactive message against the day's cap; False (and no count) when it is full."""
        return await self._reserve("daily_sends", _DAY_KEY, (tenant, marketplace, day), cap)

    async def release_send(self, tenant: str, marketplace: str, day: str) -> None:
        await self._execute(sql.release_count(D, "daily_sends", _DAY_KEY), (tenant, marketplace, day))

    async def sends(self, tenant: str, marketplace: str, day: str) -> int:
        row = await self._fetchone(sql.daily_sends(D), (tenant, marketplace, day))
        return int(row[0]) if row else 0
