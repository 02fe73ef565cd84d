"""The listener end to end: a real gateway on loopback relaying to a real aiosmtpd sink."""

from __future__ import annotations

import asyncio
import base64

import aiosmtplib
import pytest

from gateway.app import Gateway
from gateway.transaction import has_bare_line_ending
from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink, added_headers, split_trace
from tests.smtpclient import RawSMTP


def message(subject: str = "Hello", body: str = "Just a test.\r\n", to: str = "buyer@example.com",
            extra: str = "") -> bytes:
    return (f"From: seller@shop.example\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash((subject, body)))}@shop.example>\r\n{extra}"
            f"\r\n{body}").encode()


async def test_relays_message_byte_exact_with_queue_id(gateway: Gateway, sink: Sink) -> None:
    data = message(body="Line one\r\nLine two with umlaut: \xe4\r\n".encode("latin-1").decode("latin-1"))
    errors, reply = await aiosmtplib.send(data, sender="seller@shop.example",
                                          recipients=["buyer@example.com"], hostname="127.0.0.1",
                                          port=listener_port(gateway))
    assert errors == {}
    assert reply.startswith("2.0.0 Ok: queued as ")
    received = await sink.handler.wait_for(1)
    received_header, _rest = split_trace(received[0].data)
    queue_id = reply.rsplit(" ", 1)[-1]
    assert f" id {queue_id}".encode() in received_header  # the Received header names the queue id
    assert added_headers(received[0].data, data).startswith(b"Date: ")  # only the missing Date
    assert received[0].mail_from == "seller@shop.example"
    assert received[0].rcpt_tos == ["buyer@example.com"]


async def test_ehlo_advertises_extensions_without_auth_before_tls(gateway: Gateway) -> None:
    client, greeting = await RawSMTP.connect(listener_port(gateway))
    assert greeting[0] == 220
    code, text = await client.cmd("EHLO client.test")
    assert code == 250
    assert "SIZE 20971520" in text
    assert "8BITMIME" in text
    assert "SMTPUTF8" in text
    assert "AUTH" not in text
    assert "STARTTLS" not in text  # no certificate configured
    await client.close()


async def test_open_relay_refused_for_peer_outside_allowed_networks(gateway_factory: GatewayFactory,
                                                                    sink: Sink) -> None:
    gw = await gateway_factory(server={"allowed_networks": ["192.0.2.0/24"]})
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    assert (await client.cmd("MAIL FROM:<seller@shop.example>"))[0] == 250
    code, text = await client.cmd("RCPT TO:<buyer@example.com>")
    assert code == 554
    assert "5.7.1" in text and "127.0.0.1" in text
    await client.close()
    assert sink.messages == []


@pytest.mark.parametrize("address", ["seller\x00@shop.example", "sel\rler@shop.example"])
async def test_address_with_control_characters_is_refused(gateway: Gateway, sink: Sink,
                                                          address: str) -> None:
    client, _ = await RawSMTP.connect(listener_port(gateway))
    await client.cmd("EHLO client.test")
    code, text = await client.cmd(f"MAIL FROM:<{address}>".encode())
    assert code == 501
    assert "5.1.3" in text
    await client.close()
    assert sink.messages == []


async def test_rcpt_with_nul_is_refused(gateway: Gateway) -> None:
    client, _ = await RawSMTP.connect(listener_port(gateway))
    await client.cmd("EHLO client.test")
    assert (await client.cmd("MAIL FROM:<seller@shop.example>"))[0] == 250
    code, text = await client.cmd(b"RCPT TO:<buyer\x00evil@example.com>")
    assert (code, text[4:9]) == (501, "5.1.3")
    code, text = await client.cmd("RCPT TO:<not an address>")
    assert code == 501 and "5.1.3" in text
    await client.close()


