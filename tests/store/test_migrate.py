from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from gateway.store.migrate import ADVISORY_LOCK_KEY, LATEST_VERSION, current_version, migrations, upgrade


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    shipped = migrations()
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    assert shipped[-1].version == LATEST_VERSION
    assert shipped[0].name == "initial"
    assert all(m.sql.strip() for m in shipped)


async def test_upgrade_from_empty_then_idempotent(pg_dsn: str) -> None:
    assert await current_version(pg_dsn) == 0
    assert await upgrade(pg_dsn) == list(range(1, LATEST_VERSION + 1))
    assert await current_version(pg_dsn) == LATEST_VERSION
    assert await upgrade(pg_dsn) == []
    assert await current_version(pg_dsn) == LATEST_VERSION
    async with await psycopg.AsyncConnection.connect(pg_dsn) as conn:
        cur = await conn.execute("SELECT version, name, applied_at IS NOT NULL FROM schema_migrations ORDER BY 1")
        assert await cur.fetchall() == [(m.version, m.name, True) for m in migrations()]


async def test_upgrade_of_a_current_database_keeps_its_rows(pg_dsn: str) -> None:
    await upgrade(pg_dsn)
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute("INSERT INTO aliases (alias, status, first_seen, last_seen, evidence, source)"
                           " VALUES ('kept@m.de', 'optout', 1, 1, 'e', 's')")
    assert await upgrade(pg_dsn) == []
    async with await psycopg.AsyncConnection.connect(pg_dsn) as conn:
        cur = await conn.execute("SELECT alias FROM aliases")
        assert await cur.fetchall() == [("kept@m.de",)]


async def test_upgrade_waits_for_the_advisory_lock(pg_dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as holder:
        await holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        task = asyncio.create_task(upgrade(pg_dsn))
        await asyncio.sleep(0.5)
        assert not task.done()
        assert await current_version(pg_dsn) == 0
        await holder.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        assert await asyncio.wait_for(task, 10) == list(range(1, LATEST_VERSION + 1))
    assert await current_version(pg_dsn) == LATEST_VERSION


async def test_a_failed_migration_leaves_nothing_behind(pg_dsn: str) -> None:
    """Each migration is one transaction: a failure (here: a table in the way) records nothing."""
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute("CREATE TABLE evidence (in_the_way int)")
    with pytest.raises(psycopg.errors.DuplicateTable):
        await upgrade(pg_dsn)
    assert await current_version(pg_dsn) == 0
    async with await psycopg.AsyncConnection.connect(pg_dsn) as conn:
        cur = await conn.execute("SELECT to_regclass('relays') IS NULL")
        assert await cur.fetchone() == (True,)


async def test_release_tracking_migration_keeps_what_schema_1_code_wrote(pg_dsn: str) -> None:
    """Schema 1 -> 2 under rows written by schema-1 code: nothing is lost, the new columns start
    empty, and the new code works on those rows."""
    from gateway.store.postgres import PostgresStore

    assert await upgrade(pg_dsn, target=1) == [1]
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO quarantine (id, held_at, peer, mail_from, rcpt_tos, message_id, subject, verdict, size)"
            " VALUES ('QOLD0000000000000', 1.0, 'p', 's@shop', ARRAY['a@marketplace.amazon.de'], '<m>', 's',"
            " '{}', 3)")
        await conn.execute("INSERT INTO quarantine_messages (id, data) VALUES ('QOLD0000000000000', 'abc')")
    assert await upgrade(pg_dsn) == list(range(2, LATEST_VERSION + 1))
    assert await current_version(pg_dsn) == LATEST_VERSION
    store = await PostgresStore(pg_dsn).open()
    try:
        [held] = await store.list_quarantine()
        assert held.id == "QOLD0000000000000" and await store.quarantined_bytes(held.id) == b"abc"
        assert await store.claim_quarantine(held.id, "released", "alice", "ok", instance="i1")
        assert [r.id for r in await store.unspooled_releases("i1", time.time() + 1)] == [held.id]
        await store.mark_release_spooled(held.id, "QUEUE1")
        assert await store.unspooled_releases("i1", time.time() + 1) == []
    finally:
        await store.close()


async def test_admin_review_migration_indexes_what_was_held_before(pg_dsn: str) -> None:
    """Schema 2 -> 3: messages held before the search tables existed are found by alias, sender,
    domain, rule, order id (from the subject) and subject words."""
    from gateway.store.postgres import PostgresStore
    from gateway.store.search import QuarantineQuery

    assert await upgrade(pg_dsn, target=2) == [1, 2]
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO quarantine (id, held_at, peer, mail_from, rcpt_tos, message_id, subject, verdict, size)"
            " VALUES ('QOLD0000000000001', 1.0, 'p', 'Seller@Shop.example', ARRAY['B1@marketplace.amazon.de'],"
            " '<m>', 'Order 302-4817265-9034712 shipped', '{\"hits\": [{\"rule\": \"promo\"}]}', 3)")
    assert await upgrade(pg_dsn, target=3) == [3]
    await upgrade(pg_dsn)  # the later migrations leave what 3 indexed as it is
    store = await PostgresStore(pg_dsn).open()
    try:
        for query in (QuarantineQuery(alias="b1@marketplace.amazon.de"), QuarantineQuery(sender="@shop.example"),
                      QuarantineQuery(rule="promo"), QuarantineQuery(order_id="302-4817265-9034712"),
                      QuarantineQuery(subject="shipped")):
            assert [r.id for r in (await store.search_quarantine(query)).items] == ["QOLD0000000000001"], query
    finally:
        await store.close()
