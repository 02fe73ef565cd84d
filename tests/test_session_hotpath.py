"""The listener's per-session shortcuts (gateway/session.py, gateway/handler.py): replies written
together where SMTP allows, plain MAIL/RCPT paths parsed without email's tokenizer, aiosmtpd's
per-connection tables built from the hook names only. Each must behave exactly as before."""

from __future__ import annotations

import asyncio
import gc
import random
import weakref
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from gateway.app import Gateway
from gateway.handler import GatewayHandler
from gateway.session import GatewaySMTP
from tests.conftest import GatewayFactory, listener_port, wait_until
from tests.sink import Sink
from tests.smtpclient import RawSMTP
from tests.tlsutil import CertPair


def _session(gw: Gateway) -> GatewaySMTP:
    assert gw.listener is not None
    (session,) = gw.listener.sessions
    return session


class _Writes:
    """What the session's transport is asked to send, one entry per write call (asyncio's
    transport sends each write at once when its buffer is empty: one write, one send)."""

    def __init__(self, session: GatewaySMTP) -> None:
        transport: Any = session.transport
        self.calls: list[bytes] = []
        real = transport.write

        def write(data: bytes) -> None:
            self.calls.append(bytes(data))
            real(data)

        transport.write = write


async def test_multiline_ehlo_reply_is_one_write(gateway: Gateway) -> None:
    client, _ = await RawSMTP.connect(listener_port(gateway))
    writes = _Writes(_session(gateway))
    code, text = await client.cmd("EHLO client.test")
    assert code == 250 and "PIPELINING" in text and "ENHANCEDSTATUSCODES" in text
    assert len(writes.calls) == 1, writes.calls
    assert writes.calls[0].count(b"\r\n") == len(text.splitlines()) >= 5
    await client.close()


async def test_pipelined_commands_get_their_replies_in_one_write(gateway: Gateway, sink: Sink) -> None:
    client, _ = await RawSMTP.connect(listener_port(gateway))
    await client.cmd("EHLO client.test")
    writes = _Writes(_session(gateway))
    await client.send(b"MAIL FROM:<seller@shop.example>\r\nRCPT TO:<a@example.com>\r\n"
                      b"RCPT TO:<b@example.com>\r\nDATA\r\n")
    replies = [await client.read_reply() for _ in range(4)]
    assert [code for code, _ in replies] == [250, 250, 250, 354]
    assert len(writes.calls) == 1, writes.calls
    # Unpipelined, each reply goes out when it is made: the client waits for it.
    code, _ = await client.cmd(b"Subject: hi\r\n\r\nhello\r\n.")
    assert code == 250
    assert (await client.cmd("NOOP"))[0] == 250
    assert len(writes.calls) == 3
    await wait_until(lambda: len(sink.messages) == 1)
    assert sorted(sink.messages[0].rcpt_tos) == ["a@example.com", "b@example.com"]
    await client.close()


async def test_held_replies_are_bounded(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(server={"command_timeout": 30})
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    writes = _Writes(_session(gw))
    await client.send(b"NOOP\r\n" * 1000 + b"QUIT\r\n")
    replies = [await client.read_reply() for _ in range(1001)]
    assert [c for c, _ in replies] == [250] * 1000 + [221]
    # Held while more commands waited, but written in pieces of a few KB, not all at the end.
    assert 1 < len(writes.calls) < 20
    assert max(len(w) for w in writes.calls) <= 4096 + 64
    await client.close()


async def test_starttls_reply_is_never_held(gateway_factory: GatewayFactory, cert: CertPair) -> None:
    """A command pipelined behind STARTTLS must not hold the 220 (RFC 3207: the client waits for it)."""
    gw = await gateway_factory(tls={"cert_file": str(cert.cert_file), "key_file": str(cert.key_file)})
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    await client.send(b"STARTTLS\r\nNOOP\r\n")
    code, _ = await client.read_reply()
    assert code == 220
    await client.close()


def _plain_cases() -> list[str]:
    cases = ["<a@b>", "<a@b> SIZE=1", "<a@b>  SIZE=1 ", "<a@b>\tX", "<a@b>(c) X", "<a@b>(c)", "<a.b@c.d>",
             "<a..b@c>", "<.a@b>", "<a@b.>", "<a@-b>", '<"q x"@b>', "<a@[1.2.3.4]>", "<>", "<> SIZE=2", "<a@b>X",
             "<a@b>>", "<A+tag@Example.COM> BODY=8BITMIME", "<postmaster>", "<a@b", " <a@b>", "<a b@c>",
             "<a@b c>", "<ä@b>", "<a@bü.de>", "<a@b-c.d-e>", "<a@b> ", "<@x:a@b>", "<a@b> (comment)",
             "<{x}|~@y>", "<a@b>,", "<a@b>;x", "a@b", "a@b SIZE=3", ""]
    rnd = random.Random(17)
    alphabet = "ab.@<> (\t\"x-_[]1ü"
    cases += ["<" + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 14))) for _ in range(3000)]
    return cases