async def test_declared_size_over_limit_refused_at_mail(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(server={"max_message_size": 1000})
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    code, text = await client.cmd("MAIL FROM:<seller@shop.example> SIZE=5000")
    assert code == 552
    assert "5.3.4" in text
    await client.close()


async def test_undeclared_oversize_refused_after_data(gateway_factory: GatewayFactory,
                                                      sink: Sink) -> None:
    gw = await gateway_factory(server={"max_message_size": 1000})
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    assert (await client.cmd("MAIL FROM:<seller@shop.example>"))[0] == 250
    assert (await client.cmd("RCPT TO:<buyer@example.com>"))[0] == 250
    assert (await client.cmd("DATA"))[0] == 354
    code, text = await client.cmd(message(body=("y" * 70 + "\r\n") * 20) + b".")
    assert code == 552
    assert "5.3.4" in text
    # The session stays usable after the refusal.
    assert (await client.cmd("RSET"))[0] == 250
    await client.close()
    await asyncio.sleep(0.2)
    assert sink.messages == []


async def test_recipient_limit(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(server={"max_recipients": 3})
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    for i in range(3):
        assert (await client.cmd(f"RCPT TO:<b{i}@example.com>"))[0] == 250
    code, text = await client.cmd("RCPT TO:<b4@example.com>")
    assert code == 452
    assert "4.5.3" in text
    await client.close()


async def test_session_limit_answers_421(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(server={"max_sessions": 2})
    port = listener_port(gw)
    first, g1 = await RawSMTP.connect(port)
    second, g2 = await RawSMTP.connect(port)
    assert g1[0] == g2[0] == 220
    third, g3 = await RawSMTP.connect(port)
    assert g3[0] == 421
    assert "4.7.0" in g3[1]
    await third.close()
    await first.cmd("QUIT")
    await first.close()
    await asyncio.sleep(0.1)
    fourth, g4 = await RawSMTP.connect(port)
    assert g4[0] == 220  # a slot freed up: well-behaved clients get through again
    for c in (second, fourth):
        await c.close()


async def test_idle_client_gets_421_timeout(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(server={"command_timeout": 0.5})
    client, _ = await RawSMTP.connect(listener_port(gw))
    code, text = await client.read_reply(timeout=5)
    assert code == 421
    assert "4.4.2" in text
    await client.close()


async def test_data_phase_has_its_own_timeout(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gw = await gateway_factory(server={"command_timeout": 30, "data_timeout": 0.5})
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    await client.cmd("RCPT TO:<buyer@example.com>")
    assert (await client.cmd("DATA"))[0] == 354
    await client.send(b"Subject: stalled\r\n\r\nhalf a message")
    code, text = await client.read_reply(timeout=5)
    assert code == 421
    assert "4.4.2" in text
    await client.close()
    assert sink.messages == []


# --- SMTP smuggling: every variant is refused, and at most one message ever reaches the upstream ---
SMUGGLED = b"MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSmuggled\r\n"

SMUGGLING_VARIANTS = {
    "lf-dot-crlf": b"Hello\r\n\n.\r\n" + SMUGGLED,
    "crlf-dot-lf": b"Hello\r\n.\n" + SMUGGLED,
    "lf-dot-lf": b"Hello\n.\n" + SMUGGLED,
    "cr-dot-crlf": b"Hello\r.\r\n" + SMUGGLED,
    "cr-cr-lf": b"Hello\r\r\n.\r\r\n" + SMUGGLED,
}


@pytest.mark.parametrize("mode", ["normalize", "reject"])
@pytest.mark.parametrize("variant", sorted(SMUGGLING_VARIANTS))
async def test_smuggling_variant_never_ends_the_data(gateway_factory: GatewayFactory, sink: Sink,
                                                     variant: str, mode: str) -> None:
    """Only <CRLF>.<CRLF> ends DATA. With ``reject`` the message is refused; with ``normalize`` (the
    default) it is one message whose bare line endings became CRLF: the smuggled commands are
    text inside it, never a second transaction."""
    gw = await gateway_factory(server={"bare_line_endings": mode})
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    assert (await client.cmd("MAIL FROM:<seller@shop.example>"))[0] == 250
    assert (await client.cmd("RCPT TO:<buyer@example.com>"))[0] == 250
    assert (await client.cmd("DATA"))[0] == 354
    await client.send(b"Subject: test\r\n\r\n" + SMUGGLING_VARIANTS[variant] + b".\r\n")
    code, text = await client.read_reply()
    if mode == "reject":
        assert code == 550
        assert "5.6.0" in text and "bare" in text
    else:
        assert code == 250, text
    # Whatever the client sends next is a new command, never the tail of a smuggled message.
    assert (await client.cmd("QUIT"))[0] == 221
    await client.close()
    if mode == "normalize":
        received = await sink.handler.wait_for(1)
        _trace, relayed = split_trace(received[0].data)
        assert b"MAIL FROM:<evil@attacker.example>\r\n" in relayed
        assert not has_bare_line_ending(relayed)
        assert b"\r\n.\r\n" not in relayed  # a lone dot line would end the data upstream
    await asyncio.sleep(0.5)
    assert all(m.rcpt_tos == ["buyer@example.com"] for m in sink.messages)
    assert len(sink.messages) == (1 if mode == "normalize" else 0)


async def test_bare_lf_lines_are_normalised_and_dot_unstuffed(gateway: Gateway, sink: Sink) -> None:
    """An LF-only ERP (Postfix 3.9 normalize): every bare LF is a line end, dot-stuffing applies
    to each such line, and the message ends with the standard <CRLF>.<CRLF>."""
    client, _ = await RawSMTP.connect(listener_port(gateway))
    await client.cmd("EHLO erp.test")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    await client.cmd("RCPT TO:<buyer@example.com>")
    assert (await client.cmd("DATA"))[0] == 354
    code, _ = await client.cmd(b"Subject: lf only\nMessage-ID: <lf@shop.example>\n\nline one\n..dotted\n"
                               b"last\r\n.")
    assert code == 250
    await client.close()
    relayed = split_trace((await sink.handler.wait_for(1))[0].data)[1]
    assert relayed.startswith(b"Subject: lf only\r\nMessage-ID: <lf@shop.example>\r\n")
    assert relayed.endswith(b"\r\n\r\nline one\r\n.dotted\r\nlast\r\n")


async def test_long_lines_are_accepted_and_relayed_as_valid_smtp(gateway: Gateway, sink: Sink) -> None:
    """An ERP writing HTML without line breaks: Postfix takes such lines and breaks them on the way
    out; so does the gateway, so what reaches the upstream has no line over 998 octets."""
    client, _ = await RawSMTP.connect(listener_port(gateway))
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    await client.cmd("RCPT TO:<buyer@example.com>")
    assert (await client.cmd("DATA"))[0] == 354
    subject = b"Subject: " + b"word " * 300
    html = b"<p>" + b"x" * 5000 + b"</p>"
    await client.send(subject + b"\r\nMessage-ID: <long@shop.example>\r\n\r\n" + html + b"\r\n"
                      + b"a" * 1000 + b"\r\n.\r\n")
    code, text = await client.read_reply()
    assert code == 250, text
    await client.close()
    relayed = split_trace((await sink.handler.wait_for(1))[0].data)[1]
    assert max(len(line) for line in relayed.split(b"\r\n")) <= 998
    head, _, body = relayed.partition(b"\r\n\r\n")
    # The header was folded at spaces: unfolding gives the original back.
    assert head.replace(b"\r\n ", b" ").startswith(subject.rstrip())
    # The body lines were broken Postfix's way: CRLF SPACE inserted.
    assert body.replace(b"\r\n ", b"") == html + b"\r\n" + b"a" * 1000 + b"\r\n"


async def test_proxy_header_only_from_trusted_proxy(gateway_factory: GatewayFactory,
                                                    sink: Sink) -> None:
    gw = await gateway_factory(server={"trusted_proxies": ["127.0.0.1/32"],
                                       "allowed_networks": ["192.0.2.0/24"]})
    port = listener_port(gw)
    # A client behind the proxy in an allowed network may relay.
    client, greeting = await RawSMTP.connect(
        port, prefix=b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 25\r\n")
    assert greeting[0] == 220
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    assert (await client.cmd("RCPT TO:<buyer@example.com>"))[0] == 250
    await client.close()
    # One outside it may not, although the proxy's own address is loopback.
    client, _ = await RawSMTP.connect(port, prefix=b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 25\r\n")
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    code, text = await client.cmd("RCPT TO:<buyer@example.com>")
    assert code == 554 and "198.51.100.7" in text
    await client.close()


async def test_proxy_header_from_untrusted_peer_is_not_honoured(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(server={"allowed_networks": ["192.0.2.0/24"]})
    client, greeting = await RawSMTP.connect(listener_port(gw))
    assert greeting[0] == 220
    code, _ = await client.cmd("PROXY TCP4 192.0.2.10 127.0.0.1 40000 25")
    assert code == 500  # just an unknown command from an untrusted peer
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    assert (await client.cmd("RCPT TO:<buyer@example.com>"))[0] == 554
    await client.close()


async def test_shutdown_refuses_new_sessions_and_keeps_accepted_mail(
        gateway_factory: GatewayFactory, sink: Sink) -> None:
    gw = await gateway_factory()
    port = listener_port(gw)
    open_client, _ = await RawSMTP.connect(port)
    await open_client.cmd("EHLO client.test")
    assert gw.listener is not None
    drain = asyncio.create_task(gw.listener.drain(5.0))
    await asyncio.sleep(0.05)
    late, greeting = await RawSMTP.connect(port)
    assert greeting[0] == 421 and "4.3.2" in greeting[1]
    await late.close()
    # The session that was open may still finish its message.
    await open_client.cmd("MAIL FROM:<seller@shop.example>")
    await open_client.cmd("RCPT TO:<buyer@example.com>")
    await open_client.cmd("DATA")
    code, _ = await open_client.cmd(message().replace(b"\r\n.", b"\r\n..") + b"\r\n.")
    assert code == 250
    await open_client.cmd("QUIT")
    await open_client.close()
    assert await drain is True
    await gw.stop(grace=2.0)
    # Accepted mail is either delivered before exit or waits in the spool for the next start.
    again = Gateway(gw.config, policy=None)
    await again.start()
    try:
        await sink.handler.wait_for(1)
        await asyncio.sleep(0.3)
        assert len(sink.messages) == 1
    finally:
        await again.stop(grace=2.0)


async def test_auth_plain_needs_credentials_file_entry(gateway_factory: GatewayFactory) -> None:
    # Without TLS the gateway never offers AUTH and refuses it if tried.
    gw = await gateway_factory()
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    code, text = await client.cmd("AUTH PLAIN " + base64.b64encode(b"\0u\0p").decode())
    assert code in (503, 504, 538)
    assert "5." in text
    await client.close()


async def test_sessions_still_open_after_the_drain_period_hear_421_and_are_closed(
        gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory()
    idle_client, _ = await RawSMTP.connect(listener_port(gw))
    await idle_client.cmd("EHLO client.test")  # then says nothing more: only the stop ends it
    assert gw.listener is not None and gw.listener.active_sessions == 1
    await gw.stop(grace=0.3)
    code, text = await idle_client.read_reply(timeout=5.0)
    assert code == 421 and "4.3.2" in text
    assert await idle_client.reader.read() == b""  # and the connection is closed, not left open
    assert gw.listener.sessions == set() and gw.listener.active_sessions == 0
    await idle_client.close()
