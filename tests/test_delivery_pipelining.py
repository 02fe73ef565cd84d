"""Delivery to an upstream that offers PIPELINING (RFC 2920), against a strict upstream on loopback.

The upstream here holds its replies to RSET, MAIL and RCPT until the group's DATA has arrived,
then answers them all at once, as a pipelining server may: a client that waits for each reply
before sending the next command never gets one (its attempt times out and stays pending).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.config import UpstreamConfig
from gateway.spool import Spool
from tests.test_delivery import BUYER, SENDER, drained, fast_delivery, message, running, wait_until

OTHER = "second@marketplace.example"


@dataclass
class StrictUpstream:
    rcpt_replies: dict[str, bytes] = field(default_factory=dict)
    mail_reply: bytes = b"250 2.1.0 ok"
    # Session number (1-based) -> transactions it completes; it drops the connection unanswered
    # at the DATA of the next one.
    drop_after: dict[int, int] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    sessions: int = 0
    port: int = 0
    server: asyncio.Server | None = None

    async def start(self) -> StrictUpstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        session = self.sessions
        writer.write(b"220 strict.test ESMTP\r\n")
        held: list[bytes] = []
        completed = 0
        mail_from: str | None = None
        rcpts: list[str] = []
        try:
            while line := await reader.readline():
                verb = line[:4].upper().decode()
                self.commands.append(verb)
                arg = line[line.find(b"<") + 1:line.rfind(b">")].decode() if b"<" in line else ""
                if verb == "EHLO":
                    writer.write(b"250-strict.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10000000\r\n")
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    held.append(b"250 2.0.0 reset")
                elif verb == "MAIL":
                    held.append(self.mail_reply)
                    if self.mail_reply.startswith(b"2"):
                        mail_from = arg
                elif verb == "RCPT":
                    if mail_from is None:
                        held.append(b"503 5.5.1 need MAIL first")
                        continue
                    reply = self.rcpt_replies.get(arg, b"250 2.1.5 ok")
                    held.append(reply)
                    if reply.startswith(b"2"):
                        rcpts.append(arg)
                elif verb == "DATA":
                    if self.drop_after.get(session) == completed:
                        writer.close()
                        return
                    if mail_from is None or not rcpts:
                        writer.write(b"".join(r + b"\r\n" for r in [*held, b"554 5.5.1 no valid recipients"]))
                        held = []
                        continue
                    writer.write(b"".join(r + b"\r\n" for r in [*held, b"354 go ahead"]))
                    held = []
                    lines = []
                    while (body := await reader.readline()) != b".\r\n":
                        assert body, "connection closed inside DATA"
                        lines.append(body[1:] if body.startswith(b"..") else body)
                    self.messages.append((mail_from, rcpts, b"".join(lines)))
                    completed += 1
                    mail_from, rcpts = None, []
                    writer.write(b"250 2.0.0 queued\r\n")
                elif verb == "QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    break
                else:
                    writer.write(b"500 5.5.2 what\r\n")
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def upstream() -> AsyncIterator[StrictUpstream]:
    up = await StrictUpstream().start()
    yield up
    await up.stop()


@pytest.fixture
async def spool(tmp_path: Path) -> AsyncIterator[Spool]:
    sp = await Spool.open(tmp_path / "spool")
    yield sp
    await sp.close()


def config(up: StrictUpstream) -> UpstreamConfig:
    return UpstreamConfig(host="127.0.0.1", port=up.port, tls="none", connect_timeout=2.0,
                          command_timeout=2.0, pool_size=1, helo_name="gw.test")


async def test_envelope_goes_out_as_one_group_and_content_arrives_byte_exact(
        spool: Spool, upstream: StrictUpstream) -> None:
    sent = [message(f"Order {i}", body=".dot at the start\r\n..two dots\r\nend") for i in range(5)]
    async with running(spool, config(upstream), fast_delivery(workers=1)) as service:
        ids = [await spool.put(SENDER, [BUYER, OTHER], data) for data in sent]
        service.notify()
        await wait_until(lambda: drained(spool))
    assert [m[2] for m in upstream.messages] == sent
    assert all(m[:2] == (SENDER, [BUYER, OTHER]) for m in upstream.messages)
    for qid in ids:
        info = await spool.info(qid)
        assert info is not None and info.attempts == 1 and info.state == "done"
    # One connection; a new MAIL right after each completed transaction, never an RSET.
    assert upstream.sessions == 1
    assert upstream.commands == ["EHLO"] + ["MAIL", "RCPT", "RCPT", "DATA"] * 5 + ["QUIT"]


async def test_refused_recipients_get_their_own_reply_and_rset_rides_with_the_next_group(
        spool: Spool, upstream: StrictUpstream) -> None:
    upstream.rcpt_replies = {"gone@marketplace.example": b"550 5.1.1 no such user",
                             "later@marketplace.example": b"450 4.2.1 try later"}
    delivery = fast_delivery(workers=1, send_dsn=False, retry_initial=30.0, retry_max=60.0)
    async with running(spool, config(upstream), delivery) as service:
        partial = await spool.put(SENDER, [BUYER, "gone@marketplace.example", "later@marketplace.example"],
                                  message("Partial"))
        service.notify()
        await wait_until(lambda: spool_attempts(spool, partial, 1))
        refused = await spool.put(SENDER, ["gone@marketplace.example"], message("Refused"))
        service.notify()
        await wait_until(lambda: spool_attempts(spool, refused, 1))
        after = await spool.put(SENDER, [BUYER], message("After"))
        service.notify()
        await wait_until(lambda: spool_attempts(spool, after, 1))
    info = await spool.info(partial)
    assert info is not None
    assert [(r.address, r.state, r.code) for r in info.recipients] == [
        (BUYER, "delivered", 250), ("gone@marketplace.example", "failed", 550),
        ("later@marketplace.example", "pending", 450)]
    info = await spool.info(refused)
    assert info is not None and info.state == "done"
    assert [(r.state, r.code) for r in info.recipients] == [("failed", 550)]
    assert [m[2] for m in upstream.messages] == [message("Partial"), message("After")]
    # The refused one's DATA got 554 (no valid recipients): its transaction did not complete.
    assert upstream.commands == ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "DATA", "MAIL", "RCPT", "DATA",
                                 "RSET", "MAIL", "RCPT", "DATA", "QUIT"]


async def test_refused_sender_is_every_recipients_reply(spool: Spool, upstream: StrictUpstream) -> None:
    upstream.mail_reply = b"451 4.7.1 sender rate limited"
    delivery = fast_delivery(workers=1, retry_initial=30.0, retry_max=60.0)
    async with running(spool, config(upstream), delivery) as service:
        qid = await spool.put(SENDER, [BUYER, OTHER], message("Limited"))
        service.notify()
        await wait_until(lambda: spool_attempts(spool, qid, 1))
    info = await spool.info(qid)
    assert info is not None and info.state == "pending"
    assert [(r.state, r.code, r.reply) for r in info.recipients] == [
        ("pending", 451, "4.7.1 sender rate limited")] * 2
    assert upstream.messages == []


async def test_connection_dead_before_any_reply_is_retried_at_once_on_a_new_one(
        spool: Spool, upstream: StrictUpstream) -> None:
    # The first session takes one message, then dies while the second one's group is on its way
    # (an upstream restart): nothing of that transaction was answered, so it goes out again on a
    # new connection in the same attempt instead of waiting for a retry.
    upstream.drop_after = {1: 1}
    delivery = fast_delivery(workers=1, retry_initial=30.0, retry_max=60.0)
    async with running(spool, config(upstream), delivery) as service:
        first = await spool.put(SENDER, [BUYER], message("First"))
        service.notify()
        await wait_until(lambda: drained(spool))
        second = await spool.put(SENDER, [BUYER], message("Second"))
        service.notify()
        await wait_until(lambda: drained(spool))
    for qid in (first, second):
        info = await spool.info(qid)
        assert info is not None and info.attempts == 1 and info.state == "done"
    assert upstream.sessions == 2
    assert [m[2] for m in upstream.messages] == [message("First"), message("Second")]


async def test_new_connection_dead_before_any_reply_is_a_temporary_failure_not_a_loop(
        spool: Spool, upstream: StrictUpstream) -> None:
    upstream.drop_after = {1: 0}  # the first session drops at the first DATA, unanswered
    delivery = fast_delivery(workers=1, retry_initial=30.0, retry_max=60.0)
    async with running(spool, config(upstream), delivery) as service:
        qid = await spool.put(SENDER, [BUYER], message("Dropped"))
        service.notify()
        await wait_until(lambda: spool_attempts(spool, qid, 1))
    info = await spool.info(qid)
    assert info is not None and info.state == "pending" and info.attempts == 1
    assert (info.recipients[0].code, (info.recipients[0].reply or "")[:5]) == (None, "4.4.2")
    assert upstream.sessions == 1  # not tried again at once: only a reused connection is
    assert upstream.messages == []


async def spool_attempts(spool: Spool, queue_id: str, count: int) -> bool:
    info = await spool.info(queue_id)
    return info is not None and info.attempts >= count
