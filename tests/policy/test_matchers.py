"""Matchers: whole-word phrases in one automaton pass, allow-lists, context exceptions."""

from __future__ import annotations

import pytest

from gateway.policy.engine import PolicyEngine
from gateway.policy.matchers import Document, Phrase, PhraseIndex, domain_allowed
from tests.policy.mail import ORDER, message, recipients


def scan(phrases: list[str], subject: str, body: str) -> dict[int, list[str]]:
    index = PhraseIndex()
    for i, raw in enumerate(phrases):
        index.add((0, 0, i), Phrase.parse(raw))
    index.build()
    doc = Document.build(subject, body)
    return {key[2]: [doc.text[s:e] for s, e in spans] for key, spans in index.scan(doc).items()}


def test_phrases_match_whole_words_only() -> None:
    found = scan(["rabatt", "edit"], "", "Sommerrabatt, Rabatt! Die Spedition kommt; edit: Rabatt-Code")
    assert found == {0: ["rabatt", "rabatt"], 1: ["edit"]}


def test_star_allows_a_match_inside_a_longer_word() -> None:
    found = scan(["*rabatt", "gutschein*"], "", "Sommerrabatt und Gutscheincode")
    assert found == {0: ["rabatt"], 1: ["gutschein"]}


def test_cjk_phrases_match_without_word_gaps() -> None:
    assert scan(["クーポン"], "", "今なら限定クーポンをプレゼント") == {0: ["クーポン"]}


def test_the_same_phrase_in_several_lists_is_reported_for_each() -> None:
    found = scan(["5 sterne", "5-Sterne"], "", "Bitte 5 Sterne")
    assert found == {0: ["5 sterne"], 1: ["5 sterne"]}


def test_subject_and_body_zones_are_kept_apart() -> None:
    doc = Document.build("Gutschein", "Text")
    assert doc.in_zone(1, "subject")
    assert not doc.in_zone(1, "body")
    assert doc.in_zone(doc.subject_end + 2, "body")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("www.amazon.de", True),
        ("amazon.co.uk", True),
        ("sellercentral.amazon.com", True),
        ("amzn.to", True),
        ("amazon.de.evil.example", False),
        ("myamazon.de", False),
        ("amazon-shop.de", False),
        ("www.dhl.de", True),
        ("nolp.dhl.de", True),
        ("dhl.de.example.com", False),
    ],
)
def test_domain_allow_list(host: str, allowed: bool) -> None:
    rules = ("amazon.*", "amzn.*", "dhl.de")
    assert domain_allowed(host, rules) is allowed


def test_phone_numbers_are_found_but_carrier_context_and_order_ids_are_not(engine: PolicyEngine) -> None:
    def hits(body: str) -> set[str]:
        raw = message(f"Bestellung {ORDER}", body)
        return {h.rule for h in engine.evaluate(raw, recipients()).hits}

    assert "seller-phone-number" in hits(f"Zu {ORDER}: Rufnummer +49 30 12345678.")
    assert "seller-phone-number" not in hits(f"Zu {ORDER}: die Spedition erreichen Sie unter 030 12345678.")
    assert "seller-phone-number" not in hits(
        f"Bestellung {ORDER} und 028-1234567-1234567, Termin 01.12.2026."
    )


def test_copyright_and_trademark_signs_are_not_emoji(engine: PolicyEngine) -> None:
    raw = message(f"Bestellung {ORDER}", f"Zu {ORDER}. © 2026 Mustermann™ ®")
    assert "emoji" not in {h.rule for h in engine.evaluate(raw, recipients()).hits}
    flagged = message(f"Bestellung {ORDER}", f"Zu {ORDER} 🇩🇪 ✅")
    assert "emoji" in {h.rule for h in engine.evaluate(flagged, recipients()).hits}


def test_buyer_alias_in_the_body_is_not_a_seller_email(engine: PolicyEngine) -> None:
    raw = message(f"Bestellung {ORDER}", f"Zu {ORDER}, gesendet an b7d3kq9xz2m4np5@marketplace.amazon.de.")
    assert "seller-email-address" not in {h.rule for h in engine.evaluate(raw, recipients()).hits}


def test_near_pair_finds_close_occurrences_in_either_order_and_zone() -> None:
    from gateway.policy.engine import near_pair

    assert near_pair([(100, 105)], [(10, 15), (120, 125)], 20, 0) == (100, 125)
    assert near_pair([(100, 105)], [(80, 90)], 10, 0) == (80, 105)
    assert near_pair([(100, 105)], [(10, 15), (140, 145)], 20, 0) is None
    # Subject (before 50) and body never pair up, however close.
    assert near_pair([(45, 49)], [(52, 55)], 20, 50) is None


def test_phone_context_words_work_in_japanese(engine: PolicyEngine) -> None:
    rcpt = "k5tx8vmr2dqz9bn@marketplace.amazon.co.jp"
    maker = message(
        f"ご注文 {ORDER}", f"ご注文 {ORDER} の保証については、メーカーのサポート 03-1234-5678 へ。", to=rcpt
    )
    own = message(
        f"ご注文 {ORDER}", f"ご注文 {ORDER} について、当店 03-1234-5678 までお電話ください。", to=rcpt
    )
    assert "seller-phone-number" not in {h.rule for h in engine.evaluate(maker, recipients(rcpt)).hits}
    assert "seller-phone-number" in {h.rule for h in engine.evaluate(own, recipients(rcpt)).hits}
