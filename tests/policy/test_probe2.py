"""Failure classes found by the session-4 probe (tests/corpus/probe2): fresh seller mail in ten
languages, run before the packs were tuned. Each test states the mechanism, not a message."""

from __future__ import annotations

import pytest

from gateway.policy.engine import PolicyEngine
from gateway.policy.verdict import Action, Verdict
from tests.policy.mail import ALIASES, message, recipients

AMAZON_MID = "<0102019abc-def-000000@eu-west-1.amazonses.com>"
SELLER = "service@mustermann-handel.example"
ORDER = "302-4817265-9034712"


def _verdict(engine: PolicyEngine, subject: str, body: str, to: str, *, html: str | None = None,
             headers: dict[str, str] | None = None) -> Verdict:
    return engine.evaluate(message(subject, body, html=html, to=to, headers=headers), recipients(to))


def _rules(verdict: Verdict) -> set[str]:
    return {h.rule for h in verdict.hits}


# --------------------------------------------------------------------------------------------------
# 1. Outlook's quote header in every marketplace language, also as its Word-HTML reads as text

OUTLOOK_HEADERS = {
    "de": ("Von:", "Gesendet:", "An:", "Betreff:"), "fr": ("De\u00a0:", "Envoyé\u00a0:", "À\u00a0:", "Objet\u00a0:"),
    "it": ("Da:", "Inviato:", "A:", "Oggetto:"), "es": ("De:", "Enviado el:", "Para:", "Asunto:"),
    "nl": ("Van:", "Verzonden:", "Aan:", "Onderwerp:"), "pl": ("Od:", "Wysłano:", "Do:", "Temat:"),
    "se": ("Från:", "Skickat:", "Till:", "Ämne:"), "com.tr": ("Kimden:", "Gönderildi:", "Kime:", "Konu:"),
    "co.jp": ("差出人:", "送信日時:", "宛先:", "件名:"), "com": ("From:", "Sent:", "To:", "Subject:"),
}


def _outlook_reply(mp: str, own: str, quoted: str) -> tuple[str, str]:
    frm, sent, to, subj = OUTLOOK_HEADERS[mp]
    alias = ALIASES[mp]
    header = [(frm, f"Buyer Name <{alias}>"), (sent, "1.12.2026 21:47"), (to, f"Shop <{SELLER}>"),
              (subj, f"Question {ORDER}")]
    plain = own + "\n\n" + "\n".join(f"{k} {v}" for k, v in header) + "\n\n" + quoted
    rows = "<br>\n".join(f"<b>{k}</b> {v.replace('<', '&lt;').replace('>', '&gt;')}" for k, v in header)
    html = (f'<html><body><div class="WordSection1"><p class="MsoNormal">{own}<o:p></o:p></p>'
            '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
            f'<p class="MsoNormal">{rows}<o:p></o:p></p></div>'
            f'<p class="MsoNormal">{quoted}<o:p></o:p></p></div></body></html>')
    return plain, html


@pytest.mark.parametrize("mp", sorted(OUTLOOK_HEADERS))
def test_outlook_quote_header_in_every_language_sets_the_buyers_message_apart(engine: PolicyEngine, mp: str) -> None:
    """The quoted buyer message names the seller's own address in its "To:" line and may hold the
    buyer's phone number; neither is the seller's text. On main the header was recognised in four
    languages, and not at all as Outlook's Word-HTML reads as text (each label on a line of its own)."""
    plain, html = _outlook_reply(mp, f"The item ships tomorrow. Order {ORDER}.",
                                 "Hello, call me at 0171 4432981 or write to buyer.private@gmx.de")
    verdict = _verdict(engine, f"RE: Question {ORDER}", plain, ALIASES[mp], html=html,
                       headers={"In-Reply-To": AMAZON_MID})
    assert not _rules(verdict) & {"seller-email-address", "seller-phone-number"}, _rules(verdict)


