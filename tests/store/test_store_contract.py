"""The ``Store`` contract: one suite, run against every backend (SQLite and PostgreSQL).

Callers hold a ``Store`` and must not be able to tell the backends apart; each test here states
one thing a caller relies on. Backend-specific behaviour (files on disk, races between instances)
is tested beside each backend.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from gateway.store.base import (
    REVIEW_COUNTER,
    AliasRecord,
    AliasStatus,
    AliasUpdate,
    NoticeRow,
    Store,
    evidence_digest,
    evidence_reference,
)

ALIAS = "abc123@marketplace.amazon.de"
ORDER = "302-4817265-9034712"


# -- lifecycle ----------------------------------------------------------------------------------------
async def test_lifecycle_and_schema_version(store: Store) -> None:
    assert store.backend in ("sqlite", "postgresql")
    assert store.is_open
    assert await store.schema_version() >= 1
    await store.close()
    assert not store.is_open


async def test_exclusive_has_one_holder_at_a_time(store: Store) -> None:
    async with store.exclusive("imap-poll:box") as first:
        assert first is True
        async with store.exclusive("imap-poll:box") as second, store.exclusive("other") as other:
            assert (second, other) == (False, True)
    async with store.exclusive("imap-poll:box") as again:
        assert again is True  # released when the block ended


async def test_policy_state_reads_from_a_worker_thread(store: Store) -> None:
    await store.record_alias(ALIAS, "optout", marketplace="de", order_id=None, evidence="e", source="s",
                             tenant="t1")
    await store.record_relay("Q1", "<m1@shop>", [(ALIAS, "de")], [ORDER], {REVIEW_COUNTER}, [REVIEW_COUNTER],
                             tenant="t1")
    view = await store.policy_state("t1")
    assert await asyncio.to_thread(view.alias_status, ALIAS.upper()) == "optout"
    assert await asyncio.to_thread(view.review_requests, ORDER) == 1
    ahead = await store.policy_state("t1", [ALIAS.upper(), "nobody@marketplace.amazon.de"])
    assert await asyncio.to_thread(ahead.alias_status, ALIAS) == "optout"
    assert await asyncio.to_thread(ahead.alias_status, "nobody@marketplace.amazon.de") is None
    assert await store.alias_statuses([ALIAS.upper(), "nobody@marketplace.amazon.de"], "t1") == {ALIAS: "optout"}
    assert await store.alias_statuses([ALIAS], "t2") == {}
    assert await store.alias_statuses([]) == {}
    other = await store.policy_state("t2")
    assert await asyncio.to_thread(other.alias_status, ALIAS) is None
    assert await asyncio.to_thread(other.review_requests, ORDER) == 0


# -- relays and counters ----------------------------------------------------------------------------
async def test_relays_and_counters(store: Store) -> None:
    await store.record_relay("Q1", "<m1@shop>", [(ALIAS, "de"), ("x@marketplace.amazon.fr", "fr")], [ORDER],
                             {"b", "a"}, [REVIEW_COUNTER])
    await store.record_relay("Q2", "<m2@shop>", [(ALIAS, "de")], [ORDER, "111-1111111-1111111"],
                             {"a"}, [REVIEW_COUNTER, "other"])
    await store.record_relay("Q3", "<m3@shop>", [(ALIAS, "de")], [ORDER], (), [REVIEW_COUNTER], tenant="t1")
    assert await store.order_counter(ORDER, REVIEW_COUNTER) == 2
    assert await store.order_counter(ORDER, "other") == 1
    assert await store.order_counter("111-1111111-1111111", REVIEW_COUNTER) == 1
    assert await store.order_counter(ORDER, REVIEW_COUNTER, "t1") == 1
    assert await store.order_counter("999-9999999-9999999", REVIEW_COUNTER) == 0

    # Bounce parsers give ids without brackets; relays keep the header value. Either form matches.
    assert sorted(await store.relays_by_message_id(["m1@shop"])) == [(ALIAS, "de"), ("x@marketplace.amazon.fr", "fr")]
    assert await store.relays_by_message_id([" <m2@shop> "]) == [(ALIAS, "de")]
    assert sorted(await store.relays_by_message_id(["m1@shop", "<m2@shop>"])) == [
        (ALIAS, "de"), ("x@marketplace.amazon.fr", "fr")]
    assert await store.relays_by_message_id(["<m3@shop>"]) == []
    assert await store.relays_by_message_id(["<m3@shop>"], "t1") == [(ALIAS, "de")]
    assert await store.relays_by_message_id(["", "<>"]) == []
    assert await store.relays_by_message_id([]) == []

    assert sorted(await store.relays_by_order(ORDER, None, since=0)) == [
        (ALIAS, "de"), ("x@marketplace.amazon.fr", "fr")]
    assert await store.relays_by_order(ORDER, "de", since=0) == [(ALIAS, "de")]
    assert await store.relays_by_order(ORDER, "it", since=0) == []
    assert await store.relays_by_order(ORDER, None, since=time.time() + 60) == []
    assert await store.relays_by_order(ORDER, "de", since=0, tenant="t1") == [(ALIAS, "de")]
    assert await store.relays_by_order("111-1111111-1111111", None, since=0) == [(ALIAS, "de")]


# -- opt-out registry -------------------------------------------------------------------------------
async def test_record_alias_lowercases_keeps_first_seen_and_known_fields(store: Store) -> None:
    first = await store.record_alias(ALIAS.upper(), "optout", marketplace="de", order_id=ORDER,
                                     evidence="notice 1", source="smtp")
    assert (first.alias, first.status, first.tenant) == (ALIAS, "optout", "")
    assert first.first_seen == first.last_seen
    second = await store.record_alias(ALIAS, "dead", marketplace=None, order_id=None,
                                      evidence="notice 2", source="import")
    assert second.first_seen == first.first_seen
    assert second.last_seen >= first.last_seen
    assert (second.status, second.marketplace, second.order_id) == ("dead", "de", ORDER)
    assert (second.evidence, second.source) == ("notice 2", "import")
    third = await store.record_alias(ALIAS, "optout", marketplace="fr", order_id="999-1", evidence="n3",
                                     source="smtp")
    assert (third.marketplace, third.order_id) == ("fr", "999-1")
    assert await store.get_alias(ALIAS.upper()) == third
    assert await store.alias_status(ALIAS.upper()) == "optout"


async def test_aliases_are_scoped_by_tenant(store: Store) -> None:
    await store.record_alias(ALIAS, "optout", marketplace="de", order_id=None, evidence="e", source="s",
                             tenant="t1")
    assert await store.alias_status(ALIAS) is None
    assert await store.alias_status(ALIAS, "t1") == "optout"
    assert await store.get_alias(ALIAS) is None
    record = await store.get_alias(ALIAS, "t1")
    assert record is not None and record.tenant == "t1"
    assert not await store.remove_alias(ALIAS)
    assert await store.remove_alias(ALIAS.upper(), "t1")
    assert not await store.remove_alias(ALIAS, "t1")
    assert await store.alias_status(ALIAS, "t1") is None


async def test_list_aliases_filters_and_order(store: Store) -> None:
    def rec(alias: str, status: AliasStatus, order: str | None, seen: float, tenant: str = "") -> AliasRecord:
        return AliasRecord(alias, status, "de", order, seen, seen, "e", "import", tenant)

    await store.put_alias_record(rec("old@m.de", "optout", "111-AAA", 100.0))
    await store.put_alias_record(rec("new@m.de", "dead", "222-bbb", 300.0))
    await store.put_alias_record(rec("mid@m.de", "optout", None, 200.0, tenant="t1"))
    assert [r.alias for r in await store.list_aliases()] == ["new@m.de", "mid@m.de", "old@m.de"]
    assert [r.alias for r in await store.list_aliases(tenant="")] == ["new@m.de", "old@m.de"]
    assert [r.alias for r in await store.list_aliases(tenant="t1")] == ["mid@m.de"]
    assert [r.alias for r in await store.list_aliases(status="optout")] == ["mid@m.de", "old@m.de"]
    assert [r.alias for r in await store.list_aliases(status="dead", tenant="t1")] == []
    # Search matches the alias or the order id, case-insensitively.
    assert [r.alias for r in await store.list_aliases(search="OLD")] == ["old@m.de"]
    assert [r.alias for r in await store.list_aliases(search="aaa")] == ["old@m.de"]
    assert [r.alias for r in await store.list_aliases(search="222-B")] == ["new@m.de"]
    assert await store.list_aliases(search="nothing") == []


async def test_put_alias_record_merges(store: Store) -> None:
    base = AliasRecord("Imp@M.de", "optout", None, None, 200.0, 300.0, "ev-1", "import")
    stored = await store.put_alias_record(base)
    assert stored == AliasRecord("imp@m.de", "optout", None, None, 200.0, 300.0, "ev-1", "import", "")
    # An older record: status/evidence/source stay; it fills what was unknown; first_seen moves back.
    older = AliasRecord("imp@m.de", "dead", "de", ORDER, 100.0, 250.0, "ev-0", "old-import")
    merged = await store.put_alias_record(older)
    assert merged == AliasRecord("imp@m.de", "optout", "de", ORDER, 100.0, 300.0, "ev-1", "import", "")
    # A newer record: its status, evidence and source win; known marketplace and order stay.
    newer = AliasRecord("imp@m.de", "dead", "fr", "999", 400.0, 500.0, "ev-2", "new-import")
    merged = await store.put_alias_record(newer)
    assert merged == AliasRecord("imp@m.de", "dead", "de", ORDER, 100.0, 500.0, "ev-2", "new-import", "")
    assert await store.get_alias("imp@m.de") == merged
    # Another tenant's registry is separate.
    other = await store.put_alias_record(AliasRecord("imp@m.de", "optout", None, None, 1.0, 2.0, "x", "y", "t2"))
    assert other.tenant == "t2" and other.status == "optout"
    assert await store.alias_status("imp@m.de") == "dead"


# -- bounce notices -----------------------------------------------------------------------------------
async def test_evidence_is_content_addressed(store: Store) -> None:
    ref, digest = await store.store_evidence(b"From: mailer-daemon\r\n\r\nbounce\r\n")
    assert ref == evidence_reference(digest)
    assert evidence_digest(ref) == digest
    again = await store.store_evidence(b"From: mailer-daemon\r\n\r\nbounce\r\n")
    assert again == (ref, digest)
    other_ref, other_digest = await store.store_evidence(b"another")
    assert other_digest != digest
    assert await store.read_evidence(ref) == b"From: mailer-daemon\r\n\r\nbounce\r\n"
    assert await store.read_evidence(other_ref) == b"another"
    assert await store.read_evidence(evidence_reference("0" * 64)) is None
    assert await store.read_evidence("evidence/../gateway.db") is None


async def test_record_notice_and_review_list(store: Store) -> None:
    matched = await store.record_notice("optout", ORDER, "de", ALIAS, "message-id", "smtp", {"why": "ü"})
    unmatched = await store.record_notice("optout", "999", "de", None, None, "file", {"n": 2}, tenant="t1")
    assert unmatched > matched
    notice = await store.notice(matched)
    assert notice is not None
    # The JSON shapes (gateway optouts show --json; the review list) are contracts: exactly these fields.
    assert notice.as_json() == {
        "id": matched, "at": notice.at, "kind": "optout", "order_id": ORDER, "marketplace": "de", "alias": ALIAS,
        "matched_by": "message-id", "source": "smtp", "report": {"why": "ü"}, "resolved": False,
        "evidence": None, "tenant": ""}
    assert isinstance(notice.at, float)
    assert await store.notice(unmatched + 1000) is None

    review = await store.unmatched_notices()
    assert [n.id for n in review] == [unmatched]
    assert review[0].as_review_json() == {"id": unmatched, "at": review[0].at, "kind": "optout", "order_id": "999",
                                          "marketplace": "de", "source": "file", "report": {"n": 2}, "tenant": "t1"}
    assert (review[0].alias, review[0].resolved) == (None, False)
    assert await store.unmatched_notices(tenant="") == []
    assert [n.id for n in await store.unmatched_notices(tenant="t1")] == [unmatched]

    await store.assign_notice(unmatched, "Buyer@M.de")
    assert await store.unmatched_notices() == []
    assigned = await store.notice(unmatched)
    assert assigned is not None
    assert (assigned.alias, assigned.matched_by, assigned.resolved) == ("buyer@m.de", "admin", True)


async def test_notices_filters_newest_first(store: Store) -> None:
    ids = [await store.record_notice("dead", None, None, ALIAS, "order", "smtp", {"i": i}) for i in range(3)]
    other = await store.record_notice("dead", None, None, "b@m.de", "order", "smtp", {}, tenant="t1")
    assert [n.id for n in await store.notices()] == [other, *reversed(ids)]
    assert [n.id for n in await store.notices(alias=ALIAS.upper())] == list(reversed(ids))
    assert [n.id for n in await store.notices(tenant="t1")] == [other]
    assert [n.id for n in await store.notices(alias=ALIAS, tenant="t1")] == []
    assert [n.id for n in await store.notices(limit=2)] == [other, ids[2]]


async def test_record_bounce_updates_aliases_once_per_notice(store: Store) -> None:
    await store.record_alias("known@m.de", "optout", marketplace="de", order_id=ORDER, evidence="e0", source="s0")
    ref, digest = await store.store_evidence(b"notice bytes")
    notice = NoticeRow(kind="dead", source="imap", report={"status": "5.1.1"}, order_id=ORDER, marketplace="de",
                       alias="Known@M.de", matched_by="message-id", evidence=ref, sha256=digest, resolved=True)
    updates = [AliasUpdate("Known@M.de", "dead", None, None), AliasUpdate("new@m.de", "dead", "de", "777")]
    recorded = await store.record_bounce(notice, updates)
    assert recorded is not None
    assert recorded.previous_status == {"known@m.de": "optout", "new@m.de": None}
    known = await store.get_alias("known@m.de")
    assert known is not None
    assert (known.status, known.marketplace, known.order_id, known.evidence, known.source) == (
        "dead", "de", ORDER, ref, "imap")
    new = await store.get_alias("new@m.de")
    assert new is not None and (new.status, new.marketplace, new.order_id) == ("dead", "de", "777")
    stored = await store.notice(recorded.notice_id)
    assert stored is not None
    assert (stored.alias, stored.resolved, stored.evidence, stored.report) == (
        "known@m.de", True, ref, {"status": "5.1.1"})

    # The same bytes again (a re-imported file): nothing recorded, nothing changed.
    await store.record_alias("known@m.de", "optout", marketplace=None, order_id=None, evidence="e1", source="s1")
    assert await store.record_bounce(notice, updates) is None
    assert await store.alias_status("known@m.de") == "optout"
    assert len(await store.notices()) == 1
    # The same bytes for another tenant are that tenant's first.
    elsewhere = await store.record_bounce(
        NoticeRow(kind="dead", source="imap", report={}, sha256=digest, tenant="t2"),
        [AliasUpdate("known@m.de", "dead", None, None)])
    assert elsewhere is not None and elsewhere.previous_status == {"known@m.de": None}
    assert await store.alias_status("known@m.de", "t2") == "dead"
    assert await store.alias_status("known@m.de") == "optout"


async def test_record_bounce_without_digest_is_never_a_duplicate(store: Store) -> None:
    notice = NoticeRow(kind="optout", source="api", report={})
    first = await store.record_bounce(notice)
    second = await store.record_bounce(notice)
    assert first is not None and second is not None
    assert first.notice_id != second.notice_id
    assert first.previous_status == {}
    assert [n.id for n in await store.unmatched_notices()] == [second.notice_id, first.notice_id]


# -- decisions, audit and caps ----------------------------------------------------------------------------
async def test_decisions_report_and_daily_counts(store: Store) -> None:
    await store.record_decision("Q1", "<m1@shop>", "10.0.0.1", "seller@shop", ["a@m.de", "b@m.de"], "de",
                                "reject", ["no-links", "no-phone"])
    await store.record_decision("Q2", "<m2@shop>", "10.0.0.1", "seller@shop", ["a@m.de"], None, "relay", [])
    await store.record_decision("Q3", "<m3@shop>", "10.0.0.2", "other@shop", ["c@m.fr"], "fr", "quarantine",
                                ["no-links"], tenant="t1", shadow=True)
    rows = await store.decisions()
    assert [d.ref for d in rows] == ["Q3", "Q2", "Q1"]
    # The JSON shape (GET /api/decisions) is a contract: exactly these fields.
    assert rows[2].as_json() == {
        "at": rows[2].at, "ref": "Q1", "message_id": "<m1@shop>", "peer": "10.0.0.1", "mail_from": "seller@shop",
        "rcpt_tos": ["a@m.de", "b@m.de"], "marketplace": "de", "action": "reject",
        "rules": ["no-links", "no-phone"], "tenant": "", "shadow": False}
    assert isinstance(rows[2].at, float) and rows[2].rcpt_tos == ("a@m.de", "b@m.de")
    assert rows[1].rules == () and rows[0].shadow is True
    assert [d.ref for d in await store.decisions(tenant="t1")] == ["Q3"]
    assert [d.ref for d in await store.decisions(limit=1)] == ["Q3"]
    assert await store.decisions(since=time.time() + 60) == []

    report = await store.report()
    assert report["total"] == 3
    assert report["by_action"] == {"reject": 1, "relay": 1, "would-quarantine": 1}
    assert report["by_rule"] == {"no-links": 2, "no-phone": 1}
    assert report["by_marketplace"] == {"de": 1, "fr": 1, "none": 1}
    # Senders with rule hits: most messages, then most hits.
    assert report["top_senders"] == [{"mail_from": "seller@shop", "messages": 1, "hits": 2},
                                     {"mail_from": "other@shop", "messages": 1, "hits": 1}]
    assert (await store.report(top=1))["top_senders"] == [{"mail_from": "seller@shop", "messages": 1, "hits": 2}]
    assert (await store.report(tenant=""))["total"] == 2
    assert (await store.report(since=time.time() + 60))["total"] == 0

    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert await store.daily_counts() == [{"day": today,
                                           "actions": {"reject": 1, "relay": 1, "would-quarantine": 1},
                                           "rules": {"no-links": 2, "no-phone": 1}}]


async def test_audit_log_newest_first(store: Store) -> None:
    for i in range(3):
        await store.audit("admin", "remove", f"obj{i}", f"reason {i}")
    log = await store.audit_log()
    assert [(e.actor, e.action, e.object, e.reason) for e in log] == [
        ("admin", "remove", f"obj{i}", f"reason {i}") for i in (2, 1, 0)]
    assert all(isinstance(e.at, float) for e in log)
    assert log[0].as_json() == {"id": log[0].id, "at": log[0].at, "actor": "admin", "action": "remove",
                                "object": "obj2", "reason": "reason 2"}
    assert [e.id for e in log] == sorted((e.id for e in log), reverse=True)
    assert [e.object for e in await store.audit_log(limit=1)] == ["obj2"]


async def test_daily_send_caps(store: Store) -> None:
    assert await store.sends("t", "de", "2026-01-01") == 0
    assert [await store.reserve_send("t", "de", "2026-01-01", 2) for _ in range(3)] == [True, True, False]
    assert await store.sends("t", "de", "2026-01-01") == 2
    assert await store.reserve_send("t", "fr", "2026-01-01", 2)
    assert await store.reserve_send("t", "de", "2026-01-02", 2)
    assert await store.reserve_send("u", "de", "2026-01-01", 2)
    assert not await store.reserve_send("t", "it", "2026-01-01", 0)
    assert await store.sends("t", "it", "2026-01-01") == 0
    await store.release_send("t", "de", "2026-01-01")
    assert await store.sends("t", "de", "2026-01-01") == 1
    assert await store.reserve_send("t", "de", "2026-01-01", 2)
    for _ in range(3):
        await store.release_send("t", "de", "2026-01-01")
    assert await store.sends("t", "de", "2026-01-01") == 0
    await store.release_send("t", "xx", "2026-01-01")  # nothing reserved: no error, no row
    assert await store.sends("t", "xx", "2026-01-01") == 0


# -- quarantine -------------------------------------------------------------------------------------------
async def _hold(store: Store, data: bytes = b"Subject: hi\r\n\r\nbody\r\n", tenant: str = "") -> str:
    return await store.quarantine(data, peer="10.0.0.1", mail_from="seller@shop", rcpt_tos=[ALIAS, "b@m.de"],
                                  message_id="<m@shop>", subject="hi", marketplace="de",
                                  verdict={"action": "quarantine", "hits": [{"rule": "no-links", "why": "ü"}]},
                                  tenant=tenant)


async def test_quarantine_records_and_bytes(store: Store) -> None:
    qid = await _hold(store)
    assert qid.startswith("Q") and len(qid) == 17
    record = await store.get_quarantine(qid)
    assert record is not None
    assert (record.id, record.peer, record.mail_from, record.rcpt_tos, record.message_id, record.subject,
            record.marketplace, record.size, record.status, record.tenant) == (
        qid, "10.0.0.1", "seller@shop", (ALIAS, "b@m.de"), "<m@shop>", "hi", "de", 21, "held", "")
    assert record.verdict == {"action": "quarantine", "hits": [{"rule": "no-links", "why": "ü"}]}
    assert record.as_json()["rcpt_tos"] == [ALIAS, "b@m.de"]
    assert await store.quarantined_bytes(qid) == b"Subject: hi\r\n\r\nbody\r\n"
    assert await store.get_quarantine("QNOSUCHMESSAGE00") is None
    assert await store.quarantined_bytes("QNOSUCHMESSAGE00") is None

    await store.drop_quarantined_bytes(qid)
    assert await store.quarantined_bytes(qid) is None
    assert await store.get_quarantine(qid) is not None  # the record stays
    await store.drop_quarantined_bytes(qid)  # twice is harmless


async def test_quarantine_listing(store: Store) -> None:
    first = await _hold(store)
    second = await _hold(store, tenant="t1")
    third = await _hold(store)
    assert [r.id for r in await store.list_quarantine()] == [third, second, first]
    assert [r.id for r in await store.list_quarantine(tenant="t1")] == [second]
    assert [r.id for r in await store.list_quarantine(tenant="")] == [third, first]
    assert await store.claim_quarantine(first, "deleted", "admin", "spam")
    assert [r.id for r in await store.list_quarantine()] == [third, second]
    assert [r.id for r in await store.list_quarantine("deleted")] == [first]
    assert [r.id for r in await store.list_quarantine(None)] == [third, second, first]


async def test_claim_and_unclaim_exactly_once_with_audit(store: Store) -> None:
    qid = await _hold(store)
    assert await store.claim_quarantine(qid, "released", "alice", "looks fine")
    assert not await store.claim_quarantine(qid, "released", "bob", "me too")
    assert not await store.claim_quarantine(qid, "deleted", "bob", "too late")
    record = await store.get_quarantine(qid)
    assert record is not None and record.status == "released"

    assert await store.unclaim_quarantine(qid, "alice", "spool full")
    assert not await store.unclaim_quarantine(qid, "alice", "again")
    record = await store.get_quarantine(qid)
    assert record is not None and record.status == "held"
    assert await store.claim_quarantine(qid, "deleted", "bob", "spam after all")
    assert not await store.claim_quarantine("QNOSUCHMESSAGE00", "released", "bob", "x")
    assert not await store.unclaim_quarantine("QNOSUCHMESSAGE00", "bob", "x")

    log = [(e.actor, e.action, e.object, e.reason) for e in await store.audit_log()]
    assert log == [("bob", "deleted", qid, "spam after all"), ("alice", "release-failed", qid, "spool full"),
                   ("alice", "released", qid, "looks fine")]


async def test_nul_in_header_values_is_stored_not_an_error(store: Store) -> None:
    """Any sender can put a NUL into a header; PostgreSQL text cannot hold one. Every backend
    stores the message's records (PostgreSQL with U+FFFD in its place)."""
    nul_id, nul_subject = "<a\x00b@shop>", "hi\x00there"
    qid = await store.quarantine(b"Subject: x\r\n\r\nbody\r\n", peer="10.0.0.1", mail_from="s@shop",
                                 rcpt_tos=[ALIAS], message_id=nul_id, subject=nul_subject, marketplace="de",
                                 verdict={"hits": [{"evidence": "x\x00y"}]})
    record = await store.get_quarantine(qid)
    assert record is not None
    assert record.message_id in (nul_id, "<a\ufffdb@shop>")
    assert record.subject in (nul_subject, "hi\ufffdthere")
    assert record.verdict["hits"][0]["evidence"] in ("x\x00y", "x\ufffdy")
    await store.record_decision("ref", nul_id, "10.0.0.1", "s@shop", [ALIAS], "de", "quarantine", ["r1"])
    await store.record_relay("Q9", nul_id, [(ALIAS, "de")], [ORDER], set())
    assert [d.message_id for d in await store.decisions()] == [record.message_id]
    assert await store.relays_by_message_id([record.message_id]) == [(ALIAS, "de")]


