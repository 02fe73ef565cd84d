"""Failure classes found by the session-3 probe (tests/corpus/probe): fresh seller mail written as
ERPs write it, run before the packs were tuned. Each test states the mechanism, not a message."""

from __future__ import annotations

import datetime

import pytest

from gateway.policy.engine import PolicyEngine
from tests.policy.mail import ALIAS_DE, message, recipients

ALIAS_IT = "n2kd8vxq4tz7rbp@marketplace.amazon.it"
ALIAS_FR = "q9bv3kd7zx2mtnc@marketplace.amazon.fr"
ALIAS_SE = "x7mq2kd9vb3ztnp@marketplace.amazon.se"


def _rules(engine: PolicyEngine, subject: str, body: str, to: str = ALIAS_DE) -> set[str]:
    verdict = engine.evaluate(message(subject, body, to=to), recipients(to))
    return {h.rule for h in verdict.hits}


@pytest.mark.parametrize(("to", "sentence"), [
    (ALIAS_DE, "Die Zustellung erfolgt voraussichtlich am Dienstag, {d} zwischen 8 und 12 Uhr."),
    (ALIAS_IT, "La consegna è prevista per il {d} tra le 8 e le 12."),
    (ALIAS_SE, "Leveransen sker den {d} mellan 8 och 12."),
])
@pytest.mark.parametrize("fmt", ["%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d"])
def test_calendar_dates_are_not_phone_numbers(engine: PolicyEngine, to: str, sentence: str, fmt: str) -> None:
    """A day with a leading zero ("04.12.2026") parses as a German or Italian number with an area
    code; on main one German delivery date in five refused the message."""
    order = "302-4817265-9034712"
    day = datetime.date(2026, 1, 2)
    refused = []
    while day.year == 2026:
        text = sentence.format(d=day.strftime(fmt))
        if "seller-phone-number" in _rules(engine, f"Bestellung {order}", f"{text}\n\nBestellung {order}", to):
            refused.append(text)
        day += datetime.timedelta(days=9)
    assert refused == []


@pytest.mark.parametrize(("to", "body"), [
    (ALIAS_FR, "Appelez-nous au 06.12.20.26.18 pour fixer la livraison."),
    (ALIAS_IT, "Per la consegna ci chiami al 06.12.20.26 entro venerdì."),
    (ALIAS_DE, "Am 04.12.2026 sind wir unter Tel. 0711 40040990 erreichbar."),
])
def test_phone_numbers_written_like_dates_or_next_to_dates_are_still_found(engine: PolicyEngine, to: str,
                                                                            body: str) -> None:
    assert "seller-phone-number" in _rules(engine, "Bestellung 302-4817265-9034712",
                                           f"{body}\n\nBestellung 302-4817265-9034712", to)


@pytest.mark.parametrize("line", [
    "Art.-Nr. 0815-4711-02", "Charge 0412 2026, MHD 04/2028", "Modellnummer 0711 400 409", "Abholcode: 0412 3365",
    "Versicherungsnummer 0412 2026 7788", "Mandatsreferenz 0412-2026-77", "Geräte-Nr. 0412 3365 77",
    "S/N 0123 4567 89", "Ersatzteilnummer 0800 123 456", "Lot 0412 2026 3",
    "Numero di serie: 0412 3365 77", "Cod. articolo 0412-3365-77", "Réf. article 0412 3365 77",
])
@pytest.mark.parametrize("to", [ALIAS_DE, ALIAS_IT])
def test_a_number_whose_label_names_an_id_is_not_a_phone_number(engine: PolicyEngine, line: str, to: str) -> None:
    """German labels are compounds on a word for "number" (-nummer, -nr, -code, -referenz): the
    label names an id, like "Kundennummer" does, whatever the compound's head."""
    order = "302-4817265-9034712"
    body = f"Guten Tag,\n\nanbei die Rechnung zu Ihrer Bestellung {order}.\n\n{line}\n\nMit freundlichen Grüßen"
    assert "seller-phone-number" not in _rules(engine, f"Rechnung {order}", body, to)


