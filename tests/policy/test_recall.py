"""Issue 13, the recall classes left after the first round: one test per mechanism, each failed before
its change. The wording differs from the evaluation corpus on purpose (it checks the mechanism)."""

from __future__ import annotations

import pytest

from gateway.message import normalize, read_message
from gateway.policy.engine import PolicyEngine
from gateway.policy.language import detect
from gateway.policy.stems import japanese_variants
from gateway.policy.verdict import Action, Verdict
from tests.policy.mail import ORDER, PDF, attachment, message, recipients

ALIAS_JP = "k5tx8vmr2dqz9bn@marketplace.amazon.co.jp"
ALIAS_PL = "w9bk2zq7mxv4ntc@marketplace.amazon.pl"
ALIAS_ES = "m3tk8zq2vbx7nrd@marketplace.amazon.es"
ALIAS_IT = "g8kz2mq7xbv3ndt@marketplace.amazon.it"
ALIAS_NL = "j4mz7kq2xbv9ntc@marketplace.amazon.nl"
ALIAS_AE = "9kq3mz7bxv2ntdc@marketplace.amazon.ae"
ALIAS_TR = "h7vq3mz8kbx2ntd@marketplace.amazon.com.tr"


def rules(verdict: Verdict) -> set[str]:
    return {h.rule for h in verdict.hits}


def test_a_japanese_footer_with_the_invoice_issuer_number_does_not_make_a_shipping_notice_an_invoice(
        engine: PolicyEngine) -> None:
    body = (f"佐藤 様\n\nご注文（{ORDER}）の商品を本日出荷いたしました。\n送り状番号：5521-0043-8812\n\n"
            "--\n株式会社ひかり雑貨 適格請求書発行事業者登録番号 T1234500006789\n")
    verdict = engine.evaluate(message("出荷のご連絡", body, to=ALIAS_JP), recipients(ALIAS_JP))
    assert verdict.purpose == "shipping-confirmation"
    assert verdict.action is Action.REJECT


def test_japanese_polite_verb_forms_are_one_phrase() -> None:
    assert "発送いたしました" in japanese_variants("発送しました")
    assert "お送りします" in japanese_variants("お送りいたします")
    assert japanese_variants("在庫切れ") == []


def test_arabic_diacritics_and_tatweel_do_not_split_words() -> None:
    assert normalize("شكراً جزيلاً") == normalize("شكرا جزيلا")
    assert normalize("شكـــرا") == normalize("شكرا")


# One message each, one rule each: the mechanism's rule must hit (ids name the mechanism).
@pytest.mark.parametrize(("alias", "subject", "body", "rule"), [
    pytest.param(ALIAS_AE, "شكراً لك",
                 f"عزيزي خالد،\n\nشكراً جزيلاً على طلبك {ORDER}. نأمل أن تستمتع بالمنتج، ولا تتردد في مراسلتنا.\n\n"
                 "مع التحية\n", "thanks-only", id="an-arabic-thank-you-with-diacritics-is-refused"),
    pytest.param(ALIAS_IT, f"Su devolución {ORDER}",
                 f"Hola Marta:\n\nHemos recibido la devolución del pedido {ORDER} y le hemos reembolsado el importe "
                 "completo a través de Amazon. El abono tardará unos días en aparecer en su cuenta.\n\nSaludos\n\n"
                 "-- \nItsasondo Kirolak S.L. · Kale Nagusia 4 · 20014 Donostia · Gipuzkoa\n",
                 "language-mismatch", id="a-spanish-message-to-an-italian-buyer-is-flagged"),
    pytest.param(ALIAS_PL, f"Zamówienie {ORDER}",
                 f"Dzień dobry,\n\nw sprawie zamówienia {ORDER} najszybciej odpowiemy na WhatsAppie.\n",
                 "off-amazon-contact", id="messenger-names-with-case-endings-are-found-pl"),
    pytest.param(ALIAS_TR, f"Zamówienie {ORDER}",
                 f"Merhaba,\n\n{ORDER} numaralı sipariş için teslimat saatini WhatsApp'tan yazın.\n",
                 "off-amazon-contact", id="messenger-names-with-case-endings-are-found-tr"),
    pytest.param(ALIAS_IT, f"Fattura {ORDER}",
                 f"Buongiorno,\n\nin allegato la fattura dell'ordine {ORDER}.\n\nNon perdere il coperchio "
                 "abbinato, disponibile qui: https://www.amazon.it/dp/B0D9XK2M7Q\n\nCordiali saluti\n",
                 "amazon-cross-selling-link", id="one-amazon-product-link-offered-with-selling-words-is-cross-selling"),
    pytest.param(ALIAS_NL, f"Bestelling {ORDER}",
                 f"Hallo Sanne,\n\nuw bestelling {ORDER} is bezorgd. Laat u een review achter? Dan krijgt u van ons "
                 "10% korting als bedankje.\n\nGroet\n",
                 "review-incentive", id="a-dutch-review-incentive-with-the-loanword-review-is-refused"),
])
def test_the_mechanism_finds_its_rule(engine: PolicyEngine, alias: str, subject: str, body: str, rule: str) -> None:
    verdict = engine.evaluate(message(subject, body, to=alias), recipients(alias))
    assert rule in rules(verdict), (verdict.purpose, verdict.hits)


