"""Disagreements refer to the relayed message instead of copying it: the upgrade of a database whose
disagreements hold the copy (SQLite schema 3, PostgreSQL 0004 as first shipped), on both backends,
and the relayed message kept from pruning while a disagreement refers to it."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import psycopg

from gateway.store.base import Disagreement, HitRecord, RelayedMessage, Store
from gateway.store.migrate import LATEST_VERSION, current_version, upgrade
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SCHEMA_VERSION, SQLiteStore

ALIAS = "abc123@marketplace.amazon.de"
ORDER = "302-4817265-9034712"
HITS = [{"rule": "critical-content", "action": "relay", "reason": "informational", "evidence": "Termin",
         "pack": "critical"}]
# The copy a disagreement held before: (column, SQLite declaration, PostgreSQL type).
COPY = (("message_id", "TEXT", "text"), ("subject", "TEXT", "text"), ("action", "TEXT", "text"),
        ("hits", "TEXT", "text"), ("packs", "TEXT", "text"), ("fingerprint", "TEXT", "text"),
        ("sent_at", "REAL", "double precision"))
# Two disagreements as the previous release wrote them: Q1's relayed message has its row in
# relayed_messages (the copy was made from it), Q0's relay was recorded before relayed messages
# were kept (the copy is all there is); and one without a relayed message.
OLD_ROWS = (
    ("t1", ALIAS, "Q1", 7, "<m1@shop>", "Ihre Rechnung", "relay", json.dumps(HITS), json.dumps({"critical": "0a"}),
     "00ff" * 16, 1_700_000_000.0, "critical", "held"),
    ("t1", ALIAS, "Q0", 8, "<m0@shop>", "", "", "[]", "{}", "", 1_600_000_000.0, "unknown", "none"),
    ("t2", ALIAS, "", None, "", "", "", "[]", "{}", "", 0.0, "", "none"),
)
INSERT_OLD = ("INSERT INTO disagreements (at, tenant, alias, marketplace, order_id, matched_by, notice_id, notice_date,"
              " reason, queue_id, message_id, subject, action, hits, packs, fingerprint, sent_at, hit_packs, template)"
              " VALUES (1700000100, {p}, {p}, 'de', NULL, 'order', {p}, 1700000050, 'guidelines', {p}, {p}, {p}, {p},"
              " {p}, {p}, {p}, {p}, {p}, {p})")


def _old(row: tuple[object, ...]) -> tuple[object, ...]:
    tenant, alias, queue_id, notice, *rest = row
    return (tenant, alias, notice, queue_id, *rest)


async def _assert_folded(store: Store) -> None:
    """What the previous release's disagreements read as after the upgrade: as before."""
    first, second, third = sorted(await store.disagreements(limit=10), key=lambda d: d.notice_id or 99)
    assert first.relayed == RelayedMessage(
        queue_id="Q1", message_id="<m1@shop>", subject="Ihre Rechnung", action="relay",
        hits=(HitRecord("critical-content", "relay", "informational", "Termin", "critical"),),
        packs=(("critical", "0a"),), fingerprint="00ff" * 16, aliases=(ALIAS,), tenant="t1",
        sent_at=1_700_000_000.0)
    assert (first.template, first.hit_packs, first.reason) == ("held", ("critical",), "guidelines")
    assert second.relayed is not None and (second.relayed.queue_id, second.relayed.message_id,
                                           second.relayed.action, second.relayed.sent_at) == (
        "Q0", "<m0@shop>", "", 1_600_000_000.0)
    assert third.relayed is None and third.tenant == "t2"
    assert [d.id for d in await store.held_templates("t1")] == [first.id]
    # The relayed messages stay while the disagreements refer to them; the others go with their relays.
    await store.prune(relays_before=time.time() + 1)
    assert [d.relayed.queue_id for d in await store.disagreements("t1") if d.relayed] == ["Q0", "Q1"]
    assert (await store.disagreement(first.id)) == first
    # This release records a disagreement on the folded table.
    again = await store.record_disagreement(Disagreement(
        tenant="t1", alias=ALIAS, marketplace="de", order_id=ORDER, matched_by="alias", notice_id=9,
        notice_date=1_700_000_200.0, reason="again", relayed=first.relayed))
    assert again is not None and again.relayed == first.relayed


async def test_sqlite_schema_3_disagreements_are_folded(tmp_path: Path) -> None:
    state = tmp_path / "state"
    await (await SQLiteStore(state).open()).close()
    # The database as schema 3 left it: the copy in disagreements, Q1's row in relayed_messages.
    conn = sqlite3.connect(state / "gateway.db", isolation_level=None)
    for column, decl, _ in COPY:
        conn.execute(f"ALTER TABLE disagreements ADD COLUMN {column} {decl} NOT NULL DEFAULT ''")
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    for row in OLD_ROWS:
        conn.execute(INSERT_OLD.format(p="?"), _old(row))
    conn.execute("INSERT INTO relayed_messages VALUES ('t1', 'Q1', '<m1@shop>', 'Ihre Rechnung', 'relay', ?, ?,"
                 " ?, ?, ?, 1700000000)", (json.dumps(HITS), json.dumps({"critical": "0a"}), "00ff" * 16, ORDER, ALIAS))
    conn.close()

    store = await SQLiteStore(state).open()
    try:
        assert await store.schema_version() == SCHEMA_VERSION == 4
        columns = {r[1] for r in sqlite3.connect(state / "gateway.db").execute("PRAGMA table_info(disagreements)")}
        assert columns.isdisjoint(c for c, _, _ in COPY)
        await _assert_folded(store)
    finally:
        await store.close()


async def test_postgres_0004_disagreements_are_folded(pg_dsn: str) -> None:
    assert await upgrade(pg_dsn, target=4) == [1, 2, 3, 4]
    # The database as 0004 first shipped left it: the copy in disagreements (NOT NULL, no defaults).
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        for column, _, pg_type in COPY:
            await conn.execute(f"ALTER TABLE disagreements ADD COLUMN {column} {pg_type} NOT NULL")
        for row in OLD_ROWS:
            await conn.execute(INSERT_OLD.format(p="%s"), _old(row))
        await conn.execute("INSERT INTO relayed_messages VALUES ('t1', 'Q1', '<m1@shop>', 'Ihre Rechnung', 'relay',"
                           " %s, %s, %s, %s, %s, 1700000000)",
                           (json.dumps(HITS), json.dumps({"critical": "0a"}), "00ff" * 16, ORDER, ALIAS))
    assert await upgrade(pg_dsn) == [5] and await current_version(pg_dsn) == LATEST_VERSION
    store = await PostgresStore(pg_dsn).open()
    try:
        await _assert_folded(store)
    finally:
        await store.close()
    # Expand only: the previous release, still running beside this one, records with its copy.
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute(INSERT_OLD.format(p="%s"), _old(("t3", ALIAS, "Q9", 10, "<m9@shop>", "s", "relay", "[]",
                                                            "{}", "", 1.0, "none", "none")))
        cur = await conn.execute("SELECT subject, sent_at FROM disagreements WHERE reason = 'again'")
        assert await cur.fetchone() == ("", 0.0)  # what it reads of this release's rows
