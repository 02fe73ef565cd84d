"""Repairs: the template's pixel, linked logo, footer, signature links and emoji go; the rest stays exact."""

from __future__ import annotations

import base64
import email
import email.policy
import quopri
from email.message import EmailMessage
from pathlib import Path

from gateway.repair import (
    EMOJI,
    FOOTER,
    KINDS,
    LINKED_LOGO,
    REMOTE_IMAGE,
    REPAIRED_HEADER,
    SIGNATURE_CONTACT,
    TRACKING_PIXEL,
    RepairOptions,
    repair,
)

ALL = RepairOptions(kinds=frozenset(KINDS), allow_domains=("amazon.de", "dhl.de"))
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
LOGO = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

HTML = """<html><body>
<p>Sehr geehrte Frau Schneider,</p>
<p>anbei die Rechnung zu Ihrer Bestellung 302-0123456-7654321. Sendungsverfolgung:
<a href="https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434">DHL</a></p>
<a href="https://www.moebel-beispiel.de/?utm_source=amazon"><img src="cid:logo@shop" alt="Möbelhaus" width="120"></a>
<img src="https://track.mailer.example/open?id=8812" width="1" height="1" alt="">
<img src="https://cdn.moebel-beispiel.de/banner-winter.jpg" width="600" alt="Winter">
<p>Mit freundlichen Grüßen 😊<br>Ihr Team der Möbelhaus Beispiel GmbH</p>
<p>Web: <a href="https://www.moebel-beispiel.de">www.moebel-beispiel.de</a><br>
E-Mail: <a href="mailto:info@moebel-beispiel.de">info@moebel-beispiel.de</a><br>
Amtsgericht Bielefeld, HRB 45821, USt-IdNr. DE298765432</p>
<p>Folgen Sie uns auf <a href="https://www.instagram.com/moebelbeispiel">Instagram</a> und
<a href="https://facebook.com/moebelbeispiel">Facebook</a>.
<a href="https://news.moebel-beispiel.de/unsubscribe?u=1">Newsletter abbestellen</a></p>
</body></html>
"""

PLAIN = """Sehr geehrte Frau Schneider,

anbei die Rechnung zu Ihrer Bestellung 302-0123456-7654321.

Mit freundlichen Grüßen 😊
Ihr Team der Möbelhaus Beispiel GmbH

--
Möbelhaus Beispiel GmbH, Industriestraße 7, 33602 Bielefeld
Web: www.moebel-beispiel.de
E-Mail: info@moebel-beispiel.de
Amtsgericht Bielefeld, HRB 45821, USt-IdNr. DE298765432
Newsletter abbestellen: https://news.moebel-beispiel.de/unsubscribe?u=1
"""


def invoice(cte: str = "quoted-printable", charset: str = "utf-8", *, html: str = HTML, plain: str = PLAIN) -> bytes:
    if charset != "utf-8":  # a Latin charset has no emoji to carry
        plain, html = plain.replace(" 😊", ""), html.replace(" 😊", "")
    msg = EmailMessage()
    msg["From"] = "Möbelhaus Beispiel <buchhaltung@moebel-beispiel.de>"
    msg["To"] = "abc123@marketplace.amazon.de"
    msg["Subject"] = "Ihre Rechnung 🧾 zur Bestellung 302-0123456-7654321"
    msg["Message-ID"] = "<inv-1@moebel-beispiel.de>"
    msg["X-Mailer"] = "ERP 7.1"
    msg.set_content(plain, charset=charset, cte=cte)
    msg.add_alternative(html, subtype="html", charset=charset, cte=cte)
    html_part = msg.get_payload()[1]
    html_part.make_related()
    html_part.add_related(LOGO, maintype="image", subtype="png", cid="<logo@shop>")
    msg.make_mixed()
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="Rechnung-RE-104233.pdf")
    return msg.as_bytes(policy=email.policy.SMTP)


def parts(raw: bytes) -> dict[str, EmailMessage]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return {p.get_content_type(): p for p in msg.walk() if not p.is_multipart()}  # type: ignore[misc]


