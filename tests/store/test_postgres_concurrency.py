"""PostgresStore with several instances on one database: races that must have one outcome.

Two stores with separate pools stand for two gateway instances. Each race is started many times
at once (``asyncio.gather``) so that the statements really overlap on the server.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from gateway.store.base import REVIEW_COUNTER, AliasUpdate, NoticeRow, StoreError
from gateway.store.migrate import LATEST_VERSION, current_version, upgrade
from gateway.store.postgres import PostgresStore, SchemaError

ROUNDS = 20


@pytest.fixture
async def two(pg_dsn: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    await upgrade(pg_dsn)
    a = await PostgresStore(pg_dsn, min_size=4, max_size=8).open()
    b = await PostgresStore(pg_dsn, min_size=4, max_size=8).open()
    yield a, b
    await a.close()
    await b.close()


async def test_same_optout_from_two_instances_is_one_row(two: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = two
    for i in range(ROUNDS):
        alias = f"buyer{i}@marketplace.amazon.de"
        records = await asyncio.gather(*(
            store.record_alias(alias.upper() if n % 2 else alias, "optout", marketplace="de",
                               order_id=f"order-{n}", evidence=f"notice-{n}", source="smtp")
            for n, store in enumerate([a, b] * 4)))
        assert {r.alias for r in records} == {alias}
        assert len({r.first_seen for r in records}) == 1  # one row: the first insert's first_seen
    rows = await a.list_aliases()
    assert len(rows) == ROUNDS
    assert len({r.alias for r in rows}) == ROUNDS


async def test_concurrent_bounces_for_one_new_alias_see_one_first(
        two: tuple[PostgresStore, PostgresStore]) -> None:
    """Different notices about one new alias: exactly one of them finds no previous status."""
    a, b = two
    shared: list[object] = []
    for i in range(ROUNDS):
        alias = f"new{i}@marketplace.amazon.de"

        async def bounce(store: PostgresStore, n: int, alias: str = alias) -> dict[str, object]:
            raw = f"notice {alias} {n}".encode()
            notice = NoticeRow(kind="dead", source="imap", report={}, alias=alias,
                               sha256=hashlib.sha256(raw).hexdigest())
            recorded = await store.record_bounce(
                notice, [AliasUpdate(alias, "dead" if n % 2 else "optout", None, None),
                         AliasUpdate("shared@m.de", "dead", None, None)])
            assert recorded is not None
            return dict(recorded.previous_status)

        previous = await asyncio.gather(*(bounce(store, n) for n, store in enumerate([a, b] * 3)))
        assert [p[alias] for p in previous].count(None) == 1
        shared += [p["shared@m.de"] for p in previous]
    # Every notice also named one alias common to all: it was new to exactly one of them.
    assert shared.count(None) == 1
    assert shared.count("dead") == ROUNDS * 6 - 1
    assert len(await a.notices()) == ROUNDS * 6


async def test_release_from_two_instances_has_one_winner(two: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = two
    qids = [await a.quarantine(f"message {i}".encode(), peer="p", mail_from="s@shop", rcpt_tos=["x@m.de"],
                               message_id=f"<{i}@shop>", subject="s", marketplace="de", verdict={})
            for i in range(ROUNDS)]
    for qid in qids:
        # The other instance sees the bytes: they live in the database.
        assert await b.quarantined_bytes(qid) is not None
        wins = await asyncio.gather(*(store.claim_quarantine(qid, "released" if n % 2 else "deleted",
                                                             f"admin-{n}", "race")
                                      for n, store in enumerate([a, b] * 3)))
        assert wins.count(True) == 1
    log = await a.audit_log(limit=1000)
    assert sorted(e.object for e in log) == sorted(qids)
    assert {r.status for r in await a.list_quarantine(None)} <= {"released", "deleted"}
    assert await a.list_quarantine() == []


async def test_review_counters_from_two_instances_add_up(two: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = two
    orders = ["302-0000001-0000001", "302-0000002-0000002"]
    # Both orders in both orders of mention: the counter rows must not deadlock.
    await asyncio.gather(*(
        store.record_relay(f"Q{n}", f"<{n}@shop>", [("x@m.de", "de")], orders if n % 2 else orders[::-1],
                           {REVIEW_COUNTER}, [REVIEW_COUNTER])
        for n, store in enumerate([a, b] * 25)))
    assert await a.order_counter(orders[0], REVIEW_COUNTER) == 50
    assert await b.order_counter(orders[1], REVIEW_COUNTER) == 50
    assert len(await a.relays_by_order(orders[0], "de", since=0)) == 1  # DISTINCT (alias, marketplace)


async def test_daily_cap_holds_under_concurrency(two: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = two
    for round_ in range(ROUNDS // 2):
        day = f"2026-01-{round_ + 1:02d}"
        granted = await asyncio.gather(*(store.reserve_send("t", "de", day, 7) for store in [a, b] * 15))
        assert granted.count(True) == 7
        assert await a.sends("t", "de", day) == 7
    # Releases and reservations interleaved: the count never goes past the cap or below zero.
    day = "2026-02-01"
    await asyncio.gather(*(a.reserve_send("t", "de", day, 3) for _ in range(3)))
    await asyncio.gather(*(store.release_send("t", "de", day) for store in [a, b] * 3),
                         *(store.reserve_send("t", "de", day, 3) for store in [a, b] * 3))
    assert 0 <= await b.sends("t", "de", day) <= 3


async def test_same_notice_from_two_instances_is_recorded_once(
        two: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = two
    for i in range(ROUNDS):
        raw = f"From: MAILER-DAEMON\r\n\r\nbounce {i}\r\n".encode()
        stored = await asyncio.gather(*(store.store_evidence(raw) for store in (a, b, a, b)))
        ref, digest = stored[0]
        assert set(stored) == {(ref, digest)}
        alias = f"gone{i}@m.de"
        notice = NoticeRow(kind="dead", source="imap", report={"i": i}, alias=alias, evidence=ref, sha256=digest)
        recorded = await asyncio.gather(*(store.record_bounce(notice, [AliasUpdate(alias, "dead", None, None)])
                                          for store in [a, b] * 3))
        winners = [r for r in recorded if r is not None]
        assert len(winners) == 1
        assert winners[0].previous_status == {alias: None}
        assert len(await b.notices(alias=alias)) == 1
        assert await b.read_evidence(ref) == raw


async def test_concurrent_upgrades_apply_each_migration_once(pg_dsn: str) -> None:
    applied = await asyncio.gather(*(upgrade(pg_dsn) for _ in range(4)))
    # Each migration exactly once, in order, by whichever upgrader held the lock at the time (one
    # upgrader may apply the first ones and another the rest while the first waits).
    assert sorted(v for versions in applied for v in versions) == list(range(1, LATEST_VERSION + 1))
    assert all(versions == sorted(versions) for versions in applied)
    assert await current_version(pg_dsn) == LATEST_VERSION
    async with await psycopg.AsyncConnection.connect(pg_dsn) as conn:
        cur = await conn.execute("SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version")
        assert await cur.fetchall() == [(v, 1) for v in range(1, LATEST_VERSION + 1)]


async def test_open_refuses_a_database_that_was_not_upgraded(pg_dsn: str) -> None:
    store = PostgresStore(pg_dsn)
    with pytest.raises(SchemaError, match=r"version 0, this gateway needs \d+: run `gateway db upgrade`") as info:
        await store.open()
    assert (info.value.have, info.value.need) == (0, LATEST_VERSION)
    assert not store.is_open
    with pytest.raises(RuntimeError, match="not open"):
        await store.policy_state()


async def test_open_accepts_a_newer_schema(pg_dsn: str) -> None:
    """Migrations are additive: a schema upgraded by a newer release still serves this code."""
    await upgrade(pg_dsn)
    async with await psycopg.AsyncConnection.connect(pg_dsn) as conn:
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, 'from_the_future')",
                           (LATEST_VERSION + 1,))
    store = await PostgresStore(pg_dsn).open()
    try:
        assert store.is_open
        assert await store.schema_version() == LATEST_VERSION + 1
    finally:
        await store.close()


async def test_open_reports_an_unreachable_database_as_a_store_error(pg_dsn: str) -> None:
    store = PostgresStore(make_conninfo(pg_dsn, password="wrong-password"), open_timeout=5)
    with pytest.raises(StoreError, match=r"cannot use the PostgreSQL database: .*password"):
        await store.open()
    assert not store.is_open


async def test_exclusive_work_goes_to_one_instance_and_passes_on_when_it_ends(
        two: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = two

    async def attempt(store: PostgresStore, hold: float) -> bool:
        async with store.exclusive("imap-poll:shared") as mine:
            if mine:
                await asyncio.sleep(hold)
            return mine

    for _ in range(10):
        results = await asyncio.gather(attempt(a, 0.05), attempt(b, 0.05))
        assert sorted(results) == [False, True]
    assert await attempt(b, 0) and await attempt(a, 0)  # nobody holds it between rounds


async def test_one_review_request_per_order_when_instances_race(two: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = two
    for n in range(20):
        order = f"302-0000000-{n:07d}"
        won = await asyncio.gather(*(store.reserve_counter(order, REVIEW_COUNTER, 1) for store in (a, b, a, b)))
        assert sorted(won) == [False, False, False, True]
        assert await a.order_counter(order, REVIEW_COUNTER) == 1
