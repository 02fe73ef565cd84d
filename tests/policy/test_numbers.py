"""Numbers in real seller mail: order ids, bank and register ids, hotlines are not the seller's
phone number; the seller's own number still is."""

from __future__ import annotations

import random

import pytest

from gateway.orderids import find_order_ids, mask_order_ids, order_ids_in_message
from gateway.policy.engine import PolicyEngine
from gateway.policy.verdict import Action
from tests.policy.mail import ALIAS_DE, PDF, attachment, message, recipients

ALIAS_IT = "n2kd8vxq4tz7rbp@marketplace.amazon.it"


def _invoice_de(order: str) -> str:
    return (
        "Sehr geehrte Damen und Herren,\n\n"
        f"vielen Dank für Ihre Bestellung {order} bei Amazon. Anbei erhalten Sie Ihre Rechnung "
        "RE-2026-004711 als PDF.\n\n"
        "Pos. Menge Artikel                         Einzelpreis   Gesamt\n"
        "1    2     Kopfkissen 80x80 Daunen         29,95 EUR     59,90 EUR\n"
        "Zwischensumme 59,90 EUR, enthaltene MwSt. 19 % 9,56 EUR, Versand 0,00 EUR\n\n"
        "Mit freundlichen Grüßen\nIhr Team von Mustermann Handel\n\n"
        "--\nMustermann Handel GmbH · Musterstraße 1 · 10115 Berlin\n"
        "Amtsgericht Charlottenburg HRB 123456 B · USt-IdNr. DE123456789\n"
        "Geschäftsführer: Max Mustermann · IBAN DE89 3704 0044 0532 0130 00 · BIC COBADEFFXXX\n"
    )


def _order_with_leading_zero(rng: random.Random) -> str:
    return f"{rng.randint(300, 306)}-0{rng.randint(0, 999999):06d}-{rng.randint(0, 9999999):07d}"


def test_order_ids_with_a_leading_zero_middle_group_are_not_phone_numbers(engine: PolicyEngine) -> None:
    rng = random.Random(13)
    for _ in range(20):
        order = _order_with_leading_zero(rng)
        for rcpt in (ALIAS_DE, ALIAS_IT):
            raw = message(f"Ihre Rechnung zur Bestellung {order}", _invoice_de(order), to=rcpt,
                          attachments=(attachment("Rechnung.pdf", PDF, "application/pdf"),))
            verdict = engine.evaluate(raw, recipients(rcpt))
            assert "seller-phone-number" not in {h.rule for h in verdict.hits}, (order, verdict.hits)
            assert verdict.order_ids == (order,)


def test_order_ids_written_with_other_dashes_or_full_width_digits_are_found_and_masked() -> None:
    assert find_order_ids("Bestellung 302\u20110817265\u20119034712") == ("302-0817265-9034712",)
    assert find_order_ids("ご注文番号：３０２－０８１７２６５－９０３４７１２") == ("302-0817265-9034712",)
    masked = mask_order_ids("Nr 302 0817265 9034712 und 30208172659034712.")
    assert masked == "Nr " + "#" * 19 + " und " + "#" * 17 + "."
    assert find_order_ids("1302-4817265-9034712 302-4817265-90347123") == ()


def test_order_ids_in_message_reads_html_only_mail_through_the_reader() -> None:
    raw = message("Rechnung", "", html="<p>Bestellung <b>302-4817265</b>-9034712</p>")
    assert order_ids_in_message(raw) == ("302-4817265-9034712",)


def test_manufacturer_hotline_a_paragraph_away_from_its_label_is_allowed(engine: PolicyEngine) -> None:
    order = "302-4817265-9034712"
    body = (f"Guten Tag,\n\nzu Ihrer Bestellung {order}: Für Fragen zur Bedienung und bei technischen "
            "Störungen des Geräts wenden Sie sich bitte an den Hersteller; dessen kostenlose Service-"
            "Hotline erreichen Sie\nwerktags von 8 bis 18 Uhr unter 0800 1234567.\n\n"
            "Mit freundlichen Grüßen\nIhr Team")
    assert body.index("0800") - body.index("Hersteller") > 90
    verdict = engine.evaluate(message(f"Ihre Bestellung {order}", body), recipients())
    assert "seller-phone-number" not in {h.rule for h in verdict.hits}, verdict.hits


@pytest.mark.parametrize("line", [
    "Bei Fragen erreichen Sie uns unter Tel.: 030 12345678.",
    "Rufen Sie uns einfach an: 0171 2345678",
    "Telefon +49 30 12345678",
])
def test_the_sellers_own_number_is_still_refused(engine: PolicyEngine, line: str) -> None:
    order = "302-0817265-9034712"
    body = f"Guten Tag,\n\nIhre Bestellung {order} ist angekommen?\n{line}\n\nViele Grüße"
    verdict = engine.evaluate(message(f"Bestellung {order}", body), recipients())
    assert verdict.action is Action.REJECT
    assert "seller-phone-number" in {h.rule for h in verdict.hits}


def test_labelled_ids_are_not_phone_numbers(engine: PolicyEngine) -> None:
    order = "302-4817265-9034712"
    body = (f"Guten Tag,\n\nanbei die Rechnung zu {order}.\nKundennummer: 0301234567\n"
            "Rechnungsnummer 0049 1234 5678\nIBAN DE89 3704 0044 0532 0130 00\n\nMit freundlichen Grüßen")
    verdict = engine.evaluate(message(f"Rechnung {order}", body,
                                      attachments=(attachment("Rechnung.pdf", PDF, "application/pdf"),)),
                              recipients())
    assert "seller-phone-number" not in {h.rule for h in verdict.hits}, verdict.hits


def test_a_phone_number_behind_a_tel_link_is_refused(engine: PolicyEngine) -> None:
    """The visible text says "Rufen Sie uns an", the number is only in the link: still the seller's."""
    order = "302-4817265-9034712"
    html = (f"<p>Guten Tag,</p><p>Ihre Bestellung {order} ist unterwegs. Fragen? "
            '<a href="tel:+493012345678">Rufen Sie uns an</a>.</p><p>Viele Grüße</p>')
    verdict = engine.evaluate(message(f"Bestellung {order}", "", html=html), recipients())
    hits = {h.rule: h for h in verdict.hits}
    assert verdict.action is Action.REJECT
    assert "seller-phone-number" in hits and "+493012345678" in hits["seller-phone-number"].evidence


def test_a_manufacturer_hotline_shown_and_linked_is_judged_by_its_text(engine: PolicyEngine) -> None:
    """A tel: link whose number is also written out is the text's case: its context may allow it."""
    order = "302-4817265-9034712"
    html = (f"<p>Guten Tag,</p><p>zu Ihrer Bestellung {order}: bei technischen Fragen hilft die "
            'Service-Hotline des Herstellers unter <a href="tel:08001234567">0800 1234567</a>.</p>'
            "<p>Mit freundlichen Grüßen</p>")
    plain = (f"Guten Tag,\n\nzu Ihrer Bestellung {order}: bei technischen Fragen hilft die "
             "Service-Hotline des Herstellers unter 0800 1234567.\n\nMit freundlichen Grüßen")
    verdict = engine.evaluate(message(f"Bestellung {order}", plain, html=html), recipients())
    assert "seller-phone-number" not in {h.rule for h in verdict.hits}, verdict.hits