MAC_HEADERS = [
    ("de", "Von: Buyer <{a}>\nDatum: Dienstag, 1. Dezember 2026 um 21:47\nAn: Shop <{s}>\nBetreff: Frage"),
    ("com", "From: Buyer <{a}>\nDate: Tuesday, December 1, 2026 at 9:47 PM\nTo: Shop <{s}>\nSubject: Question"),
    ("fr", "De : Buyer <{a}>\nDate : mardi 1 décembre 2026 à 21:47\nÀ : Shop <{s}>\nObjet : Question"),
    ("es", "De: Buyer <{a}>\nFecha: martes, 1 de diciembre de 2026, 21:47\nPara: Shop <{s}>\nAsunto: Pregunta"),
    ("pl", "Od: Buyer <{a}>\nData: wtorek, 1 grudnia 2026 21:47\nDo: Shop <{s}>\nTemat: Pytanie"),
    ("com.tr", "Kimden: Buyer <{a}>\nTarih: 1 Aralık 2026 Salı 21:47\nKime: Shop <{s}>\nKonu: Soru"),
    ("co.jp", "差出人：Buyer <{a}>\n送信日時：2026年12月1日 21:47\n宛先：Shop <{s}>\n件名：質問"),
]


@pytest.mark.parametrize(("mp", "header"), MAC_HEADERS)
def test_quote_headers_with_a_date_line_or_full_width_colons(engine: PolicyEngine, mp: str, header: str) -> None:
    """Outlook for Mac and Apple Mail write "Datum:"/"Date:" where Windows Outlook writes
    "Gesendet:"/"Sent:"; Japanese clients write full-width colons."""
    body = (f"The item ships tomorrow. {ORDER}\n\n" + header.format(a=ALIASES[mp], s=SELLER)
            + "\n\nHello, where is it? Call me at 0612345678")
    verdict = _verdict(engine, f"RE: Question {ORDER}", body, ALIASES[mp], headers={"In-Reply-To": AMAZON_MID})
    assert not _rules(verdict) & {"seller-email-address", "seller-phone-number"}, _rules(verdict)


SEPARATORS = {"nl": "-----Oorspronkelijk bericht-----", "pl": "-----Wiadomość oryginalna-----",
              "se": "-----Ursprungligt meddelande-----", "com.tr": "-----Özgün İleti-----"}


@pytest.mark.parametrize("mp", sorted(SEPARATORS))
def test_outlooks_original_message_separator_in_nl_pl_sv_tr(engine: PolicyEngine, mp: str) -> None:
    """Older Outlook writes "-----Original Message-----" in the UI language before the header."""
    body = (f"The item ships tomorrow. {ORDER}\n\n{SEPARATORS[mp]}\nFrom: Buyer <{ALIASES[mp]}>\nDate: 1-12-2026\n"
            f"To: Shop <{SELLER}>\n\nCall me at 0612345678 or mail buyer.private@gmx.de")
    verdict = _verdict(engine, f"RE: Question {ORDER}", body, ALIASES[mp], headers={"In-Reply-To": AMAZON_MID})
    assert not _rules(verdict) & {"seller-email-address", "seller-phone-number"}, _rules(verdict)


@pytest.mark.parametrize(("mp", "phone"), [("de", "0711 400409"), ("nl", "030-2345678"), ("co.jp", "03-1234-5678")])
def test_seller_contact_above_an_outlook_quote_is_still_found(engine: PolicyEngine, mp: str, phone: str) -> None:
    plain, html = _outlook_reply(mp, f"Order {ORDER}: write to info@mustermann-handel.example or call {phone}.",
                                 "Hello, where is my parcel?")
    verdict = _verdict(engine, f"RE: Question {ORDER}", plain, ALIASES[mp], html=html,
                       headers={"In-Reply-To": AMAZON_MID})
    assert {"seller-email-address", "seller-phone-number"} <= _rules(verdict)


def test_an_outlook_header_that_does_not_name_amazon_is_the_sellers_text(engine: PolicyEngine) -> None:
    """A forwarded internal mail (the header names no Amazon address) stays the seller's text."""
    plain = (f"Order {ORDER}: see below.\n\nVan: Lager <lager@mustermann-handel.example>\nVerzonden: 1.12.2026\n"
             "Aan: Shop\nOnderwerp: stock\n\nBel ons op 030-2345678 of mail info@mustermann-handel.example")
    verdict = _verdict(engine, f"RE: {ORDER}", plain, ALIASES["nl"], headers={"In-Reply-To": AMAZON_MID})
    assert "seller-email-address" in _rules(verdict)


