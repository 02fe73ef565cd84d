"""The listener's memory budget for message data (gateway/databudget.py, gateway/session.py: GatewaySMTP.smtp_DATA)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from gateway.databudget import DataBudget, declared_size
from gateway.policy.verdict import Action, Verdict
from tests.conftest import GatewayFactory, listener_port, wait_until
from tests.sink import Sink, relayed_unchanged
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


def _body(size: int) -> bytes:
    line = b"y" * 98 + b"\r\n"
    return b"Subject: big\r\n\r\n" + line * (size // len(line))


async def _hold_budget(port: int, declared: int) -> tuple[RawSMTP, bytes]:
    """A client that declared ``declared`` bytes and is part-way through sending them."""
    body = _body(declared - 100)
    client = await _open_transaction(port, declared)
    assert (await client.cmd("DATA"))[0] == 354
    await client.send(body[:1000])
    return client, body


@pytest.mark.parametrize("declare", [False, True])
async def test_data_beyond_the_reservation_waits_for_budget_then_passes(
        gateway_factory: GatewayFactory, sink: Sink, declare: bool) -> None:
    # Undeclared size, or a SIZE far too small: the reservation grows as the data comes in.
    gw = await gateway_factory(server={"data_memory_budget": 200_000, "max_message_size": 150_000,
                                       "data_budget_wait": 5})
    assert gw.listener is not None
    budget = gw.listener.data_budget
    port = listener_port(gw)
    holder, held_body = await _hold_budget(port, 120_000)
    client, _ = await RawSMTP.connect(port)
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example>" + (" SIZE=100" if declare else ""))
    await client.cmd("RCPT TO:<buyer@example.com>")
    assert (await client.cmd("DATA"))[0] == 354
    await client.send(_body(100_000) + b".\r\n")
    await wait_until(lambda: budget.waiting)
    await asyncio.sleep(0.2)
    assert budget.used <= budget.total
    assert sink.messages == []
    await holder.send(held_body[1000:] + b".\r\n")
    assert (await holder.read_reply())[0] == 250
    code, text = await client.read_reply()
    assert code == 250, text
    for c in (holder, client):
        await c.close()
    received = await sink.handler.wait_for(2)
    sent = sorted([_body(100_000), held_body], key=len)
    relayed = sorted((m.data for m in received), key=len)
    assert all(relayed_unchanged(got, want) for got, want in zip(relayed, sent, strict=True))
    assert budget.used == 0


async def test_data_waiting_too_long_for_budget_is_told_421_and_closed(gateway_factory: GatewayFactory,
                                                                       sink: Sink) -> None:
    gw = await gateway_factory(server={"data_memory_budget": 200_000, "max_message_size": 150_000,
                                       "data_budget_wait": 0.5})
    assert gw.listener is not None
    port = listener_port(gw)
    holder, held_body = await _hold_budget(port, 120_000)
    client, _ = await RawSMTP.connect(port)
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    await client.cmd("RCPT TO:<buyer@example.com>")
    assert (await client.cmd("DATA"))[0] == 354
    code, text = 0, ""
    with contextlib.suppress(ConnectionError):
        await client.send(_body(100_000) + b".\r\n")
        code, text = await client.read_reply()
    assert (code, text[4:9]) == (421, "4.3.1"), text
    await client.close()
    await holder.send(held_body[1000:] + b".\r\n")
    assert (await holder.read_reply())[0] == 250
    await holder.close()
    await sink.handler.wait_for(1)
    await wait_until(lambda: gw.listener is not None and gw.listener.data_budget.used == 0)
    assert len(sink.messages) == 1


class SlowPolicy:
    def evaluate(self, raw: bytes, recipients: object, state: object = None) -> Verdict:
        time.sleep(0.4)
        return Verdict(action=Action.RELAY)

    def apply(self, raw: bytes, verdict: Verdict) -> bytes:
        return raw


async def test_command_pipelined_behind_the_data_takes_no_budget(gateway_factory: GatewayFactory,
                                                                 sink: Sink) -> None:
    gw = await gateway_factory(policy=SlowPolicy(), server={"data_memory_budget": 10_000_000})
    assert gw.listener is not None
    budget = gw.listener.data_budget
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example> SIZE=40")
    await client.cmd("RCPT TO:<3vqmzxk4lhl9w1b@marketplace.amazon.de>")
    assert (await client.cmd("DATA"))[0] == 354
    await client.send(b"Subject: s\r\n\r\nbody\r\n.\r\n")
    await asyncio.sleep(0.1)  # the message is being checked now
    await client.send(b"NOOP\r\n" * 300)  # more than the message itself, while it is checked
    await asyncio.sleep(0.1)
    assert budget.used < 1000, budget.used
    assert (await client.read_reply())[0] == 250
    for _ in range(300):
        assert (await client.read_reply())[0] == 250
    assert budget.used == 0
    await client.close()