async def test_plain_paths_parse_as_aiosmtpd_parses_them(gateway: Gateway) -> None:
    assert gateway.listener is not None
    session = GatewaySMTP(gateway.listener.handler, gateway.listener)
    for arg in _plain_cases():
        try:
            want: Any = SMTP._getaddr(session, arg)
        except Exception as exc:
            want = type(exc)
        try:
            got: Any = session._getaddr(arg)
        except Exception as exc:
            got = type(exc)
        assert got == want, arg


@pytest.mark.parametrize("limit", [0, 3])
async def test_local_part_limit_still_applies(gateway: Gateway, limit: int) -> None:
    assert gateway.listener is not None
    session = GatewaySMTP(gateway.listener.handler, gateway.listener)
    session.local_part_limit = limit
    assert session._getaddr("<abcd@example.com>") == (SMTP._getaddr(session, "<abcd@example.com>"))


async def test_hook_tables_are_aiosmtpds(gateway: Gateway) -> None:
    """aiosmtpd's command, hook and AUTH tables list what they list without the __dir__ shortcut."""
    assert gateway.listener is not None
    handler = gateway.listener.handler
    session = GatewaySMTP(handler, gateway.listener)
    commands = {n.replace("smtp_", "") for n in object.__dir__(session) if n.startswith("smtp_")}
    assert set(session._smtp_methods) == commands >= {"EHLO", "MAIL", "RCPT", "DATA", "QUIT", "STARTTLS", "AUTH"}
    hooks = {n.replace("handle_", "") for n in object.__dir__(handler) if n.startswith("handle_")}
    assert set(session._handle_hooks) == hooks >= {"EHLO", "MAIL", "RCPT", "DATA", "AUTH", "PROXY"}
    assert session._ehlo_hook_ver == "new"
    # The same tables as aiosmtpd's own __init__ builds for this handler (on its own protocol
    # class, which lists every attribute), methods bound to this session and this handler.
    for excluded in ([], ["PLAIN", "LOGIN"]):
        theirs = SMTP(handler, loop=asyncio.get_running_loop(), auth_exclude_mechanism=excluded)
        ours = GatewaySMTP(handler, gateway.listener, auth_exclude_mechanism=excluded)
        assert ours.event_handler is handler
        assert ({k: (v.method.__func__, v.method.__self__, v.is_builtin) for k, v in ours._auth_methods.items()}
                == {k: (v.method.__func__, handler if v.method.__self__ is handler else ours, v.is_builtin)
                    for k, v in theirs._auth_methods.items()})
        assert ours._handle_hooks == theirs._handle_hooks
        assert ours._ehlo_hook_ver == theirs._ehlo_hook_ver
        assert all(m.__self__ is ours for m in ours._smtp_methods.values())
        assert set(ours._smtp_methods) == set(theirs._smtp_methods)
    # A hook set on one handler object is found too.

    async def handle_NOOP(*args: Any) -> str:
        return "250 2.0.0 noop seen"

    other = GatewayHandler(gateway.config, gateway.listener.handler.processor, None)
    other.handle_NOOP = handle_NOOP  # type: ignore[attr-defined]
    assert "NOOP" in GatewaySMTP(other, gateway.listener)._handle_hooks
    await asyncio.sleep(0)


@pytest.mark.parametrize("ending", ["message-then-quit", "close-at-once", "close-mid-transaction"])
async def test_an_ended_session_is_freed_without_the_cycle_collector(gateway: Gateway, sink: Sink,
                                                                     ending: str) -> None:
    """A session that ended leaves no reference cycle behind (aiosmtpd's bound-method tables, its
    cancelled task's frames): it is freed at once, not in a collector pause."""
    assert gateway.listener is not None
    listener = gateway.listener
    gc.collect()
    gc.disable()
    try:
        client, _ = await RawSMTP.connect(listener_port(gateway))
        await wait_until(lambda: len(listener.sessions) == 1)
        ref = weakref.ref(next(iter(listener.sessions)))
        if ending == "message-then-quit":
            await client.cmd("EHLO client.test")
            await client.cmd("MAIL FROM:<seller@shop.example>")
            await client.cmd("RCPT TO:<buyer@example.com>")
            await client.cmd("DATA")
            assert (await client.cmd(b"Subject: hi\r\n\r\nhello\r\n."))[0] == 250
            assert (await client.cmd("QUIT"))[0] == 221
        elif ending == "close-mid-transaction":
            await client.cmd("EHLO client.test")
            await client.cmd("MAIL FROM:<seller@shop.example>")
        await client.close()
        await wait_until(lambda: not listener.sessions and listener.active_sessions == 0)
        for _ in range(5):
            await asyncio.sleep(0.01)
        assert ref() is None, gc.get_referrers(ref())
    finally:
        gc.enable()