def test_template_elements_are_removed_and_the_rest_is_kept() -> None:
    raw = invoice()
    fixed = repair(raw, ALL)
    assert set(fixed.kinds) == {LINKED_LOGO, TRACKING_PIXEL, REMOTE_IMAGE, FOOTER, SIGNATURE_CONTACT, EMOJI}
    out = parts(fixed.raw)
    html = out["text/html"].get_content()
    assert "track.mailer.example" not in html and "banner-winter" not in html
    assert 'src="cid:logo@shop"' in html  # the inline logo stays ...
    assert "utm_source" not in html       # ... without its link
    assert "instagram" not in html and "unsubscribe" not in html and "abbestellen" not in html
    assert "mailto:" not in html and "www.moebel-beispiel.de" not in html
    assert "HRB 45821" in html and "USt-IdNr. DE298765432" in html  # the legal details stay
    assert "dhl.de" in html and "302-0123456-7654321" in html      # the carrier link and order stay
    assert "😊" not in html and "Mit freundlichen Grüßen" in html
    plain = out["text/plain"].get_content()
    assert "www.moebel-beispiel.de" not in plain and "info@moebel-beispiel.de" not in plain
    assert "abbestellen" not in plain and "HRB 45821" in plain and "Industriestraße 7" in plain
    assert "😊" not in plain
    subject = email.message_from_bytes(fixed.raw, policy=email.policy.default)["Subject"]
    assert subject == "Ihre Rechnung zur Bestellung 302-0123456-7654321"


def test_attachments_and_other_headers_stay_byte_identical() -> None:
    raw = invoice()
    fixed = repair(raw, ALL)
    assert out_pdf(fixed.raw) == PDF
    assert parts(fixed.raw)["image/png"].get_content() == LOGO
    pdf_b64 = base64.encodebytes(PDF).replace(b"\n", b"\r\n")
    assert pdf_b64[:200] in raw and pdf_b64[:200] in fixed.raw
    head_in, head_out = raw.split(b"\r\n\r\n", 1)[0], fixed.raw.split(b"\r\n\r\n", 1)[0]
    kept = [line for line in head_in.split(b"\r\n") if not line.startswith((b"Subject:", b" "))]
    for line in kept:
        assert line in head_out.split(b"\r\n")
    assert head_out.startswith(f"{REPAIRED_HEADER}: ".encode())
    # Everything after the changed text parts is the same bytes (the attachment part in full).
    tail = raw[raw.index(b"Rechnung-RE-104233.pdf") - 200:]
    assert tail in fixed.raw


def out_pdf(raw: bytes) -> bytes:
    content = parts(raw)["application/pdf"].get_content()
    assert isinstance(content, bytes)
    return content


def test_charsets_and_transfer_encodings_are_kept() -> None:
    for cte, charset in (("quoted-printable", "utf-8"), ("base64", "utf-8"), ("8bit", "utf-8"),
                         ("quoted-printable", "iso-8859-15")):
        text_only = RepairOptions(kinds=frozenset({FOOTER, SIGNATURE_CONTACT, TRACKING_PIXEL}))
        raw = invoice(cte, charset)
        fixed = repair(raw, text_only)
        assert fixed.changed, (cte, charset)
        for ctype in ("text/plain", "text/html"):
            part = parts(fixed.raw)[ctype]
            assert part["Content-Transfer-Encoding"] == cte
            assert part.get_content_charset() == charset
            assert "Frau Schneider" in part.get_content()
            assert "Industriestraße" in part.get_content() or ctype == "text/html"


def test_only_the_named_kinds_are_repaired() -> None:
    raw = invoice()
    fixed = repair(raw, RepairOptions(kinds=frozenset({TRACKING_PIXEL})))
    assert fixed.kinds == (TRACKING_PIXEL,)
    html = parts(fixed.raw)["text/html"].get_content()
    assert "track.mailer.example" not in html and "banner-winter" in html and "instagram" in html


def test_a_message_with_nothing_to_repair_is_returned_as_it_came() -> None:
    raw = (b"From: a@shop.example\r\nTo: x@marketplace.amazon.de\r\nSubject: Rechnung\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nAnbei die Rechnung zu 302-1234567-1234567.\r\n")
    fixed = repair(raw, ALL)
    assert fixed.raw is raw and not fixed.changed
    assert repair(raw, RepairOptions(kinds=frozenset())).raw is raw


