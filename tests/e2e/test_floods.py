"""Slow clients and connection floods: the session limit holds, memory stays bounded, and a
well-behaved client still gets through once the slow ones have timed out."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.conftest import GatewayFactory, listener_port, wait_until
from tests.sink import Sink
from tests.smtpclient import RawSMTP

pytestmark = pytest.mark.slow


def rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak_rss() -> None:
    """Start VmHWM afresh (Linux >= 4.0): the peak must be this test's, not an earlier test's in the
    same pytest process."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


async def trickle(port: int, data: bytes, pause: float, stop: asyncio.Event) -> tuple[int, str]:
    """A slowloris client: one byte at a time; returns the reply that ended it (0 = closed)."""
    client, greeting = await RawSMTP.connect(port)
    if greeting[0] != 220:
        await client.close()
        return greeting
    try:
        for byte in data:
            if stop.is_set():
                break
            await client.send(bytes([byte]))
            await asyncio.sleep(pause)
        return await client.read_reply(timeout=10)
    except (ConnectionError, TimeoutError):
        return 0, "closed"
    finally:
        await client.close()


async def flood(port: int, count: int) -> list[int]:
    async def one() -> int:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return -1
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            return int(line[:3]) if line[:3].isdigit() else 0
        except (TimeoutError, ConnectionError):
            return 0
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_slowloris_and_flood_then_a_good_client_gets_through(gateway_factory: GatewayFactory,
                                                                  sink: Sink) -> None:
    limit = 20
    gw = await gateway_factory(server={"max_sessions": limit, "command_timeout": 1.5})
    assert gw.listener is not None
    port = listener_port(gw)
    baseline = rss_mb()
    reset_peak_rss()
    stop = asyncio.Event()
    # Fill every slot with clients that never finish a command.
    slow = [asyncio.create_task(trickle(port, b"EHLO slowly.example\r\n", 0.2, stop)) for _ in range(limit)]
    await wait_until(lambda: gw.listener is not None and gw.listener.active_sessions == limit)
    # A flood on top: extra connections are turned away with 421 at once, none hangs, and the
    # number of open sessions never passes the limit.
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            assert gw.listener is not None
            peak = max(peak, gw.listener.active_sessions)
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    refused = 0
    for _ in range(3):
        codes = await flood(port, 150)
        assert set(codes) <= {421, 220}, set(codes)
        refused += codes.count(421)
    stop.set()
    await watcher
    assert peak <= limit
    assert refused > 300
    # The slow clients are cut off by the command timeout (421 4.4.2), freeing their slots.
    ended = await asyncio.gather(*slow)
    assert all(code in (421, 0) for code, _ in ended), ended
    await wait_until(lambda: gw.listener is not None and gw.listener.active_sessions == 0)
    # A well-behaved client gets through.
    client, greeting = await RawSMTP.connect(port)
    assert greeting[0] == 220
    await client.cmd("EHLO good.example")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    await client.cmd("RCPT TO:<buyer@example.com>")
    await client.cmd("DATA")
    assert (await client.cmd(b"Subject: fine\r\n\r\nhello\r\n."))[0] == 250
    await client.close()
    await sink.handler.wait_for(1)
    # 470 connections later, the process (gateway and test client together) has not grown much.
    assert rss_mb() - baseline < 40, (baseline, rss_mb())
    assert rss_mb("VmHWM") < baseline + 80, (baseline, rss_mb("VmHWM"))


async def test_slow_data_is_cut_off_and_its_memory_budget_returned(gateway_factory: GatewayFactory,
                                                                   sink: Sink) -> None:
    gw = await gateway_factory(server={"data_timeout": 1.0, "data_memory_budget": 100_000})
    assert gw.listener is not None
    port = listener_port(gw)
    client, _ = await RawSMTP.connect(port)
    await client.cmd("EHLO slow.example")
    await client.cmd("MAIL FROM:<seller@shop.example> SIZE=50000")
    await client.cmd("RCPT TO:<buyer@example.com>")
    assert (await client.cmd("DATA"))[0] == 354
    assert gw.listener.data_budget.used > 0
    code = 0
    with contextlib.suppress(ConnectionError):
        for _ in range(40):  # a line every 0.1 s: never finishes within the timeout
            await client.send(b"x" * 70 + b"\r\n")
            await asyncio.sleep(0.1)
    code, text = 0, "closed"
    with contextlib.suppress(ConnectionError):
        code, text = await client.read_reply(timeout=5)
    assert code in (421, 0), text
    await client.close()
    await wait_until(lambda: gw.listener is not None and gw.listener.data_budget.used == 0)
    assert sink.messages == []
