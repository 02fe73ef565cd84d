"""Fresh puts, handed to the delivery service of the same process without a database round trip.

Their ids in arrival order, and (within a memory budget) their content, until the first attempt
is recorded. Each trip to a spool thread costs GIL hand-offs on a busy loop; this saves two per
message (the due-query and the load). The database stays the source of truth: what does not fit
is found by polling (``overflowed`` tells the delivery service to look).
"""

from __future__ import annotations

from collections import deque

from gateway.spool.records import NewMessage, RecipientResult, SpooledMessage

FRESH_MAX_IDS = 100_000
FRESH_MAX_BYTES = 64 * 1024 * 1024


class FreshPuts:
    def __init__(self) -> None:
        self._ids: deque[str] = deque()
        self._messages: dict[str, SpooledMessage] = {}
        self._bytes = 0
        self.overflowed = False

    def add(self, queue_id: str, msg: NewMessage, now: float) -> None:
        if len(self._ids) >= FRESH_MAX_IDS:
            self.overflowed = True  # the delivery service then finds it by polling
            return
        self._ids.append(queue_id)
        if self._bytes + len(msg.data) <= FRESH_MAX_BYTES:
            self._messages[queue_id] = SpooledMessage(
                queue_id, msg.mail_from, msg.data, dict(msg.meta), now, 0, tuple(msg.rcpt_tos),
                tuple(RecipientResult(r, "pending") for r in msg.rcpt_tos), now)
            self._bytes += len(msg.data)

    def take(self, limit: int) -> list[str]:
        """Up to ``limit`` ids of messages put since the last call."""
        out: list[str] = []
        while self._ids and len(out) < limit:
            out.append(self._ids.popleft())
        return out

    def get(self, queue_id: str) -> SpooledMessage | None:
        return self._messages.get(queue_id)

    def forget(self, queue_id: str) -> None:
        cached = self._messages.pop(queue_id, None)
        if cached is not None:
            self._bytes -= len(cached.data)