def test_links_in_the_message_body_are_not_signature_lines() -> None:
    # Off-Amazon contact in the seller's own sentences is a content violation: never stripped.
    body = ("Hallo,\r\nbestellen Sie beim nächsten Mal direkt auf www.moebel-beispiel.de, dort ist es "
            "günstiger.\r\n" + "Weitere Zeile mit Text.\r\n" * 20 + "Viele Grüße\r\n")
    raw = ("From: a@moebel-beispiel.de\r\nTo: x@marketplace.amazon.de\r\nSubject: Hallo\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body).encode()
    assert not repair(raw, ALL).changed


def test_quoted_printable_soft_breaks_survive_the_edit() -> None:
    raw = invoice("quoted-printable")
    fixed = repair(raw, ALL)
    html_part = parts(fixed.raw)["text/html"]
    payload = html_part.get_payload()
    assert isinstance(payload, str)
    assert all(len(line) <= 76 for line in payload.splitlines())
    assert quopri.decodestring(payload.encode()).decode("utf-8") == html_part.get_content()


def test_gateway_check_shows_the_repairs_and_writes_the_repaired_message(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    eml, out = tmp_path / "invoice.eml", tmp_path / "repaired.eml"
    eml.write_bytes(invoice(html=HTML.split("<p>Web:")[0] + "</body></html>\n", plain=PLAIN.split("--\n")[0]))
    done = subprocess.run([sys.executable, "-m", "gateway", "check", str(eml), "--json", "--write-repaired", str(out)],
                          capture_output=True, text=True, check=True)
    data = json.loads(done.stdout)
    assert data["action"] == "relay" and data["outcome"] == "queued"
    assert {r["kind"] for r in data["repairs"]} >= {TRACKING_PIXEL, LINKED_LOGO, EMOJI}
    assert data["subject"] == "Ihre Rechnung zur Bestellung 302-0123456-7654321"
    assert {h["rule"]: h["action"] for h in data["hits"]}["tracking-pixel"] == "strip"
    fixed = out.read_bytes()
    assert b"track.mailer.example" not in fixed and fixed.startswith(f"{REPAIRED_HEADER}: ".encode())


def test_emoji_are_what_the_emoji_rule_calls_emoji() -> None:
    """The rule and the repair share one definition: text symbols such as ©, ® and ‼ that the rule
    does not flag are kept, also right before an emoji; the emoji with its joiners goes."""
    from gateway.repair import EMOJI, RepairOptions, repair

    raw = ("From: s@shop.example\r\nTo: a@marketplace.amazon.de\r\nSubject: Danke \U0001F44D\u200D!\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "Marke\u00a9\U0001F600 bleibt\u203c Familie \U0001F468\u200D\U0001F469\u200D\U0001F467 weg.\r\n").encode()
    out = repair(raw, RepairOptions(kinds=frozenset({EMOJI})))
    text = out.raw.decode()
    assert "Marke\u00a9 bleibt\u203c Familie  weg." in text and "Subject: Danke!" in text
    assert [(r.where, r.what) for r in out.removals] == [
        ("text/plain (part 1)", "\U0001F600 \U0001F468\u200D\U0001F469\u200D\U0001F467"),
        ("subject", "\U0001F44D\u200D")]


def test_a_part_without_headers_is_read_from_its_first_line() -> None:
    """A MIME part that starts with the empty line has no headers: its body is not cut at its first
    blank line (one header-block reader, gateway/message/mime.py's)."""
    from gateway.repair import FOOTER, RepairOptions, repair

    raw = (b"From: s@shop.example\r\nTo: a@marketplace.amazon.de\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\r\nIhre Rechnung anbei.\r\n"
           b"Newsletter abbestellen: https://shop.example/abmelden\r\n\r\nViele Gruesse\r\n--b1--\r\n")
    out = repair(raw, RepairOptions(kinds=frozenset({FOOTER})))
    assert out.changed and b"abbestellen" not in out.raw
    assert b"Ihre Rechnung anbei." in out.raw and b"Viele Gruesse" in out.raw
