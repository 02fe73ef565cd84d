"""A limit on failed logins that one bad client cannot turn against everyone else behind its address.

Failures are counted in a sliding window at three levels, in the spirit of Postfix's anvil and
Dovecot's auth penalty:

- per (peer, user): an Outlook with a stale password locks out only its own user from that peer;
  the ERP behind the same NAT, logging in as another user, goes on working;
- per peer, with a higher ceiling: a client trying many user names (mostly unknown ones) is
  stopped even though no single (peer, user) pair reaches its limit;
- in total, over all peers: a ceiling for guessing spread over many addresses. Reaching it refuses
  logins from everyone for the rest of the window, so it is set far above normal failure rates.

A login that is refused because of a lock is not checked and not counted again, so a client that
keeps retrying does not extend its own lock, and one stale client adds at most ``per_user``
failures to its peer's count. A success clears only its own (peer, user) count: the peer and total
counts keep what other users' failures added. Memory stays bounded: once ``total`` failures
are in the window every login is refused and none is recorded, so (with callers that ask
``blocked`` first) no more than about ``total`` keys of each kind are alive at once; stale ones
are swept.

Both the SMTP AUTH command and the admin login use it::

    limiter = FailureLimiter(FailureLimits(per_user=5, per_peer=20, total=1000, window=300))
    if (lock := limiter.blocked(peer, user)) is not None:
        refuse(lock)            # "user", "peer" or "total": which ceiling was reached
    elif check_password(user, password):
        limiter.record_success(peer, user)
    else:
        limiter.record_failure(peer, user)

Peers are IP address strings; IPv6 addresses count by their /64 network, since one host commonly
owns a whole /64. The limiter is not thread-safe: use it from one event loop.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

Lock = Literal["user", "peer", "total"]


@dataclass(frozen=True)
class FailureLimits:
    """Failures allowed within ``window`` seconds before a lock (a lock lifts as failures age out)."""

    per_user: int = 5
    per_peer: int = 20
    total: int = 1000
    window: float = 300.0

    def __post_init__(self) -> None:
        if min(self.per_user, self.per_peer, self.total) < 1 or self.window <= 0:
            raise ValueError("failure limits and the window must be positive")


def peer_key(peer: str) -> str:
    """The address failures are counted under: IPv6 by its /64, IPv4 (also IPv4-mapped) as is."""
    try:
        addr = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return peer
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class FailureLimiter:
    """Sliding-window failure counts per (peer, user), per peer and in total."""

    def __init__(self, limits: FailureLimits | None = None) -> None:
        self.limits = limits or FailureLimits()
        self._by_user: dict[tuple[str, str], deque[float]] = {}
        self._by_peer: dict[str, deque[float]] = {}
        self._total: deque[float] = deque()

    def _recent(self, times: deque[float] | None, now: float) -> int:
        if times is None:
            return 0
        horizon = now - self.limits.window
        while times and times[0] <= horizon:
            times.popleft()
        return len(times)

    def blocked(self, peer: str, user: str | None = None, now: float | None = None) -> Lock | None:
        """Which ceiling refuses a login from ``peer`` as ``user`` now, or None when it may be tried.

        Without ``user`` (not known yet, e.g. before an AUTH exchange) only the peer and total
        ceilings are checked.
        """
        now = time.monotonic() if now is None else now
        limits = self.limits
        if self._recent(self._total, now) >= limits.total:
            return "total"
        key = peer_key(peer)
        if self._recent(self._by_peer.get(key), now) >= limits.per_peer:
            return "peer"
        if user is not None and self._recent(self._by_user.get((key, user)), now) >= limits.per_user:
            return "user"
        return None

    def record_failure(self, peer: str, user: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        key = peer_key(peer)
        self._prune(now)
        # Each count is kept to its ceiling: older entries beyond it change no decision.
        self._by_user.setdefault((key, user), deque(maxlen=self.limits.per_user)).append(now)
        self._by_peer.setdefault(key, deque(maxlen=self.limits.per_peer)).append(now)
        if len(self._total) >= self.limits.total:
            self._total.popleft()
        self._total.append(now)

    def record_success(self, peer: str, user: str) -> None:
        self._by_user.pop((peer_key(peer), user), None)

    def _prune(self, now: float) -> None:
        """Forget keys whose failures all aged out (cheap: only when the total count moved on)."""
        if self._recent(self._total, now) == 0:
            self._by_user.clear()
            self._by_peer.clear()
            return
        if len(self._by_user) + len(self._by_peer) <= 2 * self.limits.total:
            return
        horizon = now - self.limits.window
        self._by_user = {k: v for k, v in self._by_user.items() if v and v[-1] > horizon}
        self._by_peer = {k: v for k, v in self._by_peer.items() if v and v[-1] > horizon}

    def tracked(self) -> int:
        """How many (peer, user) and peer counts are held (for tests and metrics)."""
        return len(self._by_user) + len(self._by_peer)
