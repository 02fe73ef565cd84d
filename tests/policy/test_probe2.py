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