@pytest.mark.parametrize("line", [
    "Tel.-Nr. 05241 9876-0", "Telefonnummer: 05241 98760", "Kontakt-Nr.: 05241 9876 0", "Fax-Nr. 05241 9876-99",
    "Mobil-Nr. 0171 2345678", "Kundenservice-Nummer: 05241 98760", "Rückrufnummer 0171 2345678",
])
def test_a_compound_label_on_a_phone_word_still_names_a_phone_number(engine: PolicyEngine, line: str) -> None:
    order = "302-4817265-9034712"
    body = f"Guten Tag,\n\nanbei die Rechnung zu Ihrer Bestellung {order}.\n\n{line}\n\nMit freundlichen Grüßen"
    assert "seller-phone-number" in _rules(engine, f"Rechnung {order}", body)


ALIASES = {"de": ALIAS_DE, "it": ALIAS_IT, "fr": ALIAS_FR, "se": ALIAS_SE,
           "co.uk": "h3kq9zx7bmv2dnc@marketplace.amazon.co.uk", "com": "v3kd9fxq2pn8mzc@marketplace.amazon.com",
           "es": "k8mz3tq7xbv2ndw@marketplace.amazon.es", "nl": "b9zq3kx7mdv2tnc@marketplace.amazon.nl",
           "pl": "z2kq8mx7bdv3tnc@marketplace.amazon.pl", "com.tr": "t7kq2zx9mbv3dnc@marketplace.amazon.com.tr",
           "co.jp": "j4kq9zx2mbv7dnc@marketplace.amazon.co.jp"}


def _verdict_action(engine: PolicyEngine, tld: str, text: str) -> str:
    to = ALIASES[tld]
    body = f"Guten Tag,\n\nzu Ihrer Bestellung 302-4817265-9034712:\n\n{text}\n\nViele Grüße"
    return engine.evaluate(message("Bestellung 302-4817265-9034712", body, to=to), recipients(to)).action.value


@pytest.mark.parametrize(("tld", "text"), [
    ("de", "Sind Sie zufrieden? Dann freuen wir uns über Ihre Bewertung bei Amazon. Wenn nicht, schreiben "
           "Sie uns bitte zuerst."),
    ("co.uk", "Happy with your purchase? Please leave us a review on Amazon! Not happy? Contact us first "
              "and we will fix it."),
    ("fr", "Vous êtes satisfait ? Laissez-nous un avis sur Amazon ! Sinon, contactez-nous d'abord."),
    ("es", "¿Contento con su compra? ¡Déjenos una reseña en Amazon! Si no, contáctenos primero."),
    ("nl", "Als u tevreden bent, laat dan een review achter op Amazon. Bent u niet tevreden, neem dan eerst "
           "contact met ons op."),
    ("pl", "Jeśli jest Pan zadowolony, prosimy o wystawienie opinii na Amazon. Jeśli nie, prosimy najpierw "
           "o kontakt z nami."),
    ("se", "Om du är nöjd får du gärna lämna en recension på Amazon. Är du inte nöjd, kontakta oss först."),
    ("com.tr", "Memnun kaldıysanız Amazon'da bir değerlendirme bırakabilirsiniz. Memnun kalmadıysanız önce "
               "bize yazın."),
    ("de", "Für Ihre ehrliche Rezension zu Ihrer Bestellung bedanken wir uns mit einem Amazon-Gutschein im Wert von "
           "10 Euro, den wir Ihnen nach Erhalt eines Screenshots zusenden."),
    ("com.tr", "Amazon'daki yorumunuz için teşekkür olarak ekran görüntüsünü gönderdiğinizde 100 TL hediye "
               "çeki göndereceğiz."),
    ("se", "Fem stjärnor skulle hjälpa oss enormt!"),
    ("com.tr", "Beş yıldızlık bir puan bize çok yardımcı olur!"),
])
def test_review_gating_incentives_and_star_requests_in_every_language_are_refused(engine: PolicyEngine, tld: str,
                                                                                   text: str) -> None:
    assert _verdict_action(engine, tld, text) == "reject"


