"""PostgreSQL: relay records, per-order counters and the daily sending caps (shared by instances)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.store import sql
from gateway.store.postgres.core import PostgresCore
from gateway.store.sql import POSTGRES as D

_ORDER_KEY = ("tenant", "order_id", "counter")
_DAY_KEY = ("tenant", "marketplace", "day")


class PostgresRelays(PostgresCore):
    async def record_relay(self, queue_id: str, message_id: str, recipients: Sequence[tuple[str, str]],
                           order_ids: Sequence[str], tags: Iterable[str], counters: Sequence[str] = (),
                           *, tenant: str = "") -> None:
        tag_text, order_text = " ".join(sorted(tags)), " ".join(order_ids)
        # Counter rows are locked in sorted order: two relays naming the same orders never deadlock.
        bumps = sorted((order_id, counter) for order_id in order_ids for counter in counters)
        async with self._connection() as conn, conn.transaction():
            for alias, marketplace in recipients:
                cur = await conn.execute(sql.insert_relay(D), (tenant, queue_id, message_id, alias, marketplace,
                                                               order_text, tag_text))
                row = await cur.fetchone()
                assert row is not None
                for order_id in order_ids:
                    await conn.execute(sql.insert_relay_order(D), (order_id, marketplace, row[0]))
            for order_id, counter in bumps:
                await conn.execute(sql.bump_counter(D), (tenant, order_id, counter))

    async def relays_by_message_id(self, message_ids: Sequence[str], tenant: str = "") -> list[tuple[str, str]]:
        ids = sql.bare_and_bracketed(message_ids)
        if not ids:
            return []
        rows = await self._fetchall(
            "SELECT DISTINCT alias, marketplace FROM relays WHERE tenant = %s AND message_id = ANY(%s)", (tenant, ids))
        return [(str(a), str(m)) for a, m in rows]

    async def relays_by_order(self, order_id: str, marketplace: str | None, since: float,
                              tenant: str = "") -> list[tuple[str, str]]:
        args = [order_id, since, tenant, *([marketplace] if marketplace else [])]
        rows = await self._fetchall(sql.relays_by_order(D, bool(marketplace)), args)
        return [(str(a), str(m)) for a, m in rows]

    async def prune(self, *, relays_before: float | None = None,
                    decisions_before: float | None = None) -> dict[str, int]:
        # Row locks on the deleted rows only: serving instances keep inserting meanwhile.
        out = {"relays": 0, "decisions": 0}
        async with self._connection() as conn:
            if relays_before is not None:  # relay_orders go with them (ON DELETE CASCADE)
                cur = await conn.execute("DELETE FROM relays WHERE sent_at < %s", (relays_before,))
                out["relays"] = cur.rowcount
            if decisions_before is not None:
                cur = await conn.execute("DELETE FROM decisions WHERE at < %s", (decisions_before,))
                out["decisions"] = cur.rowcount
        return out


class PostgresCounters(PostgresCore):
    async def order_counter(self, order_id: str, counter: str, tenant: str = "") -> int:
        row = await self._fetchone(sql.order_counter(D), (tenant, order_id, counter))
        return int(row[0]) if row else 0

    async def _reserve(self, table: str, key: tuple[str, ...], values: tuple[str, ...], limit: int) -> bool:
        # One statement: the conflicting row is locked and the limit re-checked against its latest
        # count, so instances racing for the last slot never push the count past the limit.
        return await self._fetchone(sql.reserve_count(D, table, key), (*values, limit, limit)) is not None

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