# --------------------------------------------------------------------------------------------------
# 2. Read receipts (MDN): the client's report part is not an attachment


def _mdn(to: str, report_type: str = "message/disposition-notification") -> bytes:
    boundary = "_004_MDN_"
    return (f"From: Shop <{SELLER}>\r\nTo: {to}\r\nSubject: Gelesen: Frage zur Lieferung\r\n"
            f"In-Reply-To: {AMAZON_MID}\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/report; report-type=disposition-notification; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Ihre Nachricht wurde am Dienstag, 1. Dezember 2026 08:14:55 gelesen.\r\n"
            f"--{boundary}\r\nContent-Type: {report_type}\r\n\r\n"
            f"Reporting-UA: shop; Microsoft Outlook 16.0\r\nFinal-Recipient: rfc822;{SELLER}\r\n"
            f"Original-Message-ID: {AMAZON_MID}\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n"
            f"--{boundary}--\r\n").encode()


def test_a_read_receipt_is_relayed(engine: PolicyEngine) -> None:
    """Outlook sends a read receipt when the seller opens a buyer's message that asked for one; on
    main its message/disposition-notification part was held as an unusual attachment."""
    to = ALIASES["de"]
    verdict = engine.evaluate(_mdn(to), recipients(to))
    assert verdict.action is Action.RELAY, _rules(verdict)


def test_other_message_parts_are_still_unusual_attachments(engine: PolicyEngine) -> None:
    to = ALIASES["de"]
    verdict = engine.evaluate(_mdn(to, "message/rfc822"), recipients(to))
    assert "attachment-unusual-type" in _rules(verdict)


# --------------------------------------------------------------------------------------------------
# 3. The keyword added to mail that is not critical (look-alike critical evidence)

NOT_CRITICAL = [
    ("com", "Update on your order", "Your order left our warehouse; UPS reports a weather delay. The new estimated "
     "delivery date is Friday, 12/04/2026 by end of day. Sorry for the wait.\n\nBrightGear Outdoor LLC | "
     "1800 Industrial Pkwy, Suite 210 | Boise, ID 83709"),
    ("de", "Ihre Reklamation", "Sie haben zwei Möglichkeiten: Sie behalten den Tisch und wir erstatten 60,00 €, "
     "oder Sie senden den Tisch zurück; die Spedition holt ihn kostenlos ab und Sie erhalten den vollen Kaufpreis "
     "zurück. Teilen Sie uns bitte mit, welche Variante Ihnen lieber ist."),
    ("de", "Wichtig: korrigierte Rechnung", "Anbei erhalten Sie die korrigierte Rechnung RE-2026-10391-K mit der "
     "Anschrift Albrecht & Partner, Ludwigstraße 8, 80539 München. Die ursprüngliche Rechnung ist ungültig."),
]
CRITICAL = [
    ("com", "Your patio set", "The freight carrier needs an appointment. Which delivery date would suit you: "
     "Tue 12/08 or Wed 12/09?"),
    ("de", "Ihr Schrank", "Die Spedition liefert Ihren Schrank in KW 50. Welcher Liefertermin passt Ihnen, "
     "Mo., 07.12. oder Mi., 09.12.?"),
    ("de", "Lieferadresse", "In Ihrer Lieferadresse fehlt die Hausnummer. Bitte korrigieren Sie die Anschrift."),
]


@pytest.mark.parametrize(("mp", "subject", "body"), NOT_CRITICAL)
def test_look_alike_critical_evidence_adds_no_keyword(engine: PolicyEngine, mp: str, subject: str, body: str) -> None:
    """'Suite 210' stemmed to the scheduling word 'suit'; a return the carrier collects and a
    corrected invoice's billing address read as a delivery to schedule and an address problem."""
    verdict = _verdict(engine, f"{subject} {ORDER}", f"{body}\n\nOrder {ORDER}", ALIASES[mp])
    assert not verdict.critical and verdict.action is Action.RELAY, _rules(verdict)


