"""Amazon seller notices in each supported language (sample notices in tests/bounces/data)."""

from __future__ import annotations

import tomllib

import pytest

from gateway.bounces import parse_bounce
from gateway.bounces.amazon import rules
from gateway.bounces.reasons import POLICY_DIR
from tests.bounces.conftest import DATA

OPTOUT = [
    # file, order id, marketplace, language, wording verified
    ("amazon-optout-en.eml", "112-4817265-9034712", "com", "en", True),
    ("amazon-optout-de.eml", "302-4817265-9034712", "de", "de", False),
    ("amazon-optout-fr.eml", "402-1234567-1234567", "fr", "fr", True),
    ("amazon-optout-it.eml", "171-7654321-7654321", "it", "it", False),
    ("amazon-optout-es.eml", "405-2222222-3333333", "es", "es", False),
    ("amazon-optout-ja.eml", "503-1111111-2222222", "co.jp", "ja", True),
]


@pytest.mark.parametrize(("name", "order_id", "marketplace", "language", "verified"), OPTOUT)
def test_optout_notice(name: str, order_id: str, marketplace: str, language: str, verified: bool) -> None:
    report = parse_bounce((DATA / name).read_bytes())
    assert report.kind == "amazon-optout"
    assert report.notice == "optout"
    assert report.order_id == order_id
    assert report.marketplace == marketplace
    assert report.language == language
    assert report.wording_verified is verified


def test_optout_without_alias_has_no_recipients_but_correlates_by_message_id() -> None:
    report = parse_bounce((DATA / "amazon-optout-en.eml").read_bytes())
    assert report.alias is None
    assert report.recipients == ()
    assert report.message_ids == ("20261123101400.4711@gw.shop.example",)


def test_alias_and_message_id_come_from_the_quoted_original() -> None:
    report = parse_bounce((DATA / "amazon-optout-it.eml").read_bytes())
    assert report.alias == "9xkqz7wpl3mbv2d@marketplace.amazon.it"
    assert report.message_ids == ("20261123101700.4714@gw.shop.example",)
    (rcpt,) = report.recipients
    assert (rcpt.address, rcpt.reason) == ("9xkqz7wpl3mbv2d@marketplace.amazon.it", "filtered")


def test_html_only_notice_with_entities() -> None:
    report = parse_bounce((DATA / "amazon-optout-fr.eml").read_bytes())
    assert report.kind == "amazon-optout"


def test_crlf_notice_parses_like_lf() -> None:
    raw = (DATA / "amazon-optout-de.eml").read_bytes()
    assert parse_bounce(raw.replace(b"\n", b"\r\n")) == parse_bounce(raw)


@pytest.mark.parametrize(("name", "notice", "reason"), [
    ("amazon-policy-en.eml", "policy", "policyviolation"),
    ("amazon-invalid-alias-en.eml", "invalid-alias", "userunknown"),
])
def test_other_notices_report_the_alias(name: str, notice: str, reason: str) -> None:
    report = parse_bounce((DATA / name).read_bytes())
    assert report.kind == "amazon-notice"
    assert report.notice == notice
    assert report.alias is not None
    assert report.alias.endswith(f"@marketplace.amazon.{report.marketplace}")
    assert [r.reason for r in report.recipients] == [reason]


def test_restriction_notice() -> None:
    report = parse_bounce((DATA / "amazon-restriction-en.eml").read_bytes())
    assert (report.kind, report.notice, report.order_id) == ("amazon-notice", "restriction",
                                                             "113-7777777-8888888")


def test_alias_token_is_dropped() -> None:
    raw = (DATA / "amazon-policy-en.eml").read_bytes().replace(
        b"bcdf9ghjk2lmnpq@marketplace", b"bcdf9ghjk2lmnpq+Tk9x@marketplace")
    assert parse_bounce(raw).alias == "bcdf9ghjk2lmnpq@marketplace.amazon.co.uk"


def test_notice_sent_from_the_buyer_alias() -> None:
    raw = (DATA / "amazon-optout-de.eml").read_bytes().replace(
        b"=?utf-8?q?Amazon_Verk=C3=A4ufer-Benachrichtigung?= <donotreply@amazon.de>",
        b"Max Mustermann - Amazon Marketplace <d4fz8kq1mnb0cdw+Tok3n@marketplace.amazon.de>")
    report = parse_bounce(raw)
    assert report.kind == "amazon-optout"
    assert (report.alias, report.marketplace) == ("d4fz8kq1mnb0cdw@marketplace.amazon.de", "de")


def test_subject_alone_needs_an_amazon_sender() -> None:
    body = b"\n\nSee you soon.\n"
    subject = b"Subject: Your message to a buyer could not be delivered\n"
    from_amazon = parse_bounce(b"From: donotreply@amazon.de\n" + subject + body)
    from_other = parse_bounce(b"From: friend@example.org\n" + subject + body)
    assert from_amazon.kind == "amazon-optout"
    assert from_amazon.marketplace == "de"
    assert from_other.kind == "not-bounce"


def test_seller_mail_mentioning_opt_out_is_not_a_notice() -> None:
    raw = (b"From: orders@shop.example\nTo: bcdf9ghjk2lmnpq@marketplace.amazon.de\n"
           b"Subject: Order 302-1234567-1234567\n\nYou can opt out of our newsletter at any time.\n")
    assert parse_bounce(raw).kind == "not-bounce"


def test_every_wording_is_marked_and_every_required_language_covered() -> None:
    data = tomllib.loads((POLICY_DIR / "amazon.toml").read_text(encoding="utf-8"))
    for entry in data["notice"]:
        assert isinstance(entry["verified"], bool)
        assert entry["source"]
        assert entry["phrases"], entry
    optout = {w.language for w in rules().wordings if w.kind == "optout"}
    required = {"en", "de", "fr", "it", "es", "ja"}
    assert required <= optout
    for kind in ("policy", "restriction", "invalid-alias"):
        assert required <= {w.language for w in rules().wordings if w.kind == kind}


def test_every_wording_is_recognised_as_its_own_kind_and_language() -> None:
    data = tomllib.loads((POLICY_DIR / "amazon.toml").read_text(encoding="utf-8"))
    for entry in data["notice"]:
        for phrase in entry["phrases"]:
            # Case does not matter: English phrases are tried upper-cased.
            text = phrase.upper() if entry["language"] == "en" else phrase
            body = f"Dear Seller,\n\n{text} (order 111-2222222-3333333)."
            raw = (b"From: donotreply@amazon.com\nSubject: Notice\n"
                   b"Content-Type: text/plain; charset=utf-8\n\n" + body.encode())
            report = parse_bounce(raw)
            expected_kind = "amazon-optout" if entry["kind"] == "optout" else "amazon-notice"
            assert (report.kind, report.notice, report.language) == (expected_kind, entry["kind"],
                                                                    entry["language"]), phrase
            assert report.order_id == "111-2222222-3333333"