def test_a_legal_footer_with_foreign_place_names_does_not_hide_the_language() -> None:
    text = ("Hola Marta:\n\nHemos recibido la devolución de su pedido y le hemos reembolsado el importe completo "
            "a través de Amazon. El abono tardará unos días en aparecer.\n\nSaludos\n\n-- \n"
            "Itsasondo Kirolak S.L. · Kale Nagusia 4 · 20014 Donostia · Gipuzkoa · Euskal Herria\n"
            "Txartela bidez ordaindu daiteke, bezeroarentzako arreta zerbitzua\n")
    assert detect(text).language == "es"


@pytest.mark.parametrize("html", [
    '<table><tr><td style="background-image: URL(\'https://t.shop.example/o.gif?u=9a1\')">Guten Tag</td></tr></table>',
    '<html><head><style>body{background:url(https://t.shop.example/p.png?id=77)}</style></head>'
    '<body><p>Guten Tag</p></body></html>',
])
def test_css_background_images_are_read_as_remote_images(engine: PolicyEngine, html: str) -> None:
    raw = message(f"Rechnung {ORDER}", f"Anbei die Rechnung zu {ORDER}.", html=html)
    assert any("t.shop.example" in img.src for img in read_message(raw).images)
    verdict = engine.evaluate(raw, recipients())
    assert "tracking-pixel" in rules(verdict)
    assert verdict.action is not Action.RELAY


@pytest.mark.parametrize(("alias", "line"), [
    (ALIAS_PL, "Masz pytania? Zadzwoń do nas: 58 340 22 17."),
    (ALIAS_ES, "Para cualquier duda, llámenos al 933 18 40 72."),
])
def test_a_phone_number_without_trunk_prefix_after_a_phone_label_is_found(engine: PolicyEngine, alias: str,
                                                                         line: str) -> None:
    body = f"Dzień dobry / Hola,\n\nfaktura / factura {ORDER}.\n\n{line}\n"
    verdict = engine.evaluate(message(f"Faktura {ORDER}", body, to=alias), recipients(alias))
    assert "seller-phone-number" in rules(verdict), verdict.hits


def test_register_numbers_and_amounts_without_a_phone_label_are_not_phone_numbers(engine: PolicyEngine) -> None:
    body = (f"Dzień dobry,\n\nw załączniku faktura do zamówienia {ORDER}.\n\nPozdrawiamy\n\n--\n"
            "Sklep Przykład Sp. z o.o. | NIP 525 234 56 78 | REGON 141 234 567 | KRS 0000123456\n"
            "Kapitał zakładowy 1 250 000 zł | nr rachunku 12 1020 1026 0000 1502 0345 6789\n")
    verdict = engine.evaluate(message(f"Faktura {ORDER}", body, to=ALIAS_PL, attachments=(
        attachment("faktura.pdf", PDF, "application/pdf"),)), recipients(ALIAS_PL))
    assert "seller-phone-number" not in rules(verdict), verdict.hits


def test_the_ordered_products_page_in_its_own_sentence_is_not_cross_selling(engine: PolicyEngine) -> None:
    body = (f"Guten Tag,\n\nbei Bestellung {ORDER} fehlte das Zubehör für die Wandmontage; wir senden es heute "
            "nach. Die Montageanleitung steht auf der Produktseite: https://www.amazon.de/dp/B0C8QW2K3T\n\n"
            "Viele Grüße\n")
    verdict = engine.evaluate(message(f"Bestellung {ORDER}", body), recipients())
    assert "amazon-cross-selling-link" not in rules(verdict), verdict.hits


def test_a_brochure_attached_to_an_invoice_is_refused(engine: PolicyEngine) -> None:
    raw = message(f"Rechnung {ORDER}", f"Guten Tag,\n\nanbei die Rechnung zu {ORDER}.\n", attachments=(
        attachment("Rechnung_4471.pdf", PDF, "application/pdf"),
        attachment("Broschuere_Sommer.pdf", PDF, "application/pdf")))
    verdict = engine.evaluate(raw, recipients())
    assert "attachment-promotional" in rules(verdict)
    assert verdict.action is Action.REJECT


def test_polish_delivery_scheduling_asked_as_a_choice_gets_the_keyword(engine: PolicyEngine) -> None:
    body = (f"Dzień dobry,\n\nzamówienie {ORDER} (sofa, 95 kg) dostarczy spedytor. Prosimy wybrać dogodny "
            "termin dostawy: wtorek lub czwartek.\n\nPozdrawiamy\n")
    verdict = engine.evaluate(message(f"Zamówienie {ORDER}", body, to=ALIAS_PL), recipients(ALIAS_PL))
    assert verdict.critical
    assert verdict.action is Action.REWRITE
    assert verdict.subject.startswith("[")


def test_a_message_read_once_gives_the_verdict_of_the_raw_bytes(engine: PolicyEngine) -> None:
    raw = message(f"Rechnung {ORDER}", f"Anbei die Rechnung zu {ORDER}. Rufen Sie uns an: 030 1234567",
                  html=f"<p>Anbei die Rechnung zu {ORDER}.</p><img src='https://t.example/o.gif?u=1' width=1>")
    assert engine.evaluate(raw, recipients(), content=read_message(raw)) == engine.evaluate(raw, recipients())