@pytest.mark.parametrize(("mp", "subject", "body"), CRITICAL)
def test_critical_mail_still_gets_its_keyword(engine: PolicyEngine, mp: str, subject: str, body: str) -> None:
    verdict = _verdict(engine, f"{subject} {ORDER}", f"{body}\n\nOrder {ORDER}", ALIASES[mp])
    assert verdict.critical and "critical-keyword-missing" in _rules(verdict), _rules(verdict)


# --------------------------------------------------------------------------------------------------
# 4. Shouting in a reply's subject is the buyer's


@pytest.mark.parametrize("prefix", ["Re:", "AW:", "SV:", "RE :", "Odp:", "YNT:", "R:"])
def test_the_buyers_shouting_in_a_reply_subject_is_not_the_sellers_formatting(engine: PolicyEngine,
                                                                              prefix: str) -> None:
    verdict = _verdict(engine, f"{prefix} Schublade klemmt!!! {ORDER}", f"Wir schicken heute Ersatz. {ORDER}",
                       ALIASES["de"], headers={"In-Reply-To": AMAZON_MID})
    assert "excessive-formatting" not in _rules(verdict)


@pytest.mark.parametrize(("subject", "headers"), [
    (f"Schublade klemmt!!! {ORDER}", {"In-Reply-To": AMAZON_MID}),   # a reply without the prefix
    (f"AW: Jetzt zugreifen!!! {ORDER}", None),                      # not a reply: "AW:" alone proves nothing
])
def test_shouting_in_the_sellers_own_subject_is_still_formatting(engine: PolicyEngine, subject: str,
                                                                 headers: dict[str, str] | None) -> None:
    verdict = _verdict(engine, subject, f"Wir schicken heute Ersatz. {ORDER}", ALIASES["de"], headers=headers)
    assert "excessive-formatting" in _rules(verdict)


# --------------------------------------------------------------------------------------------------
# 5. Links rewritten by Microsoft 365 Safe Links are judged by their target

SAFE = "https://nam12.safelinks.protection.outlook.com/?url={}&data=05%7C02%7Cx%40y.com%7C0&reserved=0"


def test_a_safe_links_wrapped_carrier_link_is_the_carriers(engine: PolicyEngine) -> None:
    url = SAFE.format("https%3A%2F%2Fwww.fedex.com%2Ffedextrack%2F%3Ftrknbr%3D771234567890")
    body = f"Out for delivery, follow it here:\n{url}\n\n{ORDER}"
    verdict = _verdict(engine, f"RE: Where is my order {ORDER}?", body, ALIASES["com"],
                       headers={"In-Reply-To": AMAZON_MID})
    assert "external-link" not in _rules(verdict)


def test_a_safe_links_wrapped_shop_link_is_still_external(engine: PolicyEngine) -> None:
    url = SAFE.format("https%3A%2F%2Fwww.brightgearoutdoor.com%2Fsale")
    verdict = _verdict(engine, f"Order {ORDER}", f"Our sale: {url}\n\n{ORDER}", ALIASES["com"])
    hits = {h.rule: h.evidence for h in verdict.hits}
    assert "external-link" in hits and "brightgearoutdoor.com" in hits["external-link"]


# --------------------------------------------------------------------------------------------------
# 6. 【重要】 is not the keyword Amazon reads, so it cannot be misused

RECEIPT = f"先日お送りした領収書の宛名に誤りがございましたので、再発行いたしました。ご注文番号 {ORDER}"


@pytest.mark.parametrize("marker", ["【重要】", "［重要］", "〔重要〕"])
def test_japanese_important_markers_on_ordinary_mail_are_not_misuse(engine: PolicyEngine, marker: str) -> None:
    verdict = _verdict(engine, f"{marker}領収書再発行のご案内 {ORDER}", RECEIPT, ALIASES["co.jp"])
    assert "critical-keyword-misused" not in _rules(verdict) and verdict.action is Action.RELAY


