"""gateway.message.mime.read_headers: the one header reader for whole messages (gateway check)."""

from __future__ import annotations

import pytest

from gateway.message import decode_header_value, read_headers
from gateway.message.mime import read_message


def test_reads_the_header_block_only() -> None:
    raw = (b"From: Shop <shop@example.com>\r\nSubject: =?utf-8?q?Bestellung_f=C3=BCr_Sie?=\r\n"
           b"To: a@marketplace.amazon.de,\r\n b@marketplace.amazon.de\r\n\r\n"
           b"Subject: not a header\r\nFrom: nobody@example.org\r\n")
    headers = read_headers(raw)
    assert decode_header_value(headers.get("Subject")) == "Bestellung für Sie"
    assert headers.get_all("From") == ["Shop <shop@example.com>"]
    assert headers.get("To") == "a@marketplace.amazon.de, b@marketplace.amazon.de"


def test_a_message_without_body_is_all_headers() -> None:
    headers = read_headers(b"Subject: only\nFrom: x@example.com\n")
    assert (headers.get("Subject"), headers.get("From")) == ("only", "x@example.com")
    assert read_headers(b"\r\nSubject: body\r\n").get("Subject") is None


# -- attachment names and parameters (RFC 2231, RFC 6532 raw UTF-8, RFC 2047 in quotes) ------------

def with_attachment(disposition: bytes, content_type: bytes = b"application/pdf") -> bytes:
    return (b"From: shop@example.com\r\nTo: a@marketplace.amazon.de\r\nSubject: Rechnung\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
            b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nanbei die Rechnung\r\n"
            b"--XX\r\nContent-Type: " + content_type + b"\r\n" + disposition + b"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n")


@pytest.mark.parametrize(("disposition", "content_type", "name"), [
    (b'Content-Disposition: attachment; filename="Rechnung M\xc3\xa4rz.pdf"', b"application/pdf",
     "Rechnung März.pdf"),
    (b"Content-Disposition: attachment; filename=Rechnung M\xc3\xa4rz.pdf", b"application/pdf",
     "Rechnung März.pdf"),
    ('Content-Disposition: attachment; filename="請求書 2026.pdf"'.encode(), b"application/pdf",
     "請求書 2026.pdf"),
    (b'Content-Disposition: attachment; filename="Rechnung M\xe4rz.pdf"', b"application/pdf",  # cp1252
     "Rechnung März.pdf"),
    (b"Content-Disposition: attachment", b'application/pdf; name="Fa\xc5\x82ktura.pdf"', "Fałktura.pdf"),
    (b"Content-Disposition: attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf", b"application/pdf",
     "Rechnung März.pdf"),
    (b"Content-Disposition: attachment; filename*=iso-8859-1'de'Rechnung%20M%E4rz.pdf", b"application/pdf",
     "Rechnung März.pdf"),
    # continuations, a character split across two sections, a plain section with raw UTF-8
    (b"Content-Disposition: attachment;\r\n filename*0*=UTF-8''Rechnung%20M%C3;\r\n filename*1*=%A4rz.pdf",
     b"application/pdf", "Rechnung März.pdf"),
    (b"Content-Disposition: attachment;\r\n filename*0*=UTF-8''Rechnung%20;\r\n filename*1=\"M\xc3\xa4rz.pdf\"",
     b"application/pdf", "Rechnung März.pdf"),
    (b"Content-Disposition: attachment; filename*=UTF-8''Rechnung M\xc3\xa4rz.pdf", b"application/pdf",
     "Rechnung März.pdf"),
    (b'Content-Disposition: attachment; filename="=?UTF-8?B?UmVjaG51bmcgTcOkcnoucGRm?="', b"application/pdf",
     "Rechnung März.pdf"),
    (b'Content-Disposition: attachment; filename="a \\"quoted\\" name.pdf"', b"application/pdf",
     'a "quoted" name.pdf'),
])
def test_attachment_names_are_read_as_mail_clients_show_them(disposition: bytes, content_type: bytes,
                                                            name: str) -> None:
    content = read_message(with_attachment(disposition, content_type))
    assert [a.filename for a in content.attachments] == [name]
    assert content.plain_text.strip() == "anbei die Rechnung"


def test_the_extended_name_wins_over_the_plain_one() -> None:
    # Clients show filename* where both are given (RFC 6266 4.3 says so for HTTP): a harmless plain
    # name must not hide the executable one from the attachment rules.
    for order in (b"filename=\"Rechnung.pdf\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.exe",
                  b"filename*=UTF-8''Rechnung%20M%C3%A4rz.exe; filename=\"Rechnung.pdf\""):
        content = read_message(with_attachment(b"Content-Disposition: attachment; " + order))
        assert [(a.filename, a.kind) for a in content.attachments] == [("Rechnung März.exe", "executable")]


def test_a_raw_utf8_catalogue_name_is_seen_by_its_words() -> None:
    content = read_message(with_attachment(b'Content-Disposition: attachment; filename="Brosch\xc3\xbcre Herbst.pdf"'))
    assert [a.filename.lower() for a in content.attachments] == ["broschüre herbst.pdf"]


def test_parameters_with_raw_8bit_values_keep_the_boundary_and_charset() -> None:
    raw = (b"From: shop@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"=_b\xc3\xa4\"; x-note=\"gr\xc3\xbc\xc3\x9fe\"\r\n\r\n"
           b"--=_b\xc3\xa4\r\nContent-Type: text/plain; charset=\"iso-8859-1\" (latin)\r\n\r\n"
           b"Gr\xfc\xdfe\r\n--=_b\xc3\xa4--\r\n")
    content = read_message(raw)
    assert content.plain_text.strip() == "Grüße"
    assert content.problems == []
