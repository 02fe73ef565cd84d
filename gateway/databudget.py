"""The listener's memory budget for message data, and the SIZE a client declared at MAIL."""

from __future__ import annotations

import asyncio
import collections


class DataBudget:
    """Bytes of message data the listener may hold in memory at once, granted first come first served.

    aiosmtpd reads a whole message into memory before the handler sees it, so with many large
    messages in parallel the process would grow without bound. Each session reserves before DATA and
    gives the bytes back after its reply; a reservation larger than the whole budget is cut to the
    budget, so one message can always pass.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def _grant(self) -> None:
        while self._waiters:
            amount, fut = self._waiters[0]
            if fut.done():
                self._waiters.popleft()
                continue
            if self.used + amount > self.total:
                return  # strict order: a large request is not starved by smaller ones behind it
            self._waiters.popleft()
            self.used += amount
            fut.set_result(None)

    async def reserve(self, amount: int, timeout: float) -> int | None:
        """Reserve up to ``amount`` bytes; the amount reserved, or None when none came in time."""
        amount = max(1, min(amount, self.total))
        if not self._waiters and self.used + amount <= self.total:
            self.used += amount
            return amount
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((amount, fut))
        try:
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError:
            if fut.done() and not fut.cancelled():
                return amount  # granted just as the wait ran out: keep it rather than leak it
            return None
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.release(amount)  # granted just as we were cancelled
            raise
        finally:
            if not fut.done():
                fut.cancel()
            self._grant()  # a cancelled head may have been blocking smaller requests
        return amount

    def release(self, amount: int) -> None:
        self.used = max(0, self.used - amount)
        self._grant()

    @property
    def waiting(self) -> bool:
        return any(not fut.done() for _, fut in self._waiters)


# What DATA reserves when MAIL declared no SIZE; it grows to max_message_size if more arrives.
UNDECLARED_INITIAL = 64 * 1024


def declared_size(mail_options: list[str]) -> int | None:
    """The SIZE= a client declared at MAIL (RFC 1870), if any."""
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return None
