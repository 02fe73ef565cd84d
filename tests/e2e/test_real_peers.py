"""The gateway between the real peers a seller runs beside it (issue 14): a private Postfix as the
sending MTA (relayhost = the gateway) and as the upstream (STARTTLS required), and swaks probes
for each defect Postfix, swaks and smtplib found. See tests/postfix.py for the instances."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path

import aiosmtplib
import pytest

from gateway.app import Gateway
from gateway.auth import hash_password
from tests.conftest import GatewayFactory, listener_port
from tests.postfix import POSTFIX, SWAKS, PostfixInstance, require, run_postfix, swaks
from tests.sink import Sink, split_trace
from tests.tlsutil import CertPair, make_self_signed

StartPostfix = Callable[..., Awaitable[PostfixInstance]]


@pytest.fixture
async def postfix() -> AsyncIterator[StartPostfix]:
    """Starts private Postfix instances for this test; all are stopped at teardown."""
    require(POSTFIX, "postfix")
    stack = contextlib.ExitStack()

    async def start(hostname: str, main: Mapping[str, str] | None = None,
                    smtpd_options: Mapping[str, str] | None = None) -> PostfixInstance:
        manager: contextlib.AbstractContextManager[PostfixInstance] = run_postfix(hostname, main, smtpd_options)
        return await asyncio.to_thread(stack.enter_context, manager)

    try:
        yield start
    finally:
        await asyncio.to_thread(stack.close)


@pytest.fixture
def swaks_tool() -> str:
    return require(SWAKS, "swaks")


def msg(subject: str, body: str = "Hello from the ERP.\r\n", extra: str = "") -> bytes:
    return (f"From: erp@shop.example\r\nTo: buyer@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash(subject))}@shop.example>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
            f"{extra}\r\n{body}").encode()


async def submit(instance: PostfixInstance, data: bytes, sender: str = "erp@shop.example",
                 recipients: tuple[str, ...] = ("buyer@example.com",)) -> None:
    """Hand a message to a Postfix instance's smtpd (as the ERP would to its own MTA)."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=instance.port, start_tls=False,
                             local_hostname="erp.shop.example")
    await client.connect()
    await client.ehlo()
    await client.mail(sender)
    for rcpt in recipients:
        await client.rcpt(rcpt)
    await client.data(data)
    await client.quit()


# -- Postfix as the sending MTA -----------------------------------------------------------------

async def test_postfix_relays_through_the_gateway(gateway: Gateway, sink: Sink,
                                                  postfix: StartPostfix) -> None:
    sender = await postfix("mta.shop.test", {"relayhost": f"[127.0.0.1]:{listener_port(gateway)}"})
    await submit(sender, msg("via postfix"), recipients=("a@example.com", "b@example.com"))
    # Postfix logs what the gateway answered: its queue id, with 2.0.0.
    match = await sender.wait_for_log(r"status=sent \(250 2\.0\.0 Ok: queued as (\w+)\)")
    received = await sink.handler.wait_for(1)
    trace, rest = split_trace(received[0].data)
    assert trace.startswith(b"Received: from mta.shop.test (localhost [127.0.0.1])")
    assert f" id {match.group(1)};".encode() in trace  # several recipients: no "for <...>"
    assert rest.startswith(b"Received: from erp.shop.example")  # Postfix's own hop below ours
    assert sorted(received[0].rcpt_tos) == ["a@example.com", "b@example.com"]


async def test_postfix_bounce_with_null_sender_is_relayed(gateway: Gateway, sink: Sink,
                                                          postfix: StartPostfix) -> None:
    """A DSN (MAIL FROM:<>) relayed by Postfix: refused with 501 5.1.3 before, and lost."""
    sender = await postfix("mta.shop.test", {"relayhost": f"[127.0.0.1]:{listener_port(gateway)}"})
    await submit(sender, msg("Undelivered Mail Returned to Sender"), sender="")
    await sender.wait_for_log(r"from=<>.*\n(?:.*\n)*?.*status=sent \(250 2\.0\.0")
    received = await sink.handler.wait_for(1)
    assert received[0].mail_from in ("", "<>")


