"""A real SMTP upstream for tests: aiosmtpd on a loopback port, recording what it receives.

It can be told to accept, answer a temporary or permanent failure, drop the connection, or stall,
per message and per recipient. It records commands as well as messages, as aiosmtplib's own test
server does, so tests can assert on RSET between pooled messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: Any
    mail_options: list[str] = field(default_factory=list)


@dataclass
class SinkBehaviour:
    """What the sink answers. ``data_reply`` None means 250."""

    data_reply: str | None = None
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    mail_reply: str | None = None
    drop_on_data: bool = False
    stall_seconds: float = 0.0
    # Per message: seconds to stall at the final dot (say, by subject), then store and answer.
    stall_for: Callable[[bytes], float] | None = None


class RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[ReceivedMessage] = []
        self.commands: list[str] = []
        self.behaviour = SinkBehaviour()
        self.received = asyncio.Event()
        self.sessions = 0
        self.pipelining = False  # offer PIPELINING (RFC 2920) in the EHLO reply

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        self.commands.append("EHLO")
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads pipelined commands in order; it just does not say so
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        self.commands.append("MAIL")
        if self.behaviour.mail_reply:
            return self.behaviour.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        self.commands.append("RCPT")
        reply = self.behaviour.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.commands.append("RSET")
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.commands.append("DATA")
        b = self.behaviour
        if b.stall_seconds:
            await asyncio.sleep(b.stall_seconds)
        if b.stall_for is not None:
            await asyncio.sleep(b.stall_for(envelope.original_content or b""))
        if b.drop_on_data:
            assert server.transport is not None
            server.transport.close()
            return "421 4.3.0 dropped"
        if b.data_reply:
            return b.data_reply
        content = envelope.original_content or b""
        self.messages.append(ReceivedMessage(envelope.mail_from or "", list(envelope.rcpt_tos),
                                             bytes(content), session.peer, list(envelope.mail_options)))
        self.received.set()
        return "250 2.0.0 OK queued"

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self.received.clear()
                await self.received.wait()
        return self.messages


class Sink:
    """An upstream server on 127.0.0.1 with an ephemeral port."""

    def __init__(self, factory: Callable[[RecordingHandler], SMTP] | None = None,
                 ssl: SSLContext | None = None, pipelining: bool = False) -> None:
        self.handler = RecordingHandler()
        self.handler.pipelining = pipelining
        self._ssl = ssl  # implicit TLS (port 465 style) when set
        self._factory = factory or (lambda h: SMTP(h, hostname="sink.test", enable_SMTPUTF8=True,
                                                   data_size_limit=64 * 1024 * 1024))
        self.server: asyncio.Server | None = None
        self.port = 0
        self._protocols: list[SMTP] = []

    def _make(self) -> SMTP:
        proto = self._factory(self.handler)
        self._protocols.append(proto)
        self.handler.sessions += 1
        return proto

    async def start(self, port: int = 0) -> Sink:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._make, "127.0.0.1", port, ssl=self._ssl)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            # Python 3.11's Server.close() leaves accepted connections open: close them too,
            # so a stopped sink really is down for pooled clients.
            for proto in self._protocols:
                if proto.transport is not None:
                    proto.transport.close()
            self._protocols.clear()
            await self.server.wait_closed()
            self.server = None

    @property
    def messages(self) -> list[ReceivedMessage]:
        return self.handler.messages

    @property
    def behaviour(self) -> SinkBehaviour:
        return self.handler.behaviour


def split_trace(relayed: bytes) -> tuple[bytes, bytes]:
    """The gateway's Received header (first, with its continuation lines) and the rest."""
    assert relayed.startswith(b"Received: from "), relayed[:200]
    pos = relayed.index(b"\r\n") + 2
    while relayed[pos:pos + 1] in (b"\t", b" "):
        pos = relayed.index(b"\r\n", pos) + 2
    return relayed[:pos], relayed[pos:]


def added_headers(relayed: bytes, sent: bytes) -> bytes:
    """What the gateway added to ``sent`` besides its Received header: the Message-ID and Date
    lines it inserts at the end of the header block. Asserts that nothing else changed."""
    _received, rest = split_trace(relayed)
    if rest == sent:
        return b""
    cut = sent.find(b"\r\n\r\n")
    head, tail = (sent[:cut + 2], sent[cut + 2:]) if cut >= 0 else (sent, b"")
    assert rest.startswith(head) and rest.endswith(tail), (rest[:300], sent[:300])
    middle = rest[len(head):len(rest) - len(tail)]
    assert middle and all(line.startswith((b"Message-ID: ", b"Date: "))
                          for line in middle.split(b"\r\n")[:-1]), middle
    return middle


def relayed_unchanged(relayed: bytes, sent: bytes) -> bool:
    """True when ``relayed`` is ``sent`` plus only the headers the gateway adds."""
    added_headers(relayed, sent)
    return True