async def test_state_counts(store: Store) -> None:
    assert await store.state_counts() == (0, {})
    held = await _hold(store)
    await _hold(store)
    assert await store.claim_quarantine(held, "deleted", "admin", "spam")
    await store.record_notice("amazon-optout", ORDER, "de", None, None, "import", {})
    await store.record_notice("dsn", None, None, None, None, "smtp", {})
    await store.record_notice("dsn", None, None, None, None, "smtp", {})
    assert await store.state_counts() == (1, {"amazon-optout": 1, "dsn": 2})


async def test_reserve_counter_keeps_to_the_limit(store: Store) -> None:
    assert await store.reserve_counter(ORDER, REVIEW_COUNTER, 1, "t1")
    assert not await store.reserve_counter(ORDER, REVIEW_COUNTER, 1, "t1")
    assert await store.order_counter(ORDER, REVIEW_COUNTER, "t1") == 1
    assert await store.reserve_counter(ORDER, REVIEW_COUNTER, 1, "t2")  # another tenant's order
    assert await store.reserve_counter(ORDER, REVIEW_COUNTER, 2, "t1")  # a higher limit allows one more
    assert not await store.reserve_counter("other-order", REVIEW_COUNTER, 0, "t1")
    await store.release_counter(ORDER, REVIEW_COUNTER, "t1")
    assert await store.order_counter(ORDER, REVIEW_COUNTER, "t1") == 1
    await store.release_counter("never-counted", REVIEW_COUNTER, "t1")  # harmless
    assert await store.order_counter("never-counted", REVIEW_COUNTER, "t1") == 0


