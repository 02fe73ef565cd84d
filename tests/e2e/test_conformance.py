"""What real MTAs and clients expect of the listener (issue 14), over SMTP against the real gateway:
extensions offered, PIPELINING, the null sender, addresses Postfix accepts, the quarantine reply,
the Received header and AUTH as clients speak it."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import aiosmtplib
import pytest

from gateway.app import Gateway
from gateway.auth import hash_password
from tests.admin.support import held_body
from tests.admin.support import message as alias_message
from tests.bounces.messages import dsn
from tests.conftest import GatewayFactory, listener_port, make_config
from tests.sink import Sink, added_headers, split_trace
from tests.smtpclient import RawSMTP
from tests.tlsutil import CertPair

MESSAGE = b"From: seller@shop.example\r\nSubject: hello\r\nMessage-ID: <c@shop.example>\r\n\r\nHi\r\n"


async def session(port: int, helo: str = "client.test") -> RawSMTP:
    client, greeting = await RawSMTP.connect(port)
    assert greeting[0] == 220
    assert (await client.cmd(f"EHLO {helo}"))[0] == 250
    return client


async def test_ehlo_offers_pipelining_and_enhanced_status_codes(gateway: Gateway) -> None:
    client, _ = await RawSMTP.connect(listener_port(gateway))
    code, text = await client.cmd("EHLO client.test")
    assert code == 250
    offered = [line[4:] for line in text.split("\n")]
    assert "PIPELINING" in offered and "ENHANCEDSTATUSCODES" in offered
    assert offered[-1] == "HELP" and text.split("\n")[-1].startswith("250 ")
    await client.close()


async def test_pipelined_transactions_get_their_replies_in_order(gateway: Gateway, sink: Sink) -> None:
    """RFC 2920: MAIL, RCPTs and DATA in one write; then the data and the next transaction's
    commands (RSET included) in another, as Postfix's smtp client does."""
    client = await session(listener_port(gateway))
    await client.send(b"MAIL FROM:<seller@shop.example>\r\nRCPT TO:<a@example.com>\r\n"
                      b"RCPT TO:<bad address>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    replies = [await client.read_reply() for _ in range(5)]
    assert [code for code, _ in replies] == [250, 250, 501, 250, 354]
    await client.send(MESSAGE + b".\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n")
    replies = [await client.read_reply() for _ in range(5)]
    assert [code for code, _ in replies] == [250, 250, 250, 250, 354]
    assert "queued as" in replies[0][1]
    await client.send(MESSAGE + b".\r\nQUIT\r\n")
    assert (await client.read_reply())[0] == 250
    assert (await client.read_reply())[0] == 221
    await client.close()
    received = await sink.handler.wait_for(2)
    assert sorted(tuple(m.rcpt_tos) for m in received) == [("a@example.com", "b@example.com"),
                                                           ("c@example.com",)]


async def test_null_sender_is_accepted_and_relayed_as_null(gateway: Gateway, sink: Sink) -> None:
    """Bounces, DSNs, read receipts and auto-replies use MAIL FROM:<> (RFC 5321 4.5.5)."""
    client = await session(listener_port(gateway))
    code, text = await client.cmd("MAIL FROM:<>")
    assert (code, text) == (250, "250 2.1.0 Sender OK")
    assert (await client.cmd("RCPT TO:<buyer@example.com>"))[0] == 250
    assert (await client.cmd("DATA"))[0] == 354
    assert (await client.cmd(MESSAGE + b"."))[0] == 250
    await client.close()
    received = await sink.handler.wait_for(1)
    assert received[0].mail_from in ("", "<>")


async def test_null_sender_reaches_the_bounce_intake(gateway_factory: GatewayFactory, sink: Sink) -> None:
    alias = "bcdfghjklmnpqrs@marketplace.amazon.de"
    gw = await gateway_factory(policy=None, bounces={"listen": "127.0.0.1:0",
                                                     "addresses": ["bounces@gw.shop.example"]})
    assert gw.bounce_listener is not None and gw.store is not None
    for port, rcpt in ((gw.bounce_listener.port, "anything@gw.shop.example"),
                       (listener_port(gw), "bounces@gw.shop.example")):
        client = await session(port)
        assert (await client.cmd("MAIL FROM:<>"))[0] == 250
        assert (await client.cmd(f"RCPT TO:<{rcpt}>"))[0] == 250
        assert (await client.cmd("DATA"))[0] == 354
        data = dsn(alias, "5.1.1", "550 5.1.1 User unknown").replace(b"\r\n.", b"\r\n..")
        code, text = await client.cmd(data + b".")
        assert code == 250 and "bounce-back recorded" in text, text
        await client.close()
    assert await gw.store.alias_status(alias) == "dead"
    await asyncio.sleep(0.2)
    assert sink.messages == []


@pytest.mark.parametrize("sender", ["<postmaster>", '<"john doe"@shop.example>', "<user@srv01.firma.local>",
                                    "<erp@example.test>", "<root@localhost>", "<user@[192.0.2.7]>"])
async def test_addresses_postfix_accepts(gateway: Gateway, sink: Sink, sender: str) -> None:
    client = await session(listener_port(gateway))
    code, text = await client.cmd(f"MAIL FROM:{sender}")
    assert code == 250, text
    code, text = await client.cmd(f"RCPT TO:{sender}")
    assert code == 250, text
    assert (await client.cmd("DATA"))[0] == 354
    assert (await client.cmd(MESSAGE + b"."))[0] == 250
    await client.close()
    received = await sink.handler.wait_for(1)
    assert received[0].rcpt_tos == [sender[1:-1]]


async def test_quarantine_answers_2_0_0_held_for_review(tmp_path: Path, sink: Sink) -> None:
    """X.6.0 is a media error (RFC 3463): a held message is a success, 2.0.0, naming its id."""
    # The body is also a thanks-only message (refused by default): both rules hold here.
    config = make_config(tmp_path, sink.port, policy={"actions": {"off-amazon-contact": "quarantine",
                                                                  "thanks-only": "quarantine"}})
    gw = Gateway(config)
    await gw.start()
    try:
        errors, reply = await aiosmtplib.send(
            alias_message("About your order", held_body()), sender="seller@shop.example",
            recipients=["bcdfghjklmnpqrs@marketplace.amazon.de"], hostname="127.0.0.1",
            port=listener_port(gw))
    finally:
        await gw.stop(grace=2.0)
    assert errors == {}
    assert reply.startswith("2.0.0 Ok: held for review as Q"), reply


async def test_received_header_names_the_hop(gateway: Gateway, sink: Sink) -> None:
    errors, reply = await aiosmtplib.send(MESSAGE, sender="seller@shop.example",
                                          recipients=["buyer@example.com"], hostname="127.0.0.1",
                                          port=listener_port(gateway), local_hostname="erp.shop.test")
    assert errors == {}
    queue_id = reply.rsplit(" ", 1)[-1]
    trace, rest = split_trace((await sink.handler.wait_for(1))[0].data)
    lines = trace.decode().split("\r\n")
    assert lines[0].startswith("Received: from erp.shop.test (") and lines[0].endswith(" [127.0.0.1])")
    assert lines[1] == f"\tby gateway.test (Seller Mail Gateway) with ESMTP id {queue_id}"
    assert lines[2].startswith("\tfor <buyer@example.com>; ")
    assert added_headers(trace + rest, MESSAGE).startswith(b"Date: ")  # and nothing else changed


async def auth_gateway(gateway_factory: GatewayFactory, cert: CertPair, tmp_path: Path,
                       **server: object) -> Gateway:
    users = tmp_path / "users"
    users.write_text(f"erp:{hash_password('erp secret')}\noutlook:{hash_password('new secret')}\n")
    return await gateway_factory(
        server={"allowed_networks": ["192.0.2.0/24"], **server},
        tls={"cert_file": str(cert.cert_file), "key_file": str(cert.key_file)},
        auth={"credentials_file": str(users), "max_failures": 3, "max_failures_per_peer": 10})


async def tls_client(gw: Gateway, cert: CertPair) -> aiosmtplib.SMTP:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener_port(gw), start_tls=True,
                             tls_context=cert.client_context())
    await client.connect()
    await client.ehlo()
    return client


