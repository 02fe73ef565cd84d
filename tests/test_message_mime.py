"""gateway.message.mime.read_headers: the one header reader for whole messages (gateway check)."""

from __future__ import annotations

from gateway.message import decode_header_value, read_headers


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