def test_the_half_width_keyword_on_ordinary_mail_is_still_misuse(engine: PolicyEngine) -> None:
    verdict = _verdict(engine, f"[重要]領収書再発行のご案内 {ORDER}", RECEIPT, ALIASES["co.jp"])
    assert "critical-keyword-misused" in _rules(verdict)


# --------------------------------------------------------------------------------------------------
# 7. A failed delivery attempt is a fulfilment problem, not a shipping confirmation

FAILED_DELIVERY = [
    ("fr", "Chronopost n'a pas pu livrer votre colis le 02/12/2026 (absent). Il est disponible au point relais.\n"
           "Numéro de suivi : XY 1234 5678 9FR\nhttps://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT=XY123456789FR"),
    ("de", "DHL hat Sie am 02.12.2026 nicht angetroffen; das Paket liegt zur Abholung in der Filiale.\n"
           "Sendungsnummer 00340434161094042557\nhttps://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html"),
    ("it", "Il corriere ha effettuato un tentativo di consegna il 2/12; il pacco è in giacenza.\n"
           "Numero di tracciamento 0578 4123 9981\nhttps://vas.brt.it/vas/sped_det_show.hsm?Nspediz=057841239981"),
    ("com", "UPS made a delivery attempt on 12/02 and left a notice; the package is held for collection.\n"
            "Tracking number 1Z9X427W0344182736\nhttps://www.ups.com/track?tracknum=1Z9X427W0344182736"),
]


@pytest.mark.parametrize(("mp", "body"), FAILED_DELIVERY)
def test_a_failed_delivery_notice_is_not_a_shipping_confirmation(engine: PolicyEngine, mp: str, body: str) -> None:
    verdict = _verdict(engine, f"Commande {ORDER}", f"{body}\n\n{ORDER}", ALIASES[mp])
    assert "confirmation-only" not in _rules(verdict) and verdict.action is Action.RELAY, _rules(verdict)


@pytest.mark.parametrize(("mp", "body"), [
    ("fr", "Votre colis a été expédié aujourd'hui.\nNuméro de suivi : XY123456789FR"),
    ("com", "Your order has been shipped today.\nTracking number 1Z9X427W0344182736"),
])
def test_a_shipping_confirmation_is_still_refused(engine: PolicyEngine, mp: str, body: str) -> None:
    assert "confirmation-only" in _rules(_verdict(engine, f"Order {ORDER}", f"{body}\n\n{ORDER}", ALIASES[mp]))


# --------------------------------------------------------------------------------------------------
# 8. Delivery scheduling in Dutch and Polish


@pytest.mark.parametrize(("mp", "body"), [
    ("nl", "Uw e-bike wordt door onze bezorgdienst geleverd. Daarvoor willen we een bezorgmoment met u afspreken: "
           "vrijdag 11 december tussen 9.00 en 12.00 uur of zaterdag. Welk moment schikt u?"),
    ("pl", "Domek narzędziowy zostanie dostarczony na palecie. Prosimy o wybór terminu dostawy: środa 9.12.2026 r. "
           "w godz. 8:00–12:00 lub czwartek 10.12.2026 r."),
])
def test_dutch_and_polish_delivery_scheduling_is_critical(engine: PolicyEngine, mp: str, body: str) -> None:
    verdict = _verdict(engine, f"Bestelling {ORDER}", f"{body}\n\n{ORDER}", ALIASES[mp])
    assert verdict.critical and "critical-keyword-missing" in _rules(verdict), _rules(verdict)


@pytest.mark.parametrize(("mp", "body"), [
    ("nl", "PostNL meldt een vertraging. Uw pakket wordt donderdag tussen 14:00 en 16:30 bezorgd."),
    ("pl", "Paczka zostanie dostarczona do paczkomatu najpóźniej 04.12.2026 r. Przepraszamy za opóźnienie."),
])
def test_a_dutch_or_polish_delivery_notice_is_not_critical(engine: PolicyEngine, mp: str, body: str) -> None:
    verdict = _verdict(engine, f"Bestelling {ORDER}", f"{body}\n\n{ORDER}", ALIASES[mp])
    assert not verdict.critical, _rules(verdict)