async def test_postfix_long_lines_are_accepted_and_relayed_valid(gateway: Gateway, sink: Sink,
                                                                 postfix: StartPostfix) -> None:
    """An HTML line of 5000 octets, sent as is (smtp_line_length_limit = 0): a permanent 500 5.5.2
    before; now accepted and broken so the upstream gets no line over 998 octets."""
    sender = await postfix("mta.shop.test", {
        "relayhost": f"[127.0.0.1]:{listener_port(gateway)}", "smtp_line_length_limit": "0"})
    html = "<p>" + "x" * 5000 + "</p>\r\n"
    await submit(sender, msg("long html", html, "Content-Type: text/html\r\n"))
    await sender.wait_for_log(r"status=sent \(250 2\.0\.0")
    relayed = split_trace((await sink.handler.wait_for(1))[0].data)[1]
    assert max(len(line) for line in relayed.split(b"\r\n")) <= 998
    assert relayed.split(b"\r\n\r\n", 1)[1].replace(b"\r\n ", b"") == html.encode()


# -- Postfix as the upstream (STARTTLS required) ---------------------------------------------------

async def upstream_postfix(postfix: StartPostfix, sink: Sink, root: Path) -> PostfixInstance:
    """Postfix that takes mail only over STARTTLS and passes it on to the test's sink."""
    tls = make_self_signed(root / "upstream-tls")
    for path in (tls.cert_file, tls.key_file):
        await asyncio.to_thread(path.chmod, 0o644)  # read by Postfix's unprivileged smtpd
    instance = await postfix("upstream.test", {
        "relayhost": f"[127.0.0.1]:{sink.port}",
        "smtpd_tls_security_level": "encrypt",
        "smtpd_tls_cert_file": str(tls.cert_file),
        "smtpd_tls_key_file": str(tls.key_file),
        "smtpd_relay_restrictions": "permit_mynetworks, reject",
        "smtp_tls_security_level": "none",
    })
    return instance


async def relay_gateway(gateway_factory: GatewayFactory, upstream: PostfixInstance) -> Gateway:
    return await gateway_factory(use_sink=False, upstream={
        "host": "127.0.0.1", "port": upstream.port, "tls": "starttls", "verify_certificate": False,
        "connect_timeout": 5.0, "command_timeout": 10.0})


@pytest.fixture
def world_readable_tmp() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="gw-upstream-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def test_upstream_postfix_requiring_starttls(gateway_factory: GatewayFactory, sink: Sink,
                                                   postfix: StartPostfix, world_readable_tmp: Path) -> None:
    upstream = await upstream_postfix(postfix, sink, world_readable_tmp)
    gw = await relay_gateway(gateway_factory, upstream)
    errors, reply = await aiosmtplib.send(msg("over starttls"), sender="erp@shop.example",
                                          recipients=["buyer@example.com"], hostname="127.0.0.1",
                                          port=listener_port(gw))
    assert errors == {} and "queued as" in reply
    await upstream.wait_for_log(r"status=sent")
    relayed = (await sink.handler.wait_for(1))[0].data
    # Postfix's Received records that the gateway came over TLS (ESMTPS), then ours follows.
    first = split_trace(relayed)[0]
    assert first.startswith(b"Received: from gateway.test (localhost [127.0.0.1])")
    assert b"by upstream.test (Postfix) with ESMTPS id " in first
    assert b"by gateway.test (Seller Mail Gateway) with ESMTP id " in relayed


