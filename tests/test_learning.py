"""Learning from Amazon's verdicts (gateway/learning.py, gateway/pipeline/holds.py) on a real store, spool and
pipeline: policy notices become disagreements, a disagreed template is held, a restriction notice
refuses proactive mail until it is cleared."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from gateway import replies
from gateway.bounces.ingest import BounceIngestService
from gateway.cli.check import check_message
from gateway.learning import clear_restriction, fix_template, notice_facts
from gateway.outcome import Disposition
from tests.test_pipeline import ALIAS, World, mail, make_world

NOTICE_DATE = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)


def template(order: str, name: str, amount: str) -> tuple[str, str]:
    """One ERP template filled in for an order: what varies is the name, the order and the amount."""
    return (f"Ihre Rechnung zur Bestellung {order}",
            f"Hallo {name},\r\n\r\nvielen Dank für Ihren Einkauf. Anbei erhalten Sie die Rechnung zur Bestellung"
            f" {order} über {amount} EUR. Die Ware wurde heute an den Versanddienstleister übergeben und sollte"
            " in zwei bis drei Werktagen bei Ihnen eintreffen. Bei Fragen zur Rechnung antworten Sie einfach"
            " auf diese Nachricht über das Nachrichtencenter.\r\n\r\nMit freundlichen Grüßen\r\nIhr Team vom"
            " Beispielhandel\r\nBeispielhandel GmbH, Musterstraße 1, 12345 Musterstadt, HRB 12345")


def policy_notice(*, order: str, alias: str | None = None, in_reply_to: str = "",
                  kind: str = "policy") -> bytes:
    to_alias = f" to {alias}" if alias else ""
    if kind == "policy":
        subject = "Your message to a buyer was not delivered"
        body = (f"Dear Seller,\r\n\r\nThe message you sent{to_alias} for order {order} was not delivered because"
                " it did not meet the Buyer-Seller Messaging communication guidelines.\r\n\r\nPlease review"
                " the guidelines in Seller Central Help.\r\n")
    else:
        subject = "Your ability to send messages to buyers has been restricted"
        body = ("Dear Seller,\r\n\r\nYour ability to send messages to buyers has been restricted for 30 days"
                f" because recent messages did not follow our policies. Your message for order {order} was not"
                " delivered.\r\n")
    threading = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    return (f"From: Amazon Seller Notifications <donotreply@amazon.com>\r\nTo: orders@shop.example\r\n"
            f"Subject: {subject}\r\nDate: {format_datetime(NOTICE_DATE)}\r\n"
            f"Message-ID: <{kind}-{order}@amazon.example>\r\n{threading}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await make_world(tmp_path, learning={"state_seconds": 0})
    yield w
    await w.spool.close()
    await w.store.close()


def ingest(world: World) -> BounceIngestService:
    return BounceIngestService(world.store, world.config)


async def test_notice_facts_give_amazons_reason_and_date() -> None:
    facts = notice_facts(policy_notice(order="302-1111111-1111111"), "policy")
    assert facts.date == NOTICE_DATE.timestamp()
    assert facts.reason.startswith("The message you sent for order 302-1111111-1111111 was not delivered")
    assert "communication guidelines" in facts.reason and "Dear Seller" not in facts.reason


async def test_policy_notice_becomes_a_disagreement_and_holds_the_template(world: World) -> None:
    first = await world.smtp(mail(*template("302-1111111-1111111", "Anna Schmidt", "49,90"),
                                  message_id="<inv-1@shop.example>"))
    assert first.disposition is Disposition.QUEUED

    result = await ingest(world).ingest_result(policy_notice(order="302-1111111-1111111",
                                                             in_reply_to="<inv-1@shop.example>"), "test")
    assert result.learned is not None
    [found] = result.learned.disagreements
    assert f"disagreement #{found.id}" in result.summary()
    assert (found.matched_by, found.alias, found.order_id, found.template) == (
        "message-id", ALIAS, "302-1111111-1111111", "held")
    assert found.notice_id == result.notice_id and found.notice_date == NOTICE_DATE.timestamp()
    assert "communication guidelines" in found.reason
    relayed = found.relayed
    assert relayed is not None and relayed.queue_id == first.queue_id
    assert relayed.subject == "Ihre Rechnung zur Bestellung 302-1111111-1111111" and relayed.action == "relay"
    assert dict(relayed.packs).keys() == {"test"} and len(dict(relayed.packs)["test"]) == 12
    assert relayed.fingerprint and found.hit_packs == ("none",)  # no rule hit what Amazon refused
    assert await world.store.disagreements() == [found]

    # The next message of the template, for another buyer's order, is held; another template is not.
    again = await world.smtp(mail(*template("028-2222222-2222222", "Jean Dupont", "120,00")))
    assert again.disposition is Disposition.HELD
    assert [h.rule for h in again.verdict.hits] == ["template-disagreed"]
    assert f"disagreement #{found.id}" in again.verdict.hits[0].reason
    assert ("template-hold", "changed") in [(s.stage, s.result) for s in again.stages]
    other = await world.smtp(mail("Lieferung zur Bestellung 028-3333333-3333333",
                                  "Guten Tag, Ihr Paket ist unterwegs. Die Sendungsnummer finden Sie im Konto."))
    assert other.disposition is Disposition.QUEUED
    # gateway check says the same as SMTP.
    checked, _ = await check_message(world.config, world.tenants,
                                     mail(*template("028-4444444-4444444", "Max Muster", "9,99")), [ALIAS])
    assert checked.disposition is Disposition.HELD

    # Fixed by an admin: the template relays again, and the fix is audited.
    assert await fix_template(world.store, found.id, "alice", "link removed from the template", 0.6) == [found.id]
    fixed = await world.smtp(mail(*template("028-5555555-5555555", "Eva Weiß", "15,00")))
    assert fixed.disposition is Disposition.QUEUED
    assert [(e.actor, e.action) for e in await world.store.audit_log()][:1] == [("alice", "template-fixed")]


async def test_a_notice_naming_only_the_order_finds_the_newest_message_for_it(world: World) -> None:
    await world.smtp(mail("Frage zur Bestellung 302-1111111-1111111",
                          "Welche Farbe wünschen Sie für 302-1111111-1111111?"))
    latest = await world.smtp(mail(*template("302-1111111-1111111", "Anna Schmidt", "49,90")))
    result = await ingest(world).ingest_result(policy_notice(order="302-1111111-1111111"), "test")
    assert result.learned is not None
    [found] = result.learned.disagreements
    assert found.relayed is not None and found.relayed.queue_id == latest.queue_id
    assert found.matched_by == "order"
    # The same notice imported again is one disagreement.
    again = await ingest(world).ingest_result(policy_notice(order="302-1111111-1111111"), "test")
    assert again.outcome == "duplicate" and len(await world.store.disagreements()) == 1


async def test_holding_templates_can_be_switched_off(tmp_path: Path) -> None:
    w = await make_world(tmp_path, learning={"hold_templates": False, "state_seconds": 0})
    try:
        await w.smtp(mail(*template("302-1111111-1111111", "Anna Schmidt", "49,90"), message_id="<a@shop.example>"))
        result = await ingest(w).ingest_result(policy_notice(order="302-1111111-1111111",
                                                             in_reply_to="<a@shop.example>"), "test")
        assert result.learned is not None and [d.template for d in result.learned.disagreements] == ["none"]
        assert (await w.smtp(mail(*template("028-2222222-2222222", "Jean Dupont", "1,00")))).disposition \
            is Disposition.QUEUED
    finally:
        await w.spool.close()
        await w.store.close()


async def test_a_policy_notice_for_nothing_relayed_records_no_disagreement(world: World) -> None:
    result = await ingest(world).ingest_result(policy_notice(order="302-9999999-9999999"), "test")
    assert result.learned is not None and result.learned.disagreements == ()
    assert await world.store.disagreements() == []


async def test_restriction_refuses_proactive_mail_lets_replies_through_until_cleared(world: World) -> None:
    result = await ingest(world).ingest_result(policy_notice(order="113-7777777-8888888", kind="restriction"),
                                               "test")
    assert result.learned is not None and result.learned.restriction is not None
    assert "tenant restricted" in result.summary()
    assert "restricted for 30 days" in result.learned.restriction.reason

    proactive = await world.smtp(mail(*template("302-1111111-1111111", "Anna Schmidt", "49,90")))
    assert proactive.disposition is Disposition.REFUSED
    reply = replies.smtp_reply(proactive)
    assert reply.startswith("550-5.7.1") or reply.startswith("550 5.7.1")
    assert "tenant-restricted" in reply and "2026-11-23" in reply

    answer = mail("Re: Frage zu Bestellung 302-1111111-1111111", "Gerne, die Farbe ist Blau.")
    answer = answer.replace(b"\r\n\r\n", b"\r\nIn-Reply-To: <buyer-question-1@marketplace.amazon.com>\r\n\r\n", 1)
    assert (await world.smtp(answer)).disposition is Disposition.QUEUED

    assert await clear_restriction(world.store, "", "alice", "Amazon lifted the restriction") == 1
    assert (await world.smtp(mail(*template("302-2222222-1111111", "Anna Schmidt", "9,90")))).disposition \
        is Disposition.QUEUED


async def test_a_notice_not_from_amazon_neither_restricts_nor_holds(world: World) -> None:
    """Anyone can write to the mailbox notices arrive in: a forged restriction must not stop the
    seller's mail, a forged policy notice is recorded for the admin but holds nothing."""
    forged = policy_notice(order="113-7777777-8888888", kind="restriction").replace(
        b"donotreply@amazon.com", b"support@amazon-seller-help.example")
    result = await ingest(world).ingest_result(forged, "test")
    assert result.learned is not None and result.learned.restriction is None
    assert await world.store.tenant_restriction("") is None
    assert (await world.smtp(mail(*template("302-1111111-1111111", "Anna", "1,00")))).disposition \
        is Disposition.QUEUED

    await world.smtp(mail(*template("302-2222222-2222222", "Anna", "2,00"), message_id="<inv-2@shop.example>"))
    fake_policy = policy_notice(order="302-2222222-2222222", in_reply_to="<inv-2@shop.example>").replace(
        b"donotreply@amazon.com", b"noreply@shop-competitor.example")
    result = await ingest(world).ingest_result(fake_policy, "test")
    assert result.learned is not None and [d.template for d in result.learned.disagreements] == ["none"]
    assert (await world.smtp(mail(*template("302-3333333-3333333", "Jan", "3,00")))).disposition \
        is Disposition.QUEUED


async def test_a_forwarded_notice_keeps_amazon_as_its_sender() -> None:
    notice = policy_notice(order="302-1111111-1111111", kind="restriction")
    forwarded = (b"From: seller@shop.example\r\nTo: notices@gw.shop.example\r\nSubject: Fwd: restricted\r\n"
                 b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"f\"\r\n\r\n--f\r\n"
                 b"Content-Type: text/plain\r\n\r\nSee below.\r\n--f\r\nContent-Type: message/rfc822\r\n\r\n"
                 + notice + b"\r\n--f--\r\n")
    assert notice_facts(forwarded, "restriction").from_amazon
    assert not notice_facts(notice.replace(b"@amazon.com", b"@amaz0n.com"), "restriction").from_amazon