# --------------------------------------------------------------------------------------------------
# 9. Declining a buyer's request for a discount code is no promotion

DECLINES = [
    ("com", "I'm afraid we can't send discount codes or vouchers through Amazon. Your order ships tomorrow."),
    ("es", "Por los mensajes de Amazon no podemos ofrecer descuentos ni cupones. Su pedido sale mañana."),
    ("de", "Über Amazon dürfen wir Ihnen leider keine Gutscheincodes schicken. Ihre Bestellung geht morgen raus."),
    ("fr", "Nous ne pouvons pas envoyer de code promo par la messagerie Amazon. Votre colis part demain."),
]


@pytest.mark.parametrize(("mp", "body"), DECLINES)
def test_declining_a_discount_request_is_not_a_promotion(engine: PolicyEngine, mp: str, body: str) -> None:
    verdict = _verdict(engine, f"Re: Discount? {ORDER}", f"{body}\n\n{ORDER}", ALIASES[mp],
                       headers={"In-Reply-To": AMAZON_MID})
    assert "promotion-discount" not in _rules(verdict), _rules(verdict)


@pytest.mark.parametrize(("mp", "body"), [
    ("com", "No coupons needed: use discount code SAVE10 on your next order."),
    ("es", "Le regalamos un cupón para su próximo pedido: código NOEL10."),
])
def test_a_real_offer_next_to_a_negation_is_still_a_promotion(engine: PolicyEngine, mp: str, body: str) -> None:
    assert "promotion-discount" in _rules(_verdict(engine, f"Order {ORDER}", f"{body}\n\n{ORDER}", ALIASES[mp]))


# --------------------------------------------------------------------------------------------------
# 10. A hotel's star grade in a product name


@pytest.mark.parametrize(("mp", "line"), [
    ("com", "Trailhead 2-Person Tent, 5-star hotel comfort series   1   $149.00   Promotion applied (Amazon coupon)"),
    ("de", "Kopfkissen 5-Sterne-Hotelqualität 80x80   2   29,90 €   bezahlt über Amazon"),
    ("fr", "Oreiller qualité hôtel 5 étoiles 60x60   1   39,00 €   payé via Amazon"),
])
def test_a_hotel_star_grade_in_a_product_name_is_no_review_request(engine: PolicyEngine, mp: str, line: str) -> None:
    verdict = _verdict(engine, f"Invoice {ORDER}", f"Invoice for order {ORDER}\n\n{line}", ALIASES[mp])
    assert "review-positive-wording" not in _rules(verdict), _rules(verdict)


def test_a_five_star_request_next_to_a_hotel_product_is_still_refused(engine: PolicyEngine) -> None:
    body = f"Enjoying your 5 star hotel pillow? Please leave us a 5 star review on Amazon!\n\n{ORDER}"
    assert "review-positive-wording" in _rules(_verdict(engine, f"Order {ORDER}", body, ALIASES["com"]))


# --------------------------------------------------------------------------------------------------
# 11, 13, 14. Rules that lacked phrases in some languages: asking to change or remove a review (and
# 'zu überarbeiten'), payment outside Amazon (Bizum, Swish, Tikkie, BLIK, havale, Venmo, transfers),
# asking for the buyer's phone or e-mail in nl/pl/sv/tr. Each with what must stay untouched: thanks
# for a review, refunds through Amazon, the number Amazon already has.