async def test_smtputf8_first_message_on_a_fresh_upstream_connection(
        gateway_factory: GatewayFactory, sink: Sink, postfix: StartPostfix,
        world_readable_tmp: Path) -> None:
    upstream = await upstream_postfix(postfix, sink, world_readable_tmp)
    gw = await relay_gateway(gateway_factory, upstream)
    data = "From: käufer@bücher.example\r\nSubject: Grüße\r\nMessage-ID: <u8@bücher.example>\r\n\r\nHallo\r\n"
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener_port(gw))
    await client.connect()
    await client.ehlo()
    await client.sendmail("käufer@bücher.example", ["empfänger@example.com"], data.encode(),
                          mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    await client.quit()
    received = await sink.handler.wait_for(1, timeout=20)
    assert received[0].rcpt_tos == ["empfänger@example.com"]


# -- swaks probes --------------------------------------------------------------------------------

async def test_swaks_null_sender(gateway: Gateway, swaks_tool: str) -> None:
    result = await swaks("-s", f"127.0.0.1:{listener_port(gateway)}", "-f", "<>", "-t", "someone@example.com",
                         "--quit-after", "RCPT")
    assert result.returncode == 0, result.transcript
    assert result.replies_to("MAIL FROM:<>") == ["250 2.1.0 Sender OK"]


@pytest.mark.parametrize("sender", ["postmaster", '"john doe"@shop.example', "user@srv01.firma.local",
                                    "erp@example.test", "root@localhost"])
async def test_swaks_addresses_postfix_accepts(gateway: Gateway, sink: Sink, swaks_tool: str,
                                               sender: str) -> None:
    result = await swaks("-s", f"127.0.0.1:{listener_port(gateway)}", "-f", sender, "-t", sender)
    assert result.returncode == 0, result.transcript
    assert (await sink.handler.wait_for(1))[0].rcpt_tos == [sender]


async def test_swaks_pipelining_and_enhanced_status_codes(gateway: Gateway, sink: Sink, swaks_tool: str) -> None:
    result = await swaks("-s", f"127.0.0.1:{listener_port(gateway)}", "-f", "erp@shop.example",
                         "-t", "a@example.com,b@example.com", "--pipeline")
    assert result.returncode == 0, result.transcript
    ehlo = result.replies_to("EHLO")
    assert "250-PIPELINING" in ehlo and "250-ENHANCEDSTATUSCODES" in ehlo
    assert (await sink.handler.wait_for(1))[0].rcpt_tos == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize("mode", ["normalize", "reject"])
async def test_swaks_bare_lf(gateway_factory: GatewayFactory, sink: Sink, swaks_tool: str, mode: str) -> None:
    """An LF-only ERP: normalised (Postfix 3.9 default) or refused with 550 5.6.0, per config."""
    gw = await gateway_factory(server={"bare_line_endings": mode})
    data = "Subject: lf only\nFrom: erp@shop.example\n\nline one\nline two\r\n.\r\n"
    result = await swaks("-s", f"127.0.0.1:{listener_port(gw)}", "-f", "erp@shop.example",
                         "-t", "buyer@example.com", "--no-data-fixup", "--data", data)
    if mode == "normalize":
        assert result.returncode == 0, result.transcript
        relayed = split_trace((await sink.handler.wait_for(1))[0].data)[1]
        assert relayed.endswith(b"\r\n\r\nline one\r\nline two\r\n")
    else:
        assert "550 5.6.0" in result.transcript
        await asyncio.sleep(0.3)
        assert sink.messages == []


async def test_swaks_auth_login_prompts_and_per_user_lockout(
        gateway_factory: GatewayFactory, tmp_path: Path, cert: CertPair, swaks_tool: str) -> None:
    users = tmp_path / "users"
    users.write_text(f"erp:{hash_password('erp secret')}\noutlook:{hash_password('new')}\n")
    gw = await gateway_factory(server={"allowed_networks": ["192.0.2.0/24"]},
                               tls={"cert_file": str(cert.cert_file), "key_file": str(cert.key_file)},
                               auth={"credentials_file": str(users), "max_failures": 2})
    base = ("-s", f"127.0.0.1:{listener_port(gw)}", "-tls", "-f", "erp@shop.example",
            "-t", "buyer@example.com", "--quit-after", "AUTH")
    for _ in range(2):
        result = await swaks(*base, "--auth", "LOGIN", "--auth-user", "outlook", "--auth-password", "old")
        assert "535 5.7.8" in result.transcript
        # base64 of "Username:" and "Password:", the prompts clients expect
        assert "334 VXNlcm5hbWU6" in result.transcript and "334 UGFzc3dvcmQ6" in result.transcript
    result = await swaks(*base, "--auth", "PLAIN", "--auth-user", "outlook", "--auth-password", "new")
    assert "454 4.7.0" in result.transcript
    result = await swaks(*base, "--auth", "PLAIN", "--auth-user", "erp", "--auth-password", "erp secret")
    assert "235 2.7.0" in result.transcript, result.transcript
