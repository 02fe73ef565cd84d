"""The listener's memory budget for message data (gateway/server.py: DataBudget, GatewaySMTP.smtp_DATA)."""

from __future__ import annotations

import asyncio
import time

from gateway.server import DataBudget, declared_size
from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink
from tests.smtpclient import RawSMTP


def test_declared_size() -> None:
    assert declared_size(["BODY=8BITMIME", "SIZE=1234"]) == 1234
    assert declared_size(["size=99"]) == 99
    assert declared_size(["SIZE=abc"]) is None
    assert declared_size([]) is None


async def test_reserve_waits_for_release_in_order() -> None:
    budget = DataBudget(100)
    assert await budget.reserve(60, timeout=1) == 60
    big = asyncio.create_task(budget.reserve(70, timeout=5))
    await asyncio.sleep(0.01)
    small = asyncio.create_task(budget.reserve(10, timeout=5))
    await asyncio.sleep(0.01)
    # The small one would fit, but it queues behind the big one (no starvation of large messages).
    assert not big.done() and not small.done()
    budget.release(60)
    assert await big == 70
    assert await small == 10
    assert budget.used == 80


async def test_reserve_times_out_and_oversize_is_cut_to_the_budget() -> None:
    budget = DataBudget(100)
    assert await budget.reserve(500, timeout=1) == 100  # one message can always pass
    started = time.monotonic()
    assert await budget.reserve(1, timeout=0.1) is None
    assert time.monotonic() - started < 1
    budget.release(100)
    assert budget.used == 0
    assert not budget._waiters


async def test_cancelled_waiter_does_not_block_others() -> None:
    budget = DataBudget(100)
    await budget.reserve(90, timeout=1)
    blocked = asyncio.create_task(budget.reserve(50, timeout=5))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(budget.reserve(10, timeout=5))
    await asyncio.sleep(0.01)
    blocked.cancel()
    assert await waiting == 10
    assert budget.used == 100


async def _open_transaction(port: int, size: int) -> RawSMTP:
    client, _ = await RawSMTP.connect(port)
    await client.cmd("EHLO client.test")
    assert (await client.cmd(f"MAIL FROM:<seller@shop.example> SIZE={size}"))[0] == 250
    assert (await client.cmd("RCPT TO:<buyer@example.com>"))[0] == 250
    return client


async def test_over_budget_data_gets_452_then_passes_on_retry(gateway_factory: GatewayFactory,
                                                              sink: Sink) -> None:
    gw = await gateway_factory(server={"data_memory_budget": 40_000, "data_budget_wait": 0.3})
    port = listener_port(gw)
    body = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 400  # about 29 KB
    first = await _open_transaction(port, len(body))
    assert (await first.cmd("DATA"))[0] == 354
    await first.send(body[:10_000])  # still sending: its reservation is held
    second = await _open_transaction(port, len(body))
    code, text = await second.cmd("DATA")
    assert (code, text[4:9]) == (452, "4.3.1"), text
    await first.send(body[10_000:])
    code, _ = await first.cmd(".")
    assert code == 250
    # The budget is back: the refused client's retry goes through, in the same session.
    assert (await second.cmd("RSET"))[0] == 250
    await second.cmd(f"MAIL FROM:<seller@shop.example> SIZE={len(body)}")
    await second.cmd("RCPT TO:<buyer@example.com>")
    assert (await second.cmd("DATA"))[0] == 354
    assert (await second.cmd(body + b"."))[0] == 250
    for c in (first, second):
        await c.close()
    await sink.handler.wait_for(2)
    assert gw.listener is not None and gw.listener.data_budget.used == 0
