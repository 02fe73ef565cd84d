from __future__ import annotations

import stat
from pathlib import Path

from gateway.store.sqlite import SQLiteStore, StorePolicyState


async def open_store(tmp_path: Path) -> SQLiteStore:
    return await SQLiteStore(tmp_path / "state").open()


async def test_relay_records_and_review_counters_survive_reopen(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await store.record_relay("Q1", "<m1@shop>", [("abc@marketplace.amazon.de", "de")],
                             ["302-4817265-9034712"], {"review-request"}, ["review-request"])
    await store.record_relay("Q2", "<m2@shop>", [("abc@marketplace.amazon.de", "de")],
                             ["302-4817265-9034712"], {"review-request"}, ["review-request"])
    await store.close()
    store = await open_store(tmp_path)
    state = StorePolicyState(store)
    assert state.review_requests("302-4817265-9034712") == 2
    assert state.review_requests("111-1111111-1111111") == 0
    assert await store.relays_by_message_id(["<m1@shop>"]) == [("abc@marketplace.amazon.de", "de")]
    assert await store.relays_by_order("302-4817265-9034712", "de", since=0) == [
        ("abc@marketplace.amazon.de", "de")]
    assert await store.relays_by_order("302-4817265-9034712", "fr", since=0) == []
    await store.close()


async def test_alias_registry_upsert_keeps_first_seen(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    first = await store.record_alias("ABC@marketplace.amazon.de", "optout", marketplace="de",
                                    order_id="302-4817265-9034712", evidence="notice 1", source="smtp")
    second = await store.record_alias("abc@marketplace.amazon.de", "dead", marketplace=None,
                                     order_id=None, evidence="notice 2", source="import")
    assert second.first_seen == first.first_seen
    assert second.last_seen >= first.last_seen
    assert (second.status, second.marketplace, second.order_id) == ("dead", "de", "302-4817265-9034712")
    assert StorePolicyState(store).alias_status("abc@marketplace.amazon.de") == "dead"
    assert [a.alias for a in await store.list_aliases(search="302-48")] == ["abc@marketplace.amazon.de"]
    assert await store.remove_alias("abc@marketplace.amazon.de")
    assert StorePolicyState(store).alias_status("abc@marketplace.amazon.de") is None
    await store.close()


async def test_quarantine_is_private_and_released_once(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    raw = b"Subject: x\r\n\r\nbody \xff bytes\r\n"
    qid = await store.quarantine(raw, peer="127.0.0.1", mail_from="s@shop", rcpt_tos=["a@b"],
                                 message_id="<m@shop>", subject="x", marketplace="de",
                                 verdict={"action": "quarantine", "hits": []})
    record = await store.get_quarantine(qid)
    assert record is not None
    assert record.path.read_bytes() == raw
    assert stat.S_IMODE(record.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.quarantine_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.db_path.stat().st_mode) == 0o600
    assert await store.claim_quarantine(qid, "released", "admin", "checked")
    assert not await store.claim_quarantine(qid, "released", "admin", "twice")
    assert (await store.audit_log())[0].object == qid
    assert await store.list_quarantine() == []
    await store.close()
