"""The ``Disagreements`` role of the ``Store`` contract, against every backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import time

from gateway.store.base import Disagreement, HitRecord, RelayedMessage, Store, TenantRestriction

ALIAS = "abc123@marketplace.amazon.de"
OTHER = "xyz789@marketplace.amazon.de"
ORDER = "302-4817265-9034712"


def _relayed(queue_id: str, message_id: str, tenant: str = "t1", **kw: object) -> RelayedMessage:
    fields: dict[str, object] = {
        "subject": "Ihre Rechnung", "action": "relay",
        "hits": (HitRecord("critical-content", "relay", "informational", "Termin"),),
        "packs": (("critical", "0123abcd4567"), ("promotion", "89ab01cd23ef")), "fingerprint": "00ff" * 16,
        "order_ids": (ORDER,), "aliases": (ALIAS,), "tenant": tenant}
    fields.update(kw)
    return RelayedMessage(queue_id=queue_id, message_id=message_id, **fields)  # type: ignore[arg-type]


async def _relay(into: Store, queue_id: str, message_id: str, aliases: tuple[str, ...] = (ALIAS,),
                 order: str = ORDER, tenant: str = "t1", details: bool = True) -> None:
    await into.record_relay(queue_id, message_id, [(a, "de") for a in aliases], [order], set(), tenant=tenant)
    if details:
        await into.record_relayed(_relayed(queue_id, message_id, tenant, aliases=aliases, order_ids=(order,)))


async def test_relayed_messages_are_found_by_message_id_order_and_alias(store: Store) -> None:
    await _relay(store, "Q1", "<m1@shop>", (ALIAS, OTHER))
    await asyncio.sleep(0.01)
    await _relay(store, "Q2", "<m2@shop>", order="111-1111111-1111111")
    await _relay(store, "Q3", "<m3@shop>", tenant="t2")
    await _relay(store, "Q4", "<m4@shop>", details=False)

    [first] = await store.relayed_messages("t1", message_ids=["m1@shop"])
    assert first.queue_id == "Q1" and sorted(first.aliases) == [ALIAS, OTHER]
    assert first.subject == "Ihre Rechnung" and first.action == "relay"
    assert first.hits == (HitRecord("critical-content", "relay", "informational", "Termin"),)
    assert dict(first.packs) == {"critical": "0123abcd4567", "promotion": "89ab01cd23ef"}
    assert first.fingerprint == "00ff" * 16 and first.order_ids == (ORDER,) and first.sent_at > 0

    assert [m.queue_id for m in await store.relayed_messages("t1", order_id=ORDER)] == ["Q4", "Q1"]
    assert [m.queue_id for m in await store.relayed_messages("t1", order_id=ORDER, alias=OTHER)] == ["Q1"]
    assert [m.queue_id for m in await store.relayed_messages("t1", alias=ALIAS.upper())] == ["Q4", "Q2", "Q1"]
    assert [m.queue_id for m in await store.relayed_messages("t2", alias=ALIAS)] == ["Q3"]
    assert await store.relayed_messages("t1", alias=ALIAS, since=time.time() + 60) == []
    assert await store.relayed_messages("t1") == []  # no criterion: nothing, not everything
    # A relay recorded without its details (an instance on the older schema): what the relay knows.
    [bare] = await store.relayed_messages("t1", message_ids=["<m4@shop>"])
    assert (bare.queue_id, bare.message_id, bare.aliases, bare.subject, bare.hits) == ("Q4", "<m4@shop>",
                                                                                       (ALIAS,), "", ())
    # Relayed messages go with their relay records.
    await store.prune(relays_before=time.time() + 1)
    assert await store.relayed_messages("t1", alias=ALIAS) == []


async def test_disagreements_are_recorded_once_listed_and_counted(store: Store) -> None:
    await _relay(store, "Q1", "<m1@shop>")
    [relayed] = await store.relayed_messages("t1", message_ids=["<m1@shop>"])
    notice = await store.record_notice("amazon-notice", ORDER, "de", ALIAS, "message-id", "import", {}, tenant="t1")
    found = Disagreement(tenant="t1", alias=ALIAS.upper(), marketplace="de", order_id=ORDER, matched_by="message-id",
                         notice_id=notice, notice_date=1_700_000_000.0, reason="did not meet the guidelines",
                         relayed=relayed, hit_packs=("critical",), template="held")
    recorded = await store.record_disagreement(found)
    assert recorded is not None and recorded.id > 0 and recorded.at > 0
    assert recorded.alias == ALIAS and recorded.relayed is not None
    assert recorded.relayed.queue_id == "Q1" and recorded.relayed.hits == relayed.hits
    assert dict(recorded.relayed.packs) == dict(relayed.packs) and recorded.relayed.fingerprint == relayed.fingerprint
    assert (recorded.notice_date, recorded.reason, recorded.template) == (1_700_000_000.0,
                                                                          "did not meet the guidelines", "held")
    assert await store.record_disagreement(found) is None  # the same notice about the same message
    assert await store.disagreement(recorded.id) == recorded

    # A relay recorded before relayed messages were kept, in another tenant: no relayed side.
    bare = await store.record_disagreement(Disagreement(
        tenant="t2", alias=OTHER, marketplace="de", order_id=None, matched_by="alias", notice_id=None,
        notice_date=1_700_000_100.0, reason="r", relayed=None))
    assert bare is not None and bare.relayed is None and bare.hit_packs == () and bare.template == "none"

    assert [d.id for d in await store.disagreements()] == [bare.id, recorded.id]
    assert [d.id for d in await store.disagreements("t1")] == [recorded.id]
    assert await store.disagreements(since=time.time() + 60) == []
    assert await store.disagreement_counts() == {("t1", "critical"): 1, ("t2", "none"): 1}

    # Template holds: held until fixed, exactly once.
    assert [d.id for d in await store.held_templates("t1")] == [recorded.id]
    assert await store.held_templates("t2") == []
    assert await store.fix_templates([recorded.id, recorded.id, bare.id], "alice", "footer removed") == [recorded.id]
    assert await store.fix_templates([recorded.id], "bob", "again") == []
    assert await store.held_templates("t1") == []
    fixed = await store.disagreement(recorded.id)
    assert fixed is not None and (fixed.template, fixed.fixed_by, fixed.fixed_reason) == ("fixed", "alice",
                                                                                          "footer removed")
    assert fixed.fixed_at is not None and [d.id for d in await store.disagreements(template="fixed")] == [fixed.id]


async def test_tenant_restrictions_until_cleared(store: Store) -> None:
    assert await store.tenant_restriction("t1") is None
    first = await store.restrict_tenant(TenantRestriction(tenant="t1", since=1_700_000_000.0, reason="restricted",
                                                          notice_id=None, marketplace="de"))
    assert first.id > 0 and first.active and first.recorded_at > 0 and first.marketplace == "de"
    second = await store.restrict_tenant(TenantRestriction(tenant="t1", since=1_700_000_500.0, reason="again"))
    assert await store.tenant_restriction("t1") == second  # the latest
    assert await store.tenant_restriction("t2") is None
    assert [r.id for r in await store.restrictions()] == [second.id, first.id]
    assert await store.clear_restriction("t1", "alice", "appeal accepted") == 2
    assert await store.tenant_restriction("t1") is None
    assert await store.clear_restriction("t1", "bob", "again") == 0
    [latest, _] = await store.restrictions("t1", active=False)
    assert (latest.active, latest.cleared_by, latest.clear_reason) == (False, "alice", "appeal accepted")
    assert await store.restrictions(active=True) == []
