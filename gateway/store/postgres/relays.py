"""PostgreSQL: relay records, per-order counters and the daily sending caps (shared by instances)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.store import sql
from gateway.store.disagreements import prune_relayed
from gateway.store.postgres.core import PostgresCore
from gateway.store.shared import SharedRelays
from gateway.store.sql import POSTGRES as D


class PostgresRelays(SharedRelays, PostgresCore):
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

    async def prune(self, *, relays_before: float | None = None,
                    decisions_before: float | None = None) -> dict[str, int]:
        # Row locks on the deleted rows only: serving instances keep inserting meanwhile.
        out = {"relays": 0, "decisions": 0}
        async with self._connection() as conn:
            if relays_before is not None:  # relay_orders go with them (ON DELETE CASCADE)
                cur = await conn.execute("DELETE FROM relays WHERE sent_at < %s", (relays_before,))
                out["relays"] = cur.rowcount
                await conn.execute(prune_relayed(D), (relays_before,))
            if decisions_before is not None:
                cur = await conn.execute("DELETE FROM decisions WHERE at < %s", (decisions_before,))
                out["decisions"] = cur.rowcount
        return out