@pytest.mark.parametrize(("tld", "text"), [
    ("de", "Wenn Sie möchten, teilen Sie Ihre Erfahrungen in einer Bewertung auf Amazon. Sollten Sie nicht zufrieden "
           "sein oder Fragen haben, antworten Sie einfach auf diese Nachricht."),
    ("de", "Anbei die Rechnung, bezahlt mit Amazon-Gutschein. Wenn Sie möchten, hinterlassen Sie gern eine Bewertung."),
    ("co.uk", "Please consider leaving a review of your purchase. If you are not happy with the item, you "
              "can return it "
              "free of charge."),
    ("com", "Your invoice is attached; the order was paid with an Amazon gift card. If you like, you can "
            "leave a review."),
    ("co.uk", "Once our warehouse team has reviewed the returned item, the refund is issued."),
    ("co.uk", "After reviewing your photos we will send a free replacement."),
    ("fr", "Votre avis honnête nous intéresse. Si vous n'êtes pas satisfait de l'article, vous pouvez le "
           "retourner gratuitement."),
    ("pl", "Będziemy wdzięczni za szczerą opinię. Jeśli produkt nie spełnia oczekiwań, zwrot jest bezpłatny."),
    ("com.tr", "Dürüst yorumunuz diğer müşterilere yardımcı olur. Üründen memnun değilseniz ücretsiz iade "
               "edebilirsiniz."),
    ("co.jp", "率直なご意見をレビューでお聞かせください。ご不満な点がございましたら、返品も承ります。"),
])
def test_a_neutral_review_request_next_to_a_free_return_or_a_gift_card_payment_passes(engine: PolicyEngine, tld: str,
                                                                                       text: str) -> None:
    """A free return offered to an unhappy buyer, a gift card used to pay, a return "reviewed" by the
    warehouse: not a reward for a review, not gating."""
    assert _verdict_action(engine, tld, text) in ("relay", "rewrite")


def _critical(engine: PolicyEngine, tld: str, text: str) -> tuple[str, bool]:
    to = ALIASES[tld]
    verdict = engine.evaluate(message("Bestellung 302-0412345-1234567", f"{text}\n\n302-0412345-1234567", to=to),
                              recipients(to))
    return verdict.action.value, any(h.rule == "critical-keyword-missing" for h in verdict.hits)


@pytest.mark.parametrize(("tld", "text"), [
    ("co.uk", "Your wardrobe will come on a pallet. Could you tell us which weekday next week works best for the "
              "delivery?"),
    ("co.uk", "Before we print your photo on the canvas, please confirm the crop shown in the attached proof."),
    ("fr", "Votre armoire sera livrée par transporteur. Quel jour de la semaine prochaine vous conviendrait "
           "le mieux ?"),
    ("es", "¿Nos confirma el nombre que desea bordar en el albornoz?"),
    ("pl", "Szafa zostanie dostarczona na palecie. Który dzień w przyszłym tygodniu będzie dla Pana najlepszy?"),
    ("pl", "Prosimy o potwierdzenie imienia do wyhaftowania na szlafroku."),
    ("se", "Garderoben levereras på pall. Vilken dag nästa vecka passar dig bäst för leveransen?"),
    ("nl", "Wilt u de naam bevestigen die we op de badjas borduren?"),
    ("com.tr", "Teslimat adresinde daire numarası eksik. Kargo firması paketi teslim edemiyor."),
])
def test_critical_mail_in_every_language_gets_the_keyword(engine: PolicyEngine, tld: str, text: str) -> None:
    """Pallet deliveries, embroidery and print proofs, Turkish case endings ("adresinde")."""
    assert _critical(engine, tld, text) == ("rewrite", True)


@pytest.mark.parametrize(("tld", "text"), [
    ("de", "Nach Eingang der Rücksendung prüfen wir die Ware. Bitte geben Sie das Paket an einer Packstation ab."),
    ("co.uk", "Your invoice is attached. You can also print your invoice from your Amazon account. Please check that "
              "the name on the invoice is correct."),
    ("de", "Ihre Ware wurde auf einer Palette geliefert. Anbei die Rechnung; bitte bestätigen Sie uns kurz "
           "den Erhalt."),
    ("nl", "Uw bestelling is gisteren op een pallet bezorgd. De factuur vindt u in de bijlage."),
])
def test_mail_that_only_mentions_delivery_or_an_address_gets_no_keyword(engine: PolicyEngine, tld: str,
                                                                        text: str) -> None:
    """The keyword on non-critical mail risks the account: a seller checking a return next to a
    Packstation, a delivered pallet, the name on an invoice."""
    assert _critical(engine, tld, text) == ("relay", False)