async def test_stale_password_of_one_user_does_not_lock_out_another(
        gateway_factory: GatewayFactory, cert: CertPair, tmp_path: Path) -> None:
    """An Outlook with a stale password behind the shop's NAT: the ERP at the same address still
    logs in; the Outlook user is locked (454 4.7.0) even once it has the right password."""
    gw = await auth_gateway(gateway_factory, cert, tmp_path)
    for _ in range(3):
        client = await tls_client(gw, cert)
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as failed:
            await client.auth_plain("outlook", "old secret")
        assert failed.value.code == 535
        await client.quit()
    client = await tls_client(gw, cert)
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as locked:
        await client.auth_plain("outlook", "new secret")
    assert locked.value.code == 454 and "4.7.0" in locked.value.message
    await client.auth_plain("erp", "erp secret")  # the other user at the same address: fine
    await client.quit()


async def test_many_user_names_from_one_peer_lock_the_peer(
        gateway_factory: GatewayFactory, cert: CertPair, tmp_path: Path) -> None:
    gw = await auth_gateway(gateway_factory, cert, tmp_path)
    client = await tls_client(gw, cert)
    for i in range(10):
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await client.auth_plain(f"guess{i}", "x")
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as locked:
        await client.auth_plain("erp", "erp secret")
    assert locked.value.code == 454
    await client.quit()


async def test_plain_authzid_other_than_the_user_is_refused(
        gateway_factory: GatewayFactory, cert: CertPair, tmp_path: Path) -> None:
    gw = await auth_gateway(gateway_factory, cert, tmp_path)
    client = await tls_client(gw, cert)
    blob = base64.b64encode(b"admin\x00erp\x00erp secret").decode()
    response = await client.execute_command(b"AUTH", b"PLAIN", blob.encode())
    assert response.code == 535 and "authorization identity" in response.message
    same = base64.b64encode(b"erp\x00erp\x00erp secret").decode()
    response = await client.execute_command(b"AUTH", b"PLAIN", same.encode())
    assert response.code == 235
    await client.quit()


async def test_login_prompts_and_auth_user_in_received_when_configured(
        gateway_factory: GatewayFactory, cert: CertPair, tmp_path: Path, sink: Sink) -> None:
    gw = await auth_gateway(gateway_factory, cert, tmp_path, received_auth_user=True)
    client = await tls_client(gw, cert)
    response = await client.execute_command(b"AUTH", b"LOGIN")
    assert (response.code, base64.b64decode(response.message)) == (334, b"Username:")
    response = await client.execute_command(base64.b64encode(b"erp"))
    assert (response.code, base64.b64decode(response.message)) == (334, b"Password:")
    response = await client.execute_command(base64.b64encode(b"erp secret"))
    assert response.code == 235
    errors, _ = await client.sendmail("erp@shop.example", ["buyer@example.com"], MESSAGE)
    assert errors == {}
    await client.quit()
    trace, _ = split_trace((await sink.handler.wait_for(1))[0].data)
    text = trace.decode()
    assert "\t(using TLSv1." in text and " with cipher " in text
    assert "\t(Authenticated sender: erp)\r\n" in text
    assert " with ESMTPSA id " in text
