"""Failure classes found by the session-4 probe (tests/corpus/probe2): fresh seller mail in ten
languages, run before the packs were tuned. Each test states the mechanism, not a message."""

from __future__ import annotations

import pytest

from gateway.policy.engine import PolicyEngine
from gateway.policy.verdict import Action
from tests.policy.mail import message, recipients

AMAZON_MID = "<0102019abc-def-000000@eu-west-1.amazonses.com>"
SELLER = "service@mustermann-handel.example"
ALIASES = {
    "de": "b7d3kq9xz2m4np5@marketplace.amazon.de", "fr": "q9bv3kd7zx2mtnc@marketplace.amazon.fr",
    "it": "n2kd8vxq4tz7rbp@marketplace.amazon.it", "es": "k4mz8dq2vb7xnpt@marketplace.amazon.es",
    "nl": "p8vz3kq7dm2xbnc@marketplace.amazon.nl", "pl": "t2kq9vb4zx7mdnp@marketplace.amazon.pl",
    "se": "x7mq2kd9vb3ztnp@marketplace.amazon.se", "com.tr": "z3vq8kd2mb7xtnp@marketplace.amazon.com.tr",
    "co.jp": "m9kd3vq7zb2xtnp@marketplace.amazon.co.jp", "com": "v3kd9fxq2pn8mzc@marketplace.amazon.com",
}
ORDER = "302-4817265-9034712"


def _verdict(engine: PolicyEngine, subject: str, body: str, to: str, *, html: str | None = None,
             headers: dict[str, str] | None = None, attachments: tuple = ()):  # type: ignore[type-arg]
    raw = message(subject, body, html=html, to=to, headers=headers, attachments=attachments)
    return engine.evaluate(raw, recipients(to))


def _rules(verdict) -> set[str]:  # type: ignore[no-untyped-def]
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
    verdict = _verdict(engine, f"RE: Where is my order {ORDER}?", f"Out for delivery, follow it here:\n{url}\n\n{ORDER}",
                       ALIASES["com"], headers={"In-Reply-To": AMAZON_MID})
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