def _proactive(engine: PolicyEngine, tld: str, text: str) -> str:
    to = ALIASES[tld]
    body = f"Hallo,\n\n{text}\n\nBestellung 302-0412345-1234567\n\nShop"
    return engine.evaluate(message("302-0412345-1234567", body, to=to), recipients(to)).action.value


@pytest.mark.parametrize(("tld", "text"), [
    ("de", "Vielen Dank für Ihren Einkauf bei uns!"),
    ("co.uk", "We just wanted to say thanks for choosing us. Enjoy your new kettle!"),
    ("it", "Grazie mille per il suo acquisto!"),
    ("es", "¡Muchas gracias por su compra!"),
    ("pl", "Serdecznie dziękujemy za zakup! Życzymy udanego użytkowania."),
    ("com.tr", "Alışverişiniz için çok teşekkür ederiz! Keyifli kullanımlar dileriz."),
    ("co.jp", "ご購入ありがとうございました。商品を気に入っていただけると嬉しいです。"),
])
def test_a_thank_you_for_the_purchase_alone_is_refused(engine: PolicyEngine, tld: str, text: str) -> None:
    assert _proactive(engine, tld, text) == "reject"


@pytest.mark.parametrize(("tld", "text"), [
    ("co.uk", "Thank you for your message. The lid fits all our 24 cm pans."),
    ("de", "Vielen Dank für Ihre Nachricht. Gern beantworten wir Ihre Frage: Die Decke ist bei 60 Grad waschbar."),
    ("com", "Thank you for your order. Unfortunately the parcel was damaged by the carrier, so a replacement is on "
            "its way."),
    ("se", "Tack för ditt tålamod. Den saknade delen skickades i dag."),
])
def test_thanks_for_a_message_or_for_patience_with_content_pass(engine: PolicyEngine, tld: str, text: str) -> None:
    assert _proactive(engine, tld, text) == "relay"


def test_a_japanese_thanks_phrase_is_not_cut_to_the_word_order() -> None:
    """ご注文ありがとう without its hiragana tail is ご注文 (order), in every Japanese order mail."""
    from gateway.policy.stems import japanese_stem

    assert japanese_stem("ご注文ありがとう") is None
    assert japanese_stem("レビューを書いて") == "レビューを書"


@pytest.mark.parametrize("text", [
    "取扱説明書はAmazonの商品ページからオンラインでご覧いただけます。",
    "Amazonのガイドラインに従い、本メッセージをお送りしております。",
    "当店の商品ラインナップについてのご質問は本メッセージにご返信ください。",
    "お支払いはAmazonのオンライン決済で完了しております。",
])
def test_katakana_words_on_line_are_not_the_line_messenger(engine: PolicyEngine, text: str) -> None:
    """オンライン (online), ガイドライン (guideline), ラインナップ (line-up) hold ライン: on main each
    refused a Japanese invoice as moving the buyer to LINE."""
    assert _proactive(engine, "co.jp", f"ご注文の請求書を添付いたします。{text}") == "relay"


@pytest.mark.parametrize("text", ["LINEでのお問い合わせはこちら：@sakura",
                                  "ライン公式アカウントを友だち追加してください。"])
def test_the_line_messenger_is_still_found(engine: PolicyEngine, text: str) -> None:
    assert _proactive(engine, "co.jp", f"ご注文の請求書を添付いたします。{text}") == "reject"


@pytest.mark.parametrize("text", [
    "このたびは当店をご利用いただき、誠にありがとうございます。まとめ買い割引（5%）は適用済みです。",
    "ご利用ありがとうございます。クーポン利用分（500円）は請求書に記載しております。",
    "Amazonポイント・割引適用後の金額は12,940円です。次回以降のご注文でも同じ配送方法となります。",
])
def test_a_discount_or_coupon_already_applied_on_a_japanese_invoice_is_not_an_offer(engine: PolicyEngine,
                                                                                     text: str) -> None:
    """ご利用 (use) is in every Japanese thank-you, 次回 alone means "next time"."""
    assert _proactive(engine, "co.jp", f"ご注文の請求書を添付いたします。{text}") == "relay"


def test_a_japanese_coupon_for_the_next_purchase_is_still_refused(engine: PolicyEngine) -> None:
    text = "請求書を添付いたします。次回のお買い物で使える割引をご用意しました。"
    assert _proactive(engine, "co.jp", text) == "reject"
