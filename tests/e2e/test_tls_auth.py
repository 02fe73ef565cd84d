"""STARTTLS, implicit TLS and AUTH against the real gateway with a certificate made in the test."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import aiosmtplib
import pytest

from gateway.app import Gateway
from tests.conftest import GatewayFactory, listener_port, start_tls_gateway
from tests.sink import Sink, relayed_unchanged
from tests.smtpclient import RawSMTP
from tests.tlsutil import CertPair

MESSAGE = b"From: erp@shop.example\r\nTo: buyer@example.com\r\nSubject: Invoice\r\n\r\nHello\r\n"


@pytest.fixture
async def tls_gateway(gateway_factory: GatewayFactory, cert: CertPair, tmp_path: Path) -> Gateway:
    return await start_tls_gateway(gateway_factory, cert, tmp_path, max_failures=3)


async def test_starttls_then_auth_then_relay(tls_gateway: Gateway, sink: Sink, cert: CertPair) -> None:
    port = listener_port(tls_gateway)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False,
                             tls_context=cert.client_context())
    await client.connect()
    _, text = await client.ehlo()
    assert "STARTTLS" in text.upper()
    assert "AUTH" not in text.upper()  # never offered in plaintext
    await client.starttls()
    _, text = await client.ehlo()
    assert "AUTH" in text.upper()
    await client.login("erp", "correct horse")
    errors, _ = await client.sendmail("erp@shop.example", ["buyer@example.com"], MESSAGE)
    assert errors == {}
    await client.quit()
    received = await sink.handler.wait_for(1)
    assert relayed_unchanged(received[0].data, MESSAGE)


async def test_unauthenticated_tls_session_cannot_relay(tls_gateway: Gateway, cert: CertPair) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener_port(tls_gateway), start_tls=True,
                             tls_context=cert.client_context())
    await client.connect()
    await client.mail("erp@shop.example")
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as info:
        await client.rcpt("buyer@example.com")
    assert info.value.code == 554
    assert "5.7.1" in info.value.message
    await client.quit()


async def test_auth_refused_before_tls(tls_gateway: Gateway) -> None:
    client, _ = await RawSMTP.connect(listener_port(tls_gateway))
    await client.cmd("EHLO client.test")
    code, text = await client.cmd("AUTH PLAIN " + base64.b64encode(b"\0erp\0correct horse").decode())
    assert code == 538
    assert "5.7.11" in text
    await client.close()


async def test_plaintext_pipelined_after_starttls_is_discarded(tls_gateway: Gateway, cert: CertPair,
                                                                sink: Sink) -> None:
    client, _ = await RawSMTP.connect(listener_port(tls_gateway))
    await client.cmd("EHLO client.test")
    # STARTTLS with a command injected behind it in the same plaintext packet (CVE-2011-0411 style).
    await client.send(b"STARTTLS\r\nMAIL FROM:<injected@attacker.example>\r\n")
    code, _ = await client.read_reply()
    assert code == 220
    await client.writer.start_tls(cert.client_context())
    code, text = await client.cmd("EHLO client.test")
    assert code == 250
    # Had the injected MAIL been kept, a second MAIL would be refused as nested.
    code, text = await client.cmd("MAIL FROM:<erp@shop.example>")
    assert code == 250, text
    await client.close()


async def test_failed_auth_is_rate_limited(tls_gateway: Gateway, cert: CertPair) -> None:
    port = listener_port(tls_gateway)
    for _ in range(3):
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=True,
                                 tls_context=cert.client_context())
        await client.connect()
        await client.ehlo()
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as info:
            await client.auth_plain("erp", "wrong")
        assert info.value.code == 535
        await client.quit()
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=True,
                             tls_context=cert.client_context())
    await client.connect()
    await client.ehlo()
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as info:
        await client.auth_plain("erp", "correct horse")  # even the right password: locked for now
    assert info.value.code == 454
    assert "4.7.0" in info.value.message
    await client.quit()


async def test_implicit_tls_port_with_auth(tls_gateway: Gateway, cert: CertPair, sink: Sink) -> None:
    assert tls_gateway.listener is not None
    port = tls_gateway.listener.implicit_tls_port
    assert port is not None
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=True,
                             tls_context=cert.client_context())
    await client.connect()
    _, text = await client.ehlo()
    assert "STARTTLS" not in text.upper()
    await client.login("erp", "correct horse")
    errors, _ = await client.sendmail("erp@shop.example", ["buyer@example.com"], MESSAGE)
    assert errors == {}
    await client.quit()
    assert relayed_unchanged((await sink.handler.wait_for(1))[0].data, MESSAGE)


async def test_failed_handshakes_on_implicit_tls_port_are_not_counted_as_sessions(
        tls_gateway: Gateway, cert: CertPair, sink: Sink) -> None:
    """Scanners and TCP health checks that drop (or botch) the handshake must not use up max_sessions."""
    listener = tls_gateway.listener
    assert listener is not None and listener.implicit_tls_port is not None
    for garbage in (b"", b"EHLO plaintext\r\n", b"\x16\x03\x01\x00\x05hello"):
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.implicit_tls_port)
        writer.write(garbage)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        del reader
    await asyncio.sleep(0.3)
    assert listener.active_sessions == 0

    # A real TLS session counts while it is open and is released when it ends.
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.implicit_tls_port, use_tls=True,
                             tls_context=cert.client_context())
    await client.connect()
    assert listener.active_sessions == 1
    await client.quit()
    await asyncio.sleep(0.2)
    assert listener.active_sessions == 0


async def test_implicit_tls_port_keeps_to_max_sessions(gateway_factory: GatewayFactory, cert: CertPair) -> None:
    """Sessions there count only once their handshake is done, so the limit is checked then too:
    connections accepted while the count was low still may not all become sessions."""
    gw = await gateway_factory(server={"implicit_tls_listen": "127.0.0.1:0", "max_sessions": 1},
                               tls={"cert_file": str(cert.cert_file), "key_file": str(cert.key_file)})
    assert gw.listener is not None and gw.listener.implicit_tls_port is not None
    # Four TCP connections, all accepted before any of them starts its handshake.
    streams = [await asyncio.open_connection("127.0.0.1", gw.listener.implicit_tls_port) for _ in range(4)]
    await asyncio.sleep(0.2)
    greetings = []
    for reader, writer in streams:
        await writer.start_tls(cert.client_context(), server_hostname="localhost")
        greetings.append((await asyncio.wait_for(reader.readline(), 5)).decode())
    assert sum(g.startswith("220") for g in greetings) == 1, greetings
    assert [g for g in greetings if not g.startswith("220")] == [
        "421 4.7.0 gateway.test Too many concurrent sessions; try again later\r\n"] * 3
    assert gw.listener.active_sessions == 1
    for _reader, writer in streams:
        writer.close()
    await asyncio.sleep(0.2)
    assert gw.listener.active_sessions == 0
