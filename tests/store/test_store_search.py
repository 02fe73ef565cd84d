"""Quarantine search, paging and audit queries: one suite for both backends (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gateway.store.search import AuditQuery, QuarantineQuery, decode_subject, parse_cursor, search_keys
from gateway.store.sqlite import SQLiteStore

ORDER = "302-4817265-9034712"


def verdict(*rules: str) -> dict[str, Any]:
    return {"action": "quarantine", "hits": [{"rule": r, "action": "quarantine", "reason": "r", "evidence": ""}
                                             for r in rules]}


async def hold(store: Any, subject: str, *, to: str = "a1@marketplace.amazon.de", sender: str = "s@shop.example",
               rules: tuple[str, ...] = ("off-platform-contact",), tenant: str = "", body: str = "hello") -> str:
    data = f"Subject: {subject}\r\nFrom: {sender}\r\n\r\n{body}\r\n".encode()
    qid: str = await store.quarantine(data, peer="127.0.0.1", mail_from=sender, rcpt_tos=[to],
                                      message_id="<m@x>", subject=subject, marketplace="de",
                                      verdict=verdict(*rules), tenant=tenant)
    return qid


def test_keys_of_a_message() -> None:
    keys = search_keys(f"Subject: x\r\n\r\nYour order {ORDER}\r\n".encode(), "<Seller@Shop.Example>",
                       ["Buyer@marketplace.amazon.de"], verdict("promo", "emoji"), "=?utf-8?q?Bestellung?=")
    assert keys == ["from:@shop.example", "from:seller@shop.example", f"order:{ORDER}", "rule:emoji",
                    "rule:promo", "to:buyer@marketplace.amazon.de"]


def test_rfc2047_subjects_are_decoded_and_broken_ones_kept() -> None:
    assert decode_subject("=?utf-8?q?Ihre_Bestellung_=C3=BCber?=") == "Ihre Bestellung über"
    assert decode_subject("=?iso-8859-1?b?R3L832U=?=") == "Grüße"
    assert decode_subject("plain") == "plain"
    # read by the message reader the rules use: an unknown charset as UTF-8, else cp1252 (what
    # mail programs show), not the encoded word as written
    assert decode_subject("=?bogus-charset?q?x?=") == "x"
    assert decode_subject("=?x-unknown?q?Gr=FC=DFe?=") == "Grüße"
    assert decode_subject("=?unknown-8bit?q?Gr=C3=BC=C3=9Fe?=") == "Grüße"
    # raw UTF-8 (RFC 6532) beside encoded words stays text, not "\\u8acb" escapes
    mixed = "=?utf-8?q?Rechnung?= 請求書 =?utf-8?q?f=C3=BCr?= =?utf-8?q?_Sie?="
    assert decode_subject(mixed) == "Rechnung 請求書 für Sie"
    assert decode_subject("Grüße 請求書") == "Grüße 請求書"


def test_cursor_text_is_validated() -> None:
    assert parse_cursor("1700000000.25:Q0123ABC") == (1700000000.25, "Q0123ABC")
    assert parse_cursor("x:Q1") is None
    assert parse_cursor("1.0:Q1' OR 1=1") is None


async def test_pages_walk_every_message_once_newest_first(store: Any) -> None:
    ids = [await hold(store, f"message {n}") for n in range(7)]
    seen: list[str] = []
    cursor = None
    totals = set()
    while True:
        page = await store.search_quarantine(QuarantineQuery(limit=3, before=parse_cursor(cursor) if cursor else None))
        seen += [r.id for r in page.items]
        totals.add(page.total)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert totals == {7}


async def test_search_by_each_field(store: Any) -> None:
    a = await hold(store, f"Your order {ORDER}", to="buyer1@marketplace.amazon.de", rules=("promo",))
    b = await hold(store, "=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_dem_Shop?=", sender="other@else.example",
                   rules=("emoji", "promo"), tenant="t1")
    c = await hold(store, "Lieferung morgen", body=f"Bestellung {ORDER} kommt", rules=("external-link",))

    async def ids(**kw: Any) -> list[str]:
        return [r.id for r in (await store.search_quarantine(QuarantineQuery(**kw))).items]

    assert await ids(alias="BUYER1@marketplace.amazon.de") == [a]
    assert await ids(order_id=ORDER) == [c, a]  # c names the order only in its text
    assert await ids(sender="other@else.example") == [b]
    assert await ids(sender="@shop.example") == [c, a]
    assert await ids(rule="promo") == [b, a]
    assert await ids(rule="promo", sender="@else.example") == [b]
    assert await ids(subject="grüße") == [b]  # the decoded subject is what is searched
    assert await ids(subject="liefer") == [c]  # words are prefixes
    assert await ids(subject="order 302") == [a]
    assert await ids(subject="nothing-like-it") == []
    assert await ids(tenant="t1") == [b]
    assert await ids(tenant="") == [c, a]
    page = await store.search_quarantine(QuarantineQuery(rule="promo"))
    assert page.total == 2
    # Operators typed into the box are words, never query syntax.
    assert await ids(subject='" OR * NEAR(') == []  # words "or", "near": no subject has both
    assert await ids(subject='"order" OR') == [a]


async def test_time_range_and_status(store: Any) -> None:
    first = await hold(store, "one")
    record = await store.get_quarantine(first)
    await asyncio.sleep(0.05)
    second = await hold(store, "two")
    later = (await store.get_quarantine(second)).held_at
    assert [r.id for r in (await store.search_quarantine(QuarantineQuery(since=later))).items] == [second]
    assert [r.id for r in (await store.search_quarantine(QuarantineQuery(until=later))).items] == [first]
    assert record is not None
    assert await store.claim_quarantine(first, "deleted", "alice", "spam")
    assert [r.id for r in (await store.search_quarantine(QuarantineQuery())).items] == [second]
    assert [r.id for r in (await store.search_quarantine(QuarantineQuery(status="deleted"))).items] == [first]
    assert [r.id for r in (await store.search_quarantine(QuarantineQuery(status=None))).items] == [second, first]
    assert await store.quarantine_ids(QuarantineQuery(status=None)) == [second, first]


async def test_audit_by_object_pages_and_filters(store: Any) -> None:
    for n in range(5):
        await store.audit("alice", "deleted", f"Q{n}", f"reason {n}")
    await store.audit("bob", "released", "Q2", "ok")
    page = await store.audit_page(AuditQuery(obj="Q2"))
    assert [(e.actor, e.action) for e in page.items] == [("bob", "released"), ("alice", "deleted")]
    assert page.total == 2
    first = await store.audit_page(AuditQuery(limit=4))
    assert first.total == 6 and len(first.items) == 4 and first.next_cursor is not None
    rest = await store.audit_page(AuditQuery(limit=4, before_id=int(first.next_cursor)))
    assert [e.object for e in rest.items] == ["Q1", "Q0"] and rest.next_cursor is None
    assert (await store.audit_page(AuditQuery(actor="bob"))).total == 1
    assert (await store.audit_page(AuditQuery(action="deleted"))).total == 5
    by_object = await store.audit_for_objects(["Q2", "Q4", "Q9"])
    assert [e.action for e in by_object["Q2"]] == ["released", "deleted"]
    assert len(by_object["Q4"]) == 1 and by_object["Q9"] == []


async def test_sqlite_state_from_before_the_search_index_is_indexed_at_open(tmp_path: Path) -> None:
    store = await SQLiteStore(tmp_path / "state").open()
    qid = await hold(store, f"Order {ORDER}", rules=("promo",))

    def forget(conn: Any) -> None:
        conn.execute("DELETE FROM quarantine_keys")
        conn.execute("DELETE FROM quarantine_subjects")
        conn.execute("DELETE FROM meta WHERE key = 'review_index'")

    await store._write(forget)
    assert (await store.search_quarantine(QuarantineQuery(rule="promo"))).items == []
    await store.close()
    again = await SQLiteStore(tmp_path / "state").open()
    try:
        for query in (QuarantineQuery(rule="promo"), QuarantineQuery(order_id=ORDER), QuarantineQuery(subject="order")):
            assert [r.id for r in (await again.search_quarantine(query)).items] == [qid]
    finally:
        await again.close()


async def test_registry_search_takes_percent_and_underscore_literally(store: Any) -> None:
    for alias in ("ab%cd@marketplace.amazon.de", "abxcd@marketplace.amazon.de", "a_b@marketplace.amazon.de"):
        await store.record_alias(alias, "optout", marketplace="de", order_id=None, evidence="e", source="s")
    assert [r.alias for r in await store.list_aliases(search="%")] == ["ab%cd@marketplace.amazon.de"]
    assert [r.alias for r in await store.list_aliases(search="a_b")] == ["a_b@marketplace.amazon.de"]
    assert len(await store.list_aliases(search="marketplace")) == 3


async def test_message_trail_by_quarantine_id_queue_id_and_message_id(store: Any) -> None:
    qid = await hold(store, "held one")
    await store.record_decision(qid, "<m@x>", "127.0.0.1", "s@shop.example", ["a1@marketplace.amazon.de"], "de",
                                "quarantine", ["off-platform-contact"])
    await store.claim_quarantine(qid, "released", "alice", "ok")
    await store.mark_release_spooled(qid, "QUEUE1")
    await store.record_relay("QUEUE1", "<m@x>", [("a1@marketplace.amazon.de", "de")], [ORDER], ())
    await store.record_decision("QUEUE2", "<other@x>", "127.0.0.1", "s@shop.example", ["b@marketplace.amazon.de"],
                                "de", "relay", [])
    await store.record_relay("QUEUE2", "<other@x>", [("b@marketplace.amazon.de", "de")], [], ())
    for ref in (qid, "m@x", "<m@x>"):
        trail = await store.message_trail(ref)
        assert [h.id for h in trail.held] == [qid], ref
        assert [d.action for d in trail.decisions] == ["quarantine"]
        assert [(r.queue_id, r.alias, r.order_ids) for r in trail.relays] == [
            ("QUEUE1", "a1@marketplace.amazon.de", (ORDER,))]
        assert trail.queue_ids == ["QUEUE1"]
    other = await store.message_trail("QUEUE2")
    assert [d.message_id for d in other.decisions] == ["<other@x>"] and other.queue_ids == ["QUEUE2"]
    assert other.held == [] and [r.alias for r in other.relays] == ["b@marketplace.amazon.de"]
    assert (await store.message_trail("<nothing@x>")).decisions == []


async def test_per_tenant_counts(store: Any) -> None:
    first = await hold(store, "a", tenant="t1")
    await hold(store, "b", tenant="t1")
    await hold(store, "c")
    await store.claim_quarantine(first, "deleted", "alice", "x")
    assert await store.quarantine_by_tenant() == {"t1": {"held": 1, "deleted": 1}, "": {"held": 1}}
    for tenant, action in (("t1", "quarantine"), ("t1", "relay"), ("", "reject")):
        await store.record_decision("r", "<m>", "p", "s@x", ["a@marketplace.amazon.de"], "de", action, ["promo"],
                                    tenant=tenant)
    [day] = await store.tenant_daily_counts("t1")
    assert day["actions"] == {"quarantine": 1, "relay": 1} and day["rules"] == {"promo": 2}
    assert await store.tenant_daily_counts("nobody") == []


async def test_senders_with_most_violations_count_held_and_rejected_mail_only(store: Any) -> None:
    for sender, action, rules in (("critical@shop.example", "relay", ["critical-content"]),
                                  ("critical@shop.example", "rewrite", ["critical-content"]),
                                  ("bad@shop.example", "quarantine", ["promo", "emoji"]),
                                  ("bad@shop.example", "reject", ["promo"]),
                                  ("shadow@shop.example", "quarantine", ["promo"])):
        await store.record_decision("r", "<m>", "p", sender, ["a@marketplace.amazon.de"], "de", action, rules,
                                    shadow=sender.startswith("shadow"))
    report = await store.report()
    assert report["top_senders"] == [{"mail_from": "bad@shop.example", "messages": 2, "hits": 3},
                                     {"mail_from": "shadow@shop.example", "messages": 1, "hits": 1}]
    assert report["by_rule"]["critical-content"] == 2  # still counted as hits, just not as violations
