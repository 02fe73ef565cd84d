"""One attempt against a real recording upstream: capabilities on a fresh connection, timeouts, stalls.

Each test here failed before its fix (issue 14 item 2; issue 16 items 3 and 4).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.spool import Spool
from tests.sink import Sink
from tests.test_delivery import (
    BUYER,
    SENDER,
    drained,
    fast_delivery,
    message,
    running,
    upstream_for,
    wait_until,
)


@pytest.fixture
async def spool(tmp_path: Path) -> AsyncIterator[Spool]:
    sp = await Spool.open(tmp_path / "spool")
    yield sp
    await sp.close()


async def test_fresh_connection_sends_ehlo_before_reading_capabilities(spool: Spool, sink: Sink) -> None:
    # tls="none": aiosmtplib's connect() sends no EHLO, so capabilities read right after it were
    # empty and the first message of a connection went out without SMTPUTF8, 8BITMIME and SIZE.
    utf8_sender = "verkäufer@shop.example"
    data = "From: x@shop.example\r\nSubject: Grüße\r\n\r\nSchöne Grüße\r\n".encode()
    async with running(spool, upstream_for(sink)) as service:
        await spool.put(utf8_sender, [BUYER], data)
        service.notify()
        received = await sink.handler.wait_for(1)
        await wait_until(lambda: drained(spool))
    assert received[0].mail_from == utf8_sender
    options = [o.upper() for o in received[0].mail_options]
    assert "SMTPUTF8" in options
    assert "BODY=8BITMIME" in options
    assert f"SIZE={len(data)}" in options
    assert sink.handler.commands[0] == "EHLO"


async def test_ascii_message_on_fresh_connection_declares_its_size(spool: Spool, sink: Sink) -> None:
    data = message()
    async with running(spool, upstream_for(sink)) as service:
        await spool.put(SENDER, [BUYER], data)
        service.notify()
        received = await sink.handler.wait_for(1)
    options = [o.upper() for o in received[0].mail_options]
    assert f"SIZE={len(data)}" in options
    assert not any(o.startswith("BODY=") for o in options)  # 7-bit content declares nothing


async def test_slow_final_dot_reply_is_waited_for_not_resent(spool: Spool, sink: Sink) -> None:
    # The upstream stores the message, then takes longer than the command timeout to say 250
    # (RFC 5321 4.5.3.2.6: wait up to 10 minutes for it). Giving up at the command timeout
    # meant a retry, and one copy more per retry.
    sink.behaviour.stall_seconds = 1.5
    upstream = upstream_for(sink, command_timeout=0.5)
    async with running(spool, upstream) as service:
        qid = await spool.put(SENDER, [BUYER], message("Slow dot"))
        service.notify()
        await sink.handler.wait_for(1)
        await wait_until(lambda: drained(spool), limit=10)
        await asyncio.sleep(0.8)  # a retry would have been made by now (retry_initial 0.05)
        info = await spool.info(qid)
    assert len(sink.messages) == 1
    assert info is not None and info.attempts == 1
    assert info.recipients[0].state == "delivered"


async def test_stalled_upstream_transactions_do_not_hold_up_other_mail(tmp_path: Path, sink: Sink) -> None:
    # Twice as many stalled transactions as workers used to stop all delivery for the stall's
    # length: here 4 stalls of 20 s with 2 workers and 2 pooled connections.
    sink.behaviour.stall_for = lambda data: 20.0 if b"Subject: stall" in data else 0.0
    spool = await Spool.open(tmp_path / "spool")
    upstream = upstream_for(sink, command_timeout=30.0, data_timeout=30.0, pool_size=2)
    try:
        async with running(spool, upstream, fast_delivery(workers=2, stall_after=0.3)) as service:
            for i in range(4):
                await spool.put(SENDER, [BUYER], message(f"stall {i}"))
            service.notify()
            await asyncio.sleep(0.2)  # the stalls are on the wire first
            for i in range(6):
                await spool.put(SENDER, [BUYER], message(f"normal {i}"))
            service.notify()
            # Well inside the 20 s the stalls take.
            received = await sink.handler.wait_for(6, timeout=10.0)
            assert sorted(m.data.split(b"Subject: ")[1][:8] for m in received) == [
                f"normal {i}".encode() for i in range(6)]
            assert service.parked == 4
            # stop() gives the parked attempts its grace, then cancels them; they stay pending.
            await service.stop(timeout=0.5)
        assert await spool.depth() == 4
    finally:
        await spool.close()
