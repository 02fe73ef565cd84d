"""Template fingerprints: the same template filled in for another order matches, another template not."""

from __future__ import annotations

from gateway.fingerprint import Fingerprint, template_fingerprint

TEMPLATE = """From: Shop <info@shop.example>\r
To: {alias}@marketplace.amazon.de\r
Subject: Ihre Bestellung {order}\r
Content-Type: text/plain; charset=utf-8\r
\r
Hallo {name},\r
\r
vielen Dank für Ihren Einkauf bei uns. Ihre Bestellung {order} über {amount} EUR wurde heute\r
an {carrier} übergeben und sollte in zwei bis drei Werktagen bei Ihnen sein.\r
Artikel: {item}\r
Sie können den Versand hier verfolgen: https://www.dhl.de/verfolgen?code={code}\r
Wenn Ihnen der Artikel gefällt, würden wir uns über eine Bewertung sehr freuen.\r
Bei Fragen zu Ihrer Bestellung antworten Sie einfach auf diese Nachricht.\r
\r
Viele Grüße\r
Ihr Team vom Beispielshop\r
"""


def filled(**values: str) -> bytes:
    base = {"alias": "a1b2c3", "order": "302-1234567-7654321", "name": "Frau Schneider", "amount": "49,90",
            "carrier": "DHL", "item": "Kaffeemühle", "code": "00340434161094042557"}
    return TEMPLATE.format(**{**base, **values}).encode()


def test_the_same_template_for_another_order_matches() -> None:
    a = template_fingerprint(filled())
    b = template_fingerprint(filled(alias="zz9y8x", order="028-0012345-1112223", name="Herr Özdemir",
                                    amount="1.249,00", carrier="Hermes", item="Eckschreibtisch aus Eiche",
                                    code="H1002003004005006"))
    assert a.same_template(b), a.similarity(b)
    assert Fingerprint.decode(a.encode()) == a


def test_another_template_does_not_match() -> None:
    other = (b"From: Shop <info@shop.example>\r\nTo: q@marketplace.amazon.de\r\nSubject: Rechnung\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\n\r\nSehr geehrte Kundin, sehr geehrter Kunde,\r\n"
             b"anbei erhalten Sie die Rechnung zu Ihrer Bestellung als PDF-Datei.\r\n"
             b"Der Betrag wurde bereits vollstaendig ueber Amazon beglichen.\r\n"
             b"Bitte bewahren Sie die Rechnung fuer Ihre Unterlagen auf.\r\nMit freundlichen Gruessen\r\n")
    assert template_fingerprint(filled()).similarity(template_fingerprint(other)) < 0.1


def test_a_template_with_a_changed_sentence_drifts_apart() -> None:
    fixed = filled().replace(b"Wenn Ihnen der Artikel gef\xc3\xa4llt, w\xc3\xbcrden wir uns \xc3\xbcber eine "
                             b"Bewertung sehr freuen.", b"")
    assert 0.5 < template_fingerprint(filled()).similarity(template_fingerprint(fixed)) < 1


def test_a_message_without_text_has_no_fingerprint() -> None:
    empty = b"From: a@b.example\r\nSubject: x\r\n\r\n\r\n"
    assert template_fingerprint(empty).hashes == ()
    assert not template_fingerprint(empty).same_template(template_fingerprint(empty))
