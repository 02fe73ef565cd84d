"""The store's bounce-notice and registry additions: evidence, one-transaction recording, migration."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from gateway.store.records import AliasRecord, AliasUpdate, NoticeRow
from gateway.store.sqlite import SQLiteStore

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"


async def test_relays_by_message_id_accepts_bracketed_and_bare_ids(tmp_path: Path) -> None:
    store = await SQLiteStore(tmp_path / "state").open()
    await store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [], set())
    assert await store.relays_by_message_id(["m1@shop.example"]) == [(ALIAS, "de")]
    assert await store.relays_by_message_id([" <m1@shop.example> "]) == [(ALIAS, "de")]
    assert await store.relays_by_message_id(["m2@shop.example", ""]) == []
    await store.close()


async def test_evidence_is_private_content_addressed_and_resolvable(tmp_path: Path) -> None:
    store = await SQLiteStore(tmp_path / "state").open()
    ref, digest = await store.store_evidence(b"notice bytes")
    assert (ref, digest) == await store.store_evidence(b"notice bytes")
    path = store.evidence_path(ref)
    assert path is not None and path.read_bytes() == b"notice bytes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.evidence_path("evidence/../gateway.db") is None
    assert store.evidence_path("manual entry by alice") is None
    await store.close()


async def test_record_bounce_is_once_per_notice_and_reports_previous_status(tmp_path: Path) -> None:
    store = await SQLiteStore(tmp_path / "state").open()
    await store.record_alias(ALIAS, "optout", marketplace="de", order_id=None, evidence="x", source="admin")
    notice = NoticeRow(kind="dsn", source="smtp:test", report={"kind": "dsn"}, alias=ALIAS,
                       matched_by="alias", evidence="evidence/a.eml", sha256="a" * 64, resolved=True)
    recorded = await store.record_bounce(notice, [AliasUpdate(ALIAS, "dead", "de", "302-4817265-9034712")])
    assert recorded is not None and recorded.previous_status == {ALIAS: "optout"}
    record = await store.get_alias(ALIAS)
    assert record is not None
    assert (record.status, record.order_id, record.evidence, record.source) == (
        "dead", "302-4817265-9034712", "evidence/a.eml", "smtp:test")
    assert await store.record_bounce(notice, [AliasUpdate(ALIAS, "optout", "de", None)]) is None
    assert await store.alias_status(ALIAS) == "dead"  # the duplicate changed nothing
    assert len(await store.notices()) == 1
    await store.close()


async def test_put_alias_record_merges_by_time(tmp_path: Path) -> None:
    store = await SQLiteStore(tmp_path / "state").open()
    await store.put_alias_record(AliasRecord(ALIAS, "optout", "de", None, 100.0, 200.0, "e1", "s1"))
    older = await store.put_alias_record(AliasRecord(ALIAS, "dead", None, "302-4817265-9034712",
                                                    50.0, 150.0, "e0", "s0"))
    assert (older.status, older.first_seen, older.last_seen, older.order_id) == (
        "optout", 50.0, 200.0, "302-4817265-9034712")
    newer = await store.put_alias_record(AliasRecord(ALIAS, "dead", "de", None, 300.0, 400.0, "e2", "s2"))
    assert (newer.status, newer.first_seen, newer.last_seen, newer.evidence) == ("dead", 50.0, 400.0, "e2")
    await store.close()


async def test_database_from_before_the_notice_columns_is_migrated(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "gateway.db") as db:
        db.execute("CREATE TABLE bounce_notices (id INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL,"
                   " order_id TEXT, marketplace TEXT, alias TEXT, matched_by TEXT, source TEXT NOT NULL,"
                   " report TEXT NOT NULL, resolved INTEGER NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO bounce_notices(at, kind, source, report) VALUES (1, 'dsn', 'old', '{}')")
    db.close()
    store = await SQLiteStore(state).open()
    recorded = await store.record_bounce(NoticeRow(kind="dsn", source="new", report={}, sha256="b" * 64))
    assert recorded is not None
    assert [n.source for n in await store.notices()] == ["new", "old"]
    await store.close()
