"""The failure classes of issue 13, one test each: every one of these failed before the change."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.policy.engine import PolicyEngine
from gateway.policy.examples import evaluate_example
from gateway.policy.verdict import Action, Verdict
from tests.policy.mail import ALIAS_DE, ORDER, PDF, attachment, message, recipients

EXAMPLES = Path(__file__).resolve().parents[2] / "policies" / "examples" / "judgement"
ALIAS_FR = "h4pzt9mkr3b8xvd@marketplace.amazon.fr"
ALIAS_JP = "k5tx8vmr2dqz9bn@marketplace.amazon.co.jp"


def example(engine: PolicyEngine, name: str) -> Verdict:
    return evaluate_example(engine, (EXAMPLES / name).read_bytes())


def rules(verdict: Verdict) -> set[str]:
    return {h.rule for h in verdict.hits}


def test_an_erp_invoice_with_a_leading_zero_order_id_hotline_and_star_product_relays(engine: PolicyEngine) -> None:
    verdict = example(engine, "invoice-order-id-hotline-product-de.eml")
    assert verdict.action is Action.RELAY, verdict.hits
    assert verdict.purpose == "invoice"


@pytest.mark.parametrize("body", [
    f"Zu Bestellung {ORDER}: wir würden uns freuen, wenn Sie den Artikel mit fünf Sternen bewerten.",
    f"Order {ORDER}: we would love five stars when you are rating our products.",
])
def test_inflected_forms_of_review_wording_are_found(engine: PolicyEngine, body: str) -> None:
    verdict = engine.evaluate(message(f"Bestellung {ORDER}", body), recipients())
    assert "review-positive-wording" in rules(verdict), verdict.hits


def test_inflected_delivery_scheduling_is_critical(engine: PolicyEngine) -> None:
    body = (f"Guten Tag,\n\nIhr Schrank aus Bestellung {ORDER} kommt per Spedition. Wir freuen uns auf Ihre "
            "Terminvorschläge für die Anlieferung: welche Zeitfenster passen Ihnen?\n\nViele Grüße")
    verdict = engine.evaluate(message(f"Ihre Bestellung {ORDER}", body), recipients())
    assert verdict.critical
    assert verdict.action is Action.REWRITE
    assert verdict.subject.startswith("[Wichtig] ")


@pytest.mark.parametrize("name", ["shipping-confirmation-with-items-de.eml", "thanks-with-footer-en.eml"])
def test_real_confirmations_and_thank_you_mail_are_refused(engine: PolicyEngine, name: str) -> None:
    verdict = example(engine, name)
    assert verdict.action is Action.REJECT
    assert rules(verdict) & {"confirmation-only", "thanks-only"}


def test_a_shipping_notice_that_sends_the_invoice_is_an_invoice(engine: PolicyEngine) -> None:
    body = (f"Guten Tag,\n\nIhre Bestellung {ORDER} wurde heute versandt. Anbei erhalten Sie Ihre Rechnung.\n\n"
            "Mit freundlichen Grüßen")
    raw = message(f"Versand und Rechnung {ORDER}", body,
                  attachments=(attachment("Rechnung_RE-4711.pdf", PDF, "application/pdf"),))
    verdict = engine.evaluate(raw, recipients())
    assert verdict.action is Action.RELAY, verdict.hits
    assert verdict.purpose == "invoice"


def test_out_of_stock_notice_is_refused_even_with_the_refund_mentioned(engine: PolicyEngine) -> None:
    body = (f"Guten Tag,\n\nleider ist der Artikel aus Bestellung {ORDER} nicht mehr vorrätig. Den Kaufpreis "
            "erstatten wir Ihnen vollständig.\n\nMit freundlichen Grüßen")
    verdict = engine.evaluate(message(f"Ihre Bestellung {ORDER}", body), recipients())
    assert "out-of-stock-notice" in rules(verdict)
    assert verdict.purpose == "out-of-stock"


@pytest.mark.parametrize("line", [
    "Ersatzteile finden Sie auf mustermann-handel punkt de.",
    "More at www dot mustermann-handel dot com.",
    "Zubehör: https://www.amazon.de/stores/MustermannHandel/page/4F1C2B3A",
    "Dazu passend: https://www.amazon.de/dp/B0C1234567 und https://www.amazon.de/dp/B0C7654321",
])
def test_spelled_out_and_cross_selling_links_are_refused(engine: PolicyEngine, line: str) -> None:
    verdict = engine.evaluate(message(f"Rechnung {ORDER}", f"Anbei die Rechnung zu {ORDER}.\n{line}",
                                      attachments=(attachment("Rechnung.pdf", PDF, "application/pdf"),)),
                              recipients())
    assert rules(verdict) & {"spelled-out-link", "amazon-cross-selling-link"}, verdict.hits
    single = engine.evaluate(message(f"Rechnung {ORDER}", f"Anleitung: https://www.amazon.de/dp/B0C1234567 ({ORDER})"),
                             recipients())
    assert not rules(single) & {"spelled-out-link", "amazon-cross-selling-link"}
    prose = engine.evaluate(message("Commande", f"Commande {ORDER}: au point de vue technique, tout va bien.",
                                    to=ALIAS_FR), recipients(ALIAS_FR))
    assert "spelled-out-link" not in rules(prose)


def test_line_and_dutch_polish_swedish_phrases_are_checked(engine: PolicyEngine) -> None:
    assert "off-amazon-contact" in rules(example(engine, "messenger-line-ja.eml"))
    assert "promotion-discount" in rules(example(engine, "coupon-nl.eml"))
    pl = "p7kd3vxq4tz8rbn@marketplace.amazon.pl"
    verdict = engine.evaluate(message(f"Zamówienie {ORDER}", f"Zamówienie {ORDER}: prosimy o pozytywną opinię i 5 "
                                      "gwiazdek na Amazon.", to=pl), recipients(pl))
    assert "review-positive-wording" in rules(verdict)


def test_a_message_not_in_the_marketplace_language_is_held(engine: PolicyEngine) -> None:
    body = (f"Sehr geehrte Damen und Herren,\n\nvielen Dank für Ihre Bestellung {ORDER}. Anbei erhalten Sie Ihre "
            "Rechnung als PDF. Die Ware wurde sorgfältig verpackt und an den Versanddienstleister übergeben.")
    to_fr = engine.evaluate(message(f"Rechnung {ORDER}", body, to=ALIAS_FR), recipients(ALIAS_FR))
    assert to_fr.language == "de"
    assert "language-mismatch" in rules(to_fr)
    assert to_fr.action is Action.QUARANTINE
    to_de = engine.evaluate(message(f"Rechnung {ORDER}", body), recipients(ALIAS_DE))
    assert "language-mismatch" not in rules(to_de)


def test_text_split_by_inline_tags_is_read_as_one_word(engine: PolicyEngine) -> None:
    verdict = example(engine, "split-html-coupon-de.eml")
    assert "promotion-discount" in rules(verdict)


@pytest.mark.parametrize("name", ["critical-freight-de.eml", "critical-postcode-de.eml",
                                  "critical-scheduling-es.eml"])
def test_critical_mail_gets_the_keyword(engine: PolicyEngine, name: str) -> None:
    verdict = example(engine, name)
    assert verdict.action is Action.REWRITE
    assert verdict.critical
    assert verdict.subject_rewrites and verdict.subject_rewrites[0].startswith("add-keyword")


def test_full_width_keyword_is_normalised_and_a_present_keyword_is_not_misuse(engine: PolicyEngine) -> None:
    ja = example(engine, "critical-fullwidth-keyword-ja.eml")
    assert ja.subject.startswith("[重要] ")
    assert "［重要］" not in ja.subject
    assert ja.original_subject is not None and ja.original_subject.startswith("［重要］")
    present = example(engine, "critical-keyword-present-de.eml")
    assert present.action is Action.RELAY, present.hits
    assert present.critical


def test_a_reply_to_the_sellers_own_mail_is_no_buyer_thread_and_its_quote_is_read(engine: PolicyEngine) -> None:
    verdict = example(engine, "reply-own-thread-coupon-de.eml")
    assert not verdict.reply
    assert "promotion-discount" in rules(verdict)


def test_a_released_keyword_misuse_goes_out_without_the_keyword(engine: PolicyEngine) -> None:
    raw = message(f"[Wichtig] Ihre Rechnung {ORDER}", f"Anbei die Rechnung zu {ORDER}.",
                  attachments=(attachment("Rechnung.pdf", PDF, "application/pdf"),))
    verdict = engine.evaluate(raw, recipients())
    assert verdict.action is Action.QUARANTINE
    assert verdict.subject_rewrites == ("remove-keyword",)
    relayed = engine.apply(raw, verdict)
    assert b"Wichtig" not in relayed.split(b"\r\n\r\n", 1)[0]