FIRES = [
    ("review-change-or-remove", "de",
     "Da das Problem gelöst ist, möchten wir Sie bitten, Ihre Rezension zu überarbeiten oder zu löschen."),
    ("review-change-or-remove", "nl",
     "Zou u zo vriendelijk willen zijn uw negatieve review aan te passen of te verwijderen?"),
    ("review-change-or-remove", "pl",
     "Czy mogłaby Pani zmienić swoją opinię na Amazon, skoro problem został rozwiązany?"),
    ("review-change-or-remove", "se", "Vi har skickat en ny del. Kan du ändra ditt omdöme på Amazon?"),
    ("review-change-or-remove", "com.tr", "Sorun çözüldüğü için yorumunuzu güncellemeniz mümkün mü?"),
    ("off-amazon-contact", "es", "Envíenos el suplemento por Bizum o por transferencia a la cuenta indicada."),
    ("off-amazon-contact", "se", "Swisha mellanskillnaden på 300 kr så skickar vi den nya modellen."),
    ("off-amazon-contact", "nl", "Maak het bedrag van 12,50 € over via Tikkie, dan versturen we vandaag."),
    ("off-amazon-contact", "pl", "Dopłatę prosimy uregulować kodem BLIK lub przelewem na nasze konto."),
    ("off-amazon-contact", "com.tr", "Kalan tutar için IBAN numaramıza havale yapmanız gerekmektedir."),
    ("off-amazon-contact", "de", "Bitte überweisen Sie den Zuschlag von 39,00 € direkt an uns."),
    ("off-amazon-contact", "com", "Please send the difference via Venmo or Zelle."),
    ("buyer-contact-request", "pl", "Aby kurier mógł się skontaktować, prosimy o podanie numeru telefonu komórkowego."),
    ("buyer-contact-request", "nl", "Kunt u ons uw telefoonnummer doorgeven voor de bezorger?"),
    ("buyer-contact-request", "se", "Kan du skicka ditt telefonnummer till oss?"),
    ("buyer-contact-request", "com.tr", "Kargo için telefon numaranızı iletmeniz gerekiyor."),
]
SPARES = [
    # 17. A claim assessed positively: 'positiv bewertet' has the stems of 'positive Bewertung'
    # (refused on main in de/nl/fr/it/es).
    ("review-positive-wording", "de",
     "Ihr Garantieantrag wurde vom Hersteller positiv bewertet; Sie erhalten ein neues Gerät."),
    ("review-positive-wording", "nl",
     "Uw claim is positief beoordeeld door de vervoerder; wij sturen een nieuw exemplaar."),
    ("review-positive-wording", "fr",
     "Votre réclamation a été évaluée positivement par le transporteur ; le remboursement suit."),
    ("review-positive-wording", "it",
     "La sua richiesta di garanzia è stata valutata positivamente; le inviamo un nuovo prodotto."),
    ("review-positive-wording", "es",
     "Su reclamación de garantía ha sido valorada positivamente; le enviamos un producto nuevo."),
    ("review-positive-wording", "se",
     "Fem stjärnor i hotellklass: täcket levereras i morgon, ge oss besked om portkoden."),
    ("review-positive-wording", "pl", "Rzeczoznawca pozytywnie ocenił reklamację, wyślemy nowy produkt."),
    ("review-change-or-remove", "nl",
     "Dank uw feedback hebben we de handleiding aangepast. De nieuwe versie zit in de bijlage."),
    ("review-change-or-remove", "de",
     "Wir haben Ihre Lieferadresse geändert; die Bewertung des Transportschadens liegt bei."),
    ("review-change-or-remove", "se",
     "Tack för din recension! Vi har ändrat förpackningen så att det inte händer igen."),
    ("review-change-or-remove", "pl", "Dziękujemy za Pani opinię, zmieniliśmy już opakowanie."),
    ("review-change-or-remove", "nl",
     "Bedankt voor uw review. We hebben de verpakking aangepast zodat dit niet meer gebeurt."),
    ("off-amazon-contact", "de", "Wir überweisen Ihnen den Betrag von 39,00 € über Amazon zurück."),
    ("off-amazon-contact", "de", "Bitte überweisen Sie den Betrag nicht selbst; die Erstattung läuft über Amazon."),
    ("off-amazon-contact", "es", "El reembolso de 45,90 € se realizará a través de Amazon en 3 a 5 días."),
    ("off-amazon-contact", "se", "Återbetalningen på 1 099,00 kr görs via Amazon inom 3–5 bankdagar."),
    ("buyer-contact-request", "pl", "Kurier zadzwoni na numer telefonu podany w zamówieniu Amazon."),
    ("buyer-contact-request", "nl", "De bezorger belt u op het telefoonnummer dat bij Amazon bekend is."),
]


