"""What the memory benches share: a reading (RSS) sampled while a workload runs, and the wait until the
sink has every message the gateway accepted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol


class Counting(Protocol):
    async def count(self) -> int: ...


@asynccontextmanager
async def sampled(read: Callable[[], float], interval: float) -> AsyncIterator[list[float]]:
    """``read()`` every ``interval`` seconds until the block ends; the list fills as it runs."""
    samples: list[float] = []
    done = asyncio.Event()

    async def loop() -> None:
        while not done.is_set():
            samples.append(read())
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop())
    try:
        yield samples
    finally:
        done.set()
        await task


async def until_delivered(sink: Counting, count: int, *, since: float, limit: float, poll: float) -> float:
    """Seconds from ``since`` (a ``time.monotonic()`` reading) until the sink holds ``count`` messages,
    or until ``limit`` seconds from ``since`` have passed."""
    while await sink.count() < count and time.monotonic() - since < limit:
        await asyncio.sleep(poll)
    return time.monotonic() - since
