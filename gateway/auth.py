"""SMTP AUTH: a credentials file of argon2 hashes, and a per-peer limit on failed attempts.

The file holds one ``user:hash`` line per account (``gateway auth add-user`` writes them); blank
lines and ``#`` comments are ignored. Verifying an argon2 hash costs tens of milliseconds of CPU, so
it runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.errors import GatewayError

_hasher = PasswordHasher()


class CredentialsError(GatewayError):
    """The credentials file cannot be used; the message names the file and line."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@dataclass(frozen=True)
class Credentials:
    users: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> Credentials:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CredentialsError(f"{path}: cannot read: {exc.strerror or exc}") from None
        users: dict[str, str] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not user or not hashed.startswith("$argon2"):
                raise CredentialsError(f"{path}:{number}: expected 'user:$argon2...' line")
            users[user] = hashed
        return cls(users)

    def verify_sync(self, user: str, password: str) -> bool:
        hashed = self.users.get(user)
        if hashed is None:
            # Spend the same effort for unknown users so timing does not tell who exists.
            hashed = _DUMMY_HASH
            with contextlib.suppress(VerificationError, InvalidHashError):
                _hasher.verify(hashed, password + "\x00unknown")
            return False
        try:
            return _hasher.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, user: str, password: str) -> bool:
        return await asyncio.to_thread(self.verify_sync, user, password)


_DUMMY_HASH = _hasher.hash("dummy password for timing equality")


class FailureLimiter:
    """Counts failed AUTH attempts per peer in a sliding window."""

    def __init__(self, max_failures: int, window: float) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _prune(self, peer: str, now: float) -> deque[float]:
        times = self._failures[peer]
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def locked(self, peer: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        times = self._prune(peer, now)
        if not times:
            self._failures.pop(peer, None)
            return False
        return len(times) >= self.max_failures

    def record_failure(self, peer: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._prune(peer, now).append(now)

    def record_success(self, peer: str) -> None:
        self._failures.pop(peer, None)
