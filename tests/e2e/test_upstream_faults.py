"""Upstream trouble end to end: down, stalled, 4xx, then 5xx, behind a real listener.

Clients are answered from the durable spool, so whatever the upstream does they hear back quickly;
temporary trouble is retried with growing pauses until the upstream recovers, and only a permanent
refusal produces a DSN. The end-of-DATA work itself is bounded: a stuck step answers 451, it never
lets aiosmtpd's timer drop the client silently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.classify import MarketplaceRecipient
from gateway.policy.verdict import Action, Verdict
from tests.conftest import GatewayFactory, listener_port, make_config
from tests.sink import Sink, split_trace
from tests.smtpclient import RawSMTP

pytestmark = pytest.mark.slow


async def send(port: int, subject: str, rcpt: str = "buyer@example.com") -> tuple[int, str, float]:
    started = time.monotonic()
    client, _ = await RawSMTP.connect(port)
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    await client.cmd(f"RCPT TO:<{rcpt}>")
    await client.cmd("DATA")
    code, text = await client.cmd(f"Subject: {subject}\r\nFrom: seller@shop.example\r\n\r\nbody\r\n.".encode())
    await client.cmd("QUIT")
    await client.close()
    return code, text, time.monotonic() - started


def queue_id(reply: str) -> str:
    return reply.rsplit(" ", 1)[-1]


async def attempts_of(gw: Gateway, qid: str) -> int:
    assert gw.spool is not None
    info = await gw.spool.info(qid)
    assert info is not None
    return info.attempts


async def test_down_stalled_4xx_then_recovered_loses_nothing(gateway_factory: GatewayFactory,
                                                             sink: Sink) -> None:
    gw = await gateway_factory(upstream={"command_timeout": 0.5, "connect_timeout": 0.5},
                               delivery={"retry_initial": 0.1, "retry_max": 0.8, "retry_factor": 2.0,
                                         "poll_interval": 0.05})
    port = listener_port(gw)
    upstream_port = sink.port
    sent: list[str] = []

    # 1. Upstream down: the client still gets its 250 at once; delivery keeps trying.
    await sink.stop()
    for i in range(3):
        code, text, took = await send(port, f"down-{i}")
        assert code == 250 and took < 2.0, (code, text, took)
        sent.append(queue_id(text))
    await asyncio.sleep(1.5)
    tries = [await attempts_of(gw, q) for q in sent]
    # Backoff 0.1, 0.2, 0.4, 0.8, 0.8 ...: in 1.5 s a handful of attempts, not hundreds.
    assert all(2 <= t <= 8 for t in tries), tries

    # 2. Upstream back but stalling past the gateway's command timeout (then answering 451).
    await sink.start(port=upstream_port)
    sink.behaviour.stall_seconds = 1.5
    sink.behaviour.data_reply = "451 4.3.0 too slow anyway"
    code, text, took = await send(port, "stalled")
    assert code == 250 and took < 2.0
    sent.append(queue_id(text))
    await asyncio.sleep(1.5)
    assert sink.messages == []

    # 3. Upstream answering 4xx: retried, still no DSN.
    sink.behaviour.stall_seconds = 0.0
    sink.behaviour.data_reply = "451 4.7.1 greylisted, try later"
    code, text, _ = await send(port, "greylisted")
    sent.append(queue_id(text))
    await asyncio.sleep(1.0)
    assert sink.messages == []
    tries = [await attempts_of(gw, q) for q in sent]
    assert all(t >= 2 for t in tries), tries

    # 4. Recovery: every acknowledged message arrives exactly once, no DSN was sent.
    sink.behaviour.data_reply = None
    received = await sink.handler.wait_for(len(sent), timeout=15)
    await asyncio.sleep(0.5)
    subjects = sorted(split_trace(m.data)[1].split(b"\r\n", 1)[0].decode() for m in received)
    assert subjects == sorted(["Subject: down-0", "Subject: down-1", "Subject: down-2",
                               "Subject: stalled", "Subject: greylisted"])
    assert all(m.mail_from == "seller@shop.example" for m in received)


async def test_permanent_refusal_gives_one_dsn_and_nothing_else(gateway_factory: GatewayFactory,
                                                                sink: Sink) -> None:
    gw = await gateway_factory()
    sink.behaviour.rcpt_replies["gone@example.com"] = "550 5.1.1 <gone@example.com>: no such user"
    code, _, _ = await send(listener_port(gw), "to a dead mailbox", rcpt="gone@example.com")
    assert code == 250
    received = await sink.handler.wait_for(1)
    await asyncio.sleep(1.0)  # a second DSN or a retry would show up by now
    assert len(received) == 1
    dsn = received[0]
    assert dsn.mail_from in ("", "<>") and dsn.rcpt_tos == ["seller@shop.example"]
    assert b"gone@example.com" in dsn.data and b"5.1.1" in dsn.data
    assert sink.handler.commands.count("DATA") == 1  # the refused message was never retried


class StuckPolicy:
    """A policy step that never finishes in time."""

    def evaluate(self, raw: bytes, recipients: Sequence[MarketplaceRecipient], state: object = None) -> Verdict:
        time.sleep(1.5)
        return Verdict(action=Action.RELAY)

    def apply(self, raw: bytes, verdict: Verdict) -> bytes:
        return raw


@pytest.mark.parametrize("bound", ["policy", "data"])
async def test_stuck_end_of_data_answers_451_not_a_disconnect(tmp_path: Path, sink: Sink, bound: str) -> None:
    config = make_config(tmp_path, sink.port,
                         policy={"evaluation_timeout": 0.3 if bound == "policy" else 30},
                         server={"data_timeout": 0.3 if bound == "data" else 30})
    gw = Gateway(config, policy=StuckPolicy())
    await gw.start()
    try:
        code, text, took = await send(listener_port(gw), "stuck", rcpt="3vqmzxk4lhl9w1b@marketplace.amazon.de")
        assert (code, text[4:9]) == (451, "4.3.0"), text
        assert took < 1.5
        await asyncio.sleep(1.5)
        assert sink.messages == []
    finally:
        await gw.stop(grace=2.0)