def _order_rules(engine: PolicyEngine, mp: str, body: str) -> set[str]:
    return _rules(_verdict(engine, f"Order {ORDER}", f"{body}\n\n{ORDER}", ALIASES[mp]))


@pytest.mark.parametrize(("rule", "mp", "body"), FIRES)
def test_the_rule_is_found_in_every_language(engine: PolicyEngine, rule: str, mp: str, body: str) -> None:
    assert rule in _order_rules(engine, mp, body)


@pytest.mark.parametrize(("rule", "mp", "body"), SPARES)
def test_the_rule_spares_its_look_alikes(engine: PolicyEngine, rule: str, mp: str, body: str) -> None:
    assert rule not in _order_rules(engine, mp, body)


# --------------------------------------------------------------------------------------------------
# 12. A gift for a review, in Spanish


def test_a_spanish_gift_for_an_opinion_is_an_incentive(engine: PolicyEngine) -> None:
    body = ("Si nos deja su opinión sobre la vajilla en Amazon, le enviamos de regalo una taza de azulejo sevillano. "
            f"Solo tiene que responder con una captura de su reseña.\n\n{ORDER}")
    assert "review-incentive" in _rules(_verdict(engine, f"Pedido {ORDER}", body, ALIASES["es"]))


def test_asking_the_buyers_opinion_on_a_colour_is_no_incentive(engine: PolicyEngine) -> None:
    body = f"¿Nos da su opinión sobre el color que prefiere? Le enviamos la pieza sin coste.\n\n{ORDER}"
    assert "review-incentive" not in _rules(_verdict(engine, f"Pedido {ORDER}", body, ALIASES["es"]))


# --------------------------------------------------------------------------------------------------
# 15. A referral scheme is a promotion (probe2 second wave); a recommendation is not one.
# 16. Star requests with the verb of giving, the positive adverb, Japanese gating (fresh lines).

VERDICTS = [
    (Action.REJECT, "fr",
     "Parrainez un ami : il recevra 15 € de réduction sur sa première commande sur notre site et vous aussi !"),
    (Action.REJECT, "com", "Refer a friend and you both get $10 off your next order."),
    (Action.REJECT, "de", "Freunde werben lohnt sich: für jeden neuen Kunden erhalten Sie 10 €."),
    (Action.REJECT, "it", "Invita un amico: riceverete entrambi 10 € sul prossimo acquisto."),
    (Action.REJECT, "co.jp", "お友達紹介キャンペーン実施中：紹介コードで500円分ポイントを進呈します。"),
    (Action.RELAY, "de", "Wir empfehlen Ihnen, die Schrauben nach zwei Wochen nachzuziehen."),
    (Action.RELAY, "fr", "Nous vous recommandons de monter la suspension à deux personnes."),
    (Action.REJECT, "de", "Wären Sie so nett, uns positiv zu bewerten?"),
    (Action.REJECT, "fr", "N'hésitez pas à nous mettre 5 étoiles si vous êtes content !"),
    (Action.REJECT, "it", "Se sei soddisfatto, lasciaci 5 stelline!"),
    (Action.REJECT, "com.tr", "Bize 5 yıldız verirseniz çok seviniriz!"),
    (Action.REJECT, "pl", "Prosimy nas pozytywnie ocenić na Amazon."),
    (Action.REJECT, "co.jp", "低評価をつける前に、まずはご連絡ください。"),
    (Action.REJECT, "de", "Über eine positive Bewertung bei Amazon würden wir uns freuen."),
    (Action.REJECT, "nl", "Wij zouden een positieve beoordeling op prijs stellen."),
]


@pytest.mark.parametrize(("action", "mp", "body"), VERDICTS)
def test_fresh_lines_get_their_action(engine: PolicyEngine, action: Action, mp: str, body: str) -> None:
    verdict = _verdict(engine, f"Order {ORDER}", f"{body}\n\n{ORDER}", ALIASES[mp])
    assert verdict.action is action, _rules(verdict)
