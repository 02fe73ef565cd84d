"""Attachment names as a buyer's mail client shows them decide the attachment rules, over SMTP with
the shipped rule packs: an RFC 2231 ``filename*`` behind a harmless plain ``filename``, and a raw
UTF-8 (RFC 6532) name."""

from __future__ import annotations

import aiosmtplib
import pytest

from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
ORDER = "302-4817265-9034712"


def invoice_with(disposition: bytes) -> bytes:
    return (b"From: orders@shop.example\r\nTo: " + ALIAS.encode() + b"\r\n"
            b"Subject: Ihre Rechnung zur Bestellung " + ORDER.encode() + b"\r\n"
            b"Message-ID: <inv-att@shop.example>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
            b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            b"Guten Tag,\r\n\r\nanbei die Rechnung zu Bestellung " + ORDER.encode() + b".\r\n\r\n"
            b"Mit freundlichen Gr\xc3\xbc\xc3\x9fen\r\nIhr Team von Mustermann Handel\r\n"
            b"--XX\r\nContent-Type: application/pdf\r\n" + disposition + b"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJeLjz9MK\r\n--XX--\r\n")


async def send(gw_port: int, data: bytes) -> tuple[int, str]:
    try:
        _errors, reply = await aiosmtplib.send(data, sender="orders@shop.example", recipients=[ALIAS],
                                               hostname="127.0.0.1", port=gw_port)
    except aiosmtplib.SMTPResponseException as refused:
        return refused.code, refused.message
    return 250, reply


async def test_attachment_names_decide_as_the_buyer_sees_them(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gw = await gateway_factory(policy="load")
    port = listener_port(gw)
    code, text = await send(port, invoice_with(
        b"Content-Disposition: attachment; filename=\"Rechnung.pdf\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf.exe"))
    assert code == 550, text
    assert "attachment" in text.lower()

    code, text = await send(port, invoice_with(b'Content-Disposition: attachment; filename="Rechnung M\xc3\xa4rz.pdf"'))
    assert code == 250, text
    received = await sink.handler.wait_for(1)
    assert b'filename="Rechnung M\xc3\xa4rz.pdf"' in received[0].data
    assert len(received) == 1


@pytest.mark.parametrize("name", [b"Brosch\xc3\xbcre Herbst.pdf", b"Katalog_\xc3\x9cbersicht.pdf"])
async def test_a_raw_utf8_catalogue_name_is_caught(gateway_factory: GatewayFactory, sink: Sink, name: bytes) -> None:
    gw = await gateway_factory(policy="load")
    disposition = b'Content-Disposition: attachment; filename="' + name + b'"'
    code, text = await send(listener_port(gw), invoice_with(disposition))
    assert code != 250, text
    assert sink.handler.messages == []
