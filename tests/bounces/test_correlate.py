"""Correlation of notices with relay records, on a real SQLite store and real parsed notices."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.bounces import BouncedRecipient, BounceReport, parse_bounce
from gateway.bounces.correlate import Correlator, normalize_marketplace, status_for_recipient
from gateway.classify import Classifier
from gateway.config import DEFAULT_MARKETPLACE_TLDS
from gateway.store.sqlite import SQLiteStore
from tests.bounces.messages import dsn, optout_notice

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
OTHER = "zxcvbnmlkjhgfds@marketplace.amazon.de"
ORDER = "302-4817265-9034712"
CLASSIFIER = Classifier(DEFAULT_MARKETPLACE_TLDS)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = await SQLiteStore(tmp_path / "state").open()
    yield s
    await s.close()


def correlator(store: SQLiteStore, days: int = 60) -> Correlator:
    return Correlator(store, CLASSIFIER, days)


async def test_alias_named_in_the_notice_wins(store: SQLiteStore) -> None:
    # A relay of the same order to another alias must not matter when the notice names the alias.
    await store.record_relay("Q1", "<m1@shop.example>", [(OTHER, "de")], [ORDER], set())
    report = parse_bounce(optout_notice(ORDER, alias="BCDFGHJKLMNPQRS@marketplace.amazon.de"))
    result = await correlator(store).correlate(report)
    assert result.matched_by == "alias"
    assert [(t.alias, t.status) for t in result.targets] == [(ALIAS, "optout")]


async def test_notice_matched_by_in_reply_to_message_id(store: SQLiteStore) -> None:
    await store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [], set())
    await store.record_relay("Q2", "<m2@shop.example>", [(OTHER, "de")], [], set())
    report = parse_bounce(optout_notice("999-9999999-9999999", in_reply_to="<m1@shop.example>"))
    assert report.message_ids == ("m1@shop.example",)  # the parser strips the brackets
    result = await correlator(store).correlate(report)
    assert (result.matched_by, [t.alias for t in result.targets]) == ("message-id", [ALIAS])


async def test_notice_with_only_the_order_matched_by_order_and_marketplace(store: SQLiteStore) -> None:
    await store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [ORDER], set())
    # The same order number on another marketplace is another order.
    await store.record_relay("Q2", "<m2@shop.example>", [("qqqqqqqqqqqqqqq@marketplace.amazon.fr", "fr")],
                             [ORDER], set())
    result = await correlator(store).correlate(parse_bounce(optout_notice(ORDER, tld="de")))
    assert result.matched_by == "order"
    assert [(t.alias, t.marketplace, t.status) for t in result.targets] == [(ALIAS, "de", "optout")]


async def test_order_found_on_another_marketplace_when_the_notice_guessed_wrong(store: SQLiteStore) -> None:
    # Amazon writes from amazon.com about an amazon.de order: the order id still finds the relay.
    await store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [ORDER], set())
    report = parse_bounce(optout_notice(ORDER, tld="com"))
    assert report.marketplace == "com"
    result = await correlator(store).correlate(report)
    assert (result.matched_by, [(t.alias, t.marketplace) for t in result.targets]) == ("order", [(ALIAS, "de")])


async def test_order_match_only_within_correlation_window(store: SQLiteStore) -> None:
    await store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [ORDER], set())
    report = parse_bounce(optout_notice(ORDER))
    later = time.time() + 3 * 86400
    assert not (await correlator(store, days=2).correlate(report, now=later)).matched
    assert (await correlator(store, days=4).correlate(report, now=later)).matched


async def test_ambiguous_order_is_not_guessed(store: SQLiteStore) -> None:
    await store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [ORDER], set())
    await store.record_relay("Q2", "<m2@shop.example>", [(OTHER, "de")], [ORDER], set())
    result = await correlator(store).correlate(parse_bounce(optout_notice(ORDER)))
    assert not result.matched
    assert result.about_alias
    assert sorted(result.candidates) == sorted([ALIAS, OTHER])


async def test_message_to_two_aliases_narrowed_by_order(store: SQLiteStore) -> None:
    await store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de"), (OTHER, "de")], [], set())
    await store.record_relay("Q2", "<m2@shop.example>", [(ALIAS, "de")], [ORDER], set())
    report = parse_bounce(optout_notice(ORDER, in_reply_to="<m1@shop.example>"))
    result = await correlator(store).correlate(report)
    assert (result.matched_by, [t.alias for t in result.targets]) == ("message-id", [ALIAS])


async def test_unknown_order_is_unmatched(store: SQLiteStore) -> None:
    result = await correlator(store).correlate(parse_bounce(optout_notice(ORDER)))
    assert not result.matched and result.about_alias and result.candidates == ()


async def test_dsn_user_unknown_for_alias_is_dead_mailbox_full_is_not(store: SQLiteStore) -> None:
    dead = parse_bounce(dsn(ALIAS, "5.1.1", "550 5.1.1 Recipient address rejected: User unknown"))
    result = await correlator(store).correlate(dead)
    assert (result.matched_by, [(t.alias, t.status) for t in result.targets]) == ("alias", [(ALIAS, "dead")])
    full = parse_bounce(dsn(ALIAS, "4.2.2", "452 4.2.2 Mailbox full", action="delayed"))
    assert [(t.alias, t.status) for t in (await correlator(store).correlate(full)).targets] == [(ALIAS, None)]


async def test_dsn_for_ordinary_address_is_not_about_an_alias(store: SQLiteStore) -> None:
    report = parse_bounce(dsn("someone@example.org", "5.1.1", "550 5.1.1 User unknown"))
    result = await correlator(store).correlate(report)
    assert not result.matched and not result.about_alias


async def test_dsn_without_alias_but_with_relayed_message_id_records_without_status(store: SQLiteStore) -> None:
    await store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [], set())
    report = parse_bounce(dsn("buyer@real-mailbox.example", "5.1.1", "550 5.1.1 User unknown",
                              original_message_id="<m1@shop.example>"))
    result = await correlator(store).correlate(report)
    assert result.matched_by == "message-id"
    assert [(t.alias, t.status) for t in result.targets] == [(ALIAS, None)]


@pytest.mark.parametrize(("status", "reason", "action", "expected"), [
    ("5.1.1", "userunknown", "failed", "dead"),
    ("5.1.2", "hostunknown", "failed", "dead"),
    ("5.1.10", "undefined", "failed", "dead"),
    ("5.1.7", "undefined", "failed", None),  # the *sender's* address is bad, not the alias
    ("5.2.2", "mailboxfull", "failed", None),
    ("4.1.1", "userunknown", "delayed", None),
    ("5.7.1", "filtered", "failed", None),
])
async def test_dsn_recipient_status(status: str, reason: str, action: str, expected: str | None) -> None:
    recipient = BouncedRecipient(address=ALIAS, reason=reason, status=status, action=action)
    assert status_for_recipient(recipient) == expected


async def test_amazon_notice_kinds(store: SQLiteStore) -> None:
    invalid = BounceReport(kind="amazon-notice", notice="invalid-alias", alias=ALIAS)
    policy = BounceReport(kind="amazon-notice", notice="policy", alias=ALIAS)
    assert [t.status for t in (await correlator(store).correlate(invalid)).targets] == ["dead"]
    assert [t.status for t in (await correlator(store).correlate(policy)).targets] == [None]


async def test_alias_token_dropped_and_local_part_completed(tmp_path: Path) -> None:
    c = Correlator(SQLiteStore(tmp_path), CLASSIFIER, 60)
    assert c.alias_of("BCDFGHJKLMNPQRS+t0k3n@Marketplace.Amazon.de") == (ALIAS, "de")
    assert c.alias_of("bcdfghjklmnpqrs", "de") == (ALIAS, "de")
    assert c.alias_of("someone@example.org") is None


@pytest.mark.parametrize(("value", "expected"), [
    ("de", "de"), ("amazon.de", "de"), ("www.amazon.co.uk", "co.uk"), ("Amazon.CO.JP", "co.jp"),
    ("marketplace.amazon.fr", "fr"), ("example.org", None), (None, None),
])
async def test_normalize_marketplace(value: str | None, expected: str | None) -> None:
    assert normalize_marketplace(value, CLASSIFIER) == expected