async def test_release_tracking(store: Store) -> None:
    qid = await _hold(store)
    other = await _hold(store)
    assert await store.claim_quarantine(qid, "released", "alice", "ok", instance="i1")
    assert await store.claim_quarantine(other, "released", "bob", "ok", instance="i2")
    later = time.time() + 1
    assert [r.id for r in await store.unspooled_releases("i1", later)] == [qid]
    assert await store.unspooled_releases("i1", time.time() - 60) == []  # claimed just now
    await store.mark_release_spooled(qid, "QUEUE1")
    assert await store.unspooled_releases("i1", later) == []
    assert [r.id for r in await store.unspooled_releases("i2", later)] == [other]
    deleted = await _hold(store)
    assert await store.claim_quarantine(deleted, "deleted", "alice", "spam", instance="i1")
    assert await store.unspooled_releases("i1", later) == []  # a delete is not a release


async def test_prune_deletes_old_relays_and_decisions_only(store: Store) -> None:
    await store.record_relay("Q1", "<old@shop>", [(ALIAS, "de")], [ORDER], set(), [REVIEW_COUNTER])
    await store.record_decision("r1", "<old@shop>", "p", "s@shop", [ALIAS], "de", "relay", [])
    await store.record_alias(ALIAS, "optout", marketplace="de", order_id=ORDER, evidence="e", source="s")
    cutoff = time.time() + 1  # everything so far is older
    await asyncio.sleep(1.2)
    await store.record_relay("Q2", "<new@shop>", [(ALIAS, "de")], [ORDER], set())
    await store.record_decision("r2", "<new@shop>", "p", "s@shop", [ALIAS], "de", "relay", [])

    assert await store.prune() == {"relays": 0, "decisions": 0}
    assert await store.prune(relays_before=cutoff) == {"relays": 1, "decisions": 0}
    assert await store.relays_by_message_id(["<old@shop>"]) == []
    assert await store.relays_by_message_id(["<new@shop>"]) == [(ALIAS, "de")]
    assert await store.relays_by_order(ORDER, "de", 0) == [(ALIAS, "de")]  # the new one's order link stays
    assert await store.prune(decisions_before=cutoff) == {"relays": 0, "decisions": 1}
    assert [d.message_id for d in await store.decisions()] == ["<new@shop>"]
    # The registry and the per-order counts are not retention's business.
    assert await store.alias_status(ALIAS) == "optout"
    assert await store.order_counter(ORDER, REVIEW_COUNTER) == 1
