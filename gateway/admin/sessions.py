"""Who may use the admin server: the token, the admin users, their sessions, and the login limiter.

Failed logins and bearer-token guesses are counted by ``gateway.limiter.FailureLimiter`` per
(client, user), per client and in total. The client is the connecting address, or for a proxy
listed in ``admin.trusted_proxies`` the address its ``X-Forwarded-For`` names, so behind the
recommended TLS proxy one attacker does not lock out every admin.

Parallel guesses cannot slip past the count: the attempts of one client are checked one at a time
(a lock per client), so the sixth of fifty simultaneous wrong logins already sees the first five
failures and is refused unchecked. Attempts from different clients run side by side, a few at a
time (argon2 costs CPU), so a correct password from another client is never queued behind an
attacker's; the total ceiling is checked again as each check starts, so parallel guesses from
many clients pass it by at most ``VERIFY_SLOTS - 1``. A browser that logged in before carries a
signed device cookie and is limited by its own count only: a distributed attack that fills the
total ceiling locks out new browsers for the window, never the admins' own.

``reconfigure`` (on ``gateway reload``) re-reads the token and the credentials file: a new
password is what logs in from then on, and the sessions of a user whose password changed or who
was removed end at once, as do token sessions when the token changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.auth import Credentials
from gateway.config import AdminConfig
from gateway.limiter import FailureLimiter, FailureLimits, Lock, peer_key
from gateway.log import get_logger

log = get_logger("gateway.admin.sessions")

TOKEN_USER = "(token)"
"""The user name token logins and bearer requests are counted under."""
VERIFY_SLOTS = 4
"""Password checks run at once (each is tens of milliseconds of argon2 in a worker thread)."""


@dataclass
class Session:
    actor: str
    csrf: str
    expires: float
    credential: str = ""
    """A digest of the secret this session was opened with: when it changes, the session ends."""
    flash: tuple[str, str] = ("", "")
    """(message, error) to show on the next page rendered for this session."""
    handle: str = ""
    """A public name for the session (the sessions page), never its cookie value."""
    client: str = ""
    started: float = 0.0


@dataclass(frozen=True)
class LoginOutcome:
    actor: str | None
    locked: Lock | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AdminAuth:
    """The admin server's credentials and live sessions (in memory: a restart logs everyone out)."""

    def __init__(self, config: AdminConfig, credentials_file: Path | None) -> None:
        self.sessions: dict[str, Session] = {}
        self.token: str | None = None
        self.credentials: Credentials | None = None
        self.users: frozenset[str] = frozenset()
        self.ttl = config.session_ttl
        self._apply(config, self._load(config, credentials_file))
        self.limiter = FailureLimiter(self._limits(config))
        # Logins from browsers that logged in before: their own count only (see ``login``).
        self.device_limiter = FailureLimiter(FailureLimits(
            per_user=config.login_failures_per_user, per_peer=config.login_failures_per_user,
            total=1_000_000, window=config.login_window))
        self._device_key = secrets.token_bytes(32)
        self._client_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._verify_slots = asyncio.Semaphore(VERIFY_SLOTS)

    # -- configuration ----------------------------------------------------------------------------
    @staticmethod
    def _limits(config: AdminConfig) -> FailureLimits:
        return FailureLimits(per_user=config.login_failures_per_user, per_peer=config.login_failures_per_client,
                             total=config.login_failures_total, window=config.login_window)

    @staticmethod
    def _load(config: AdminConfig, credentials_file: Path | None) -> Credentials | None:
        if config.users and credentials_file is not None:
            return Credentials.load(credentials_file)
        return None

    def _apply(self, config: AdminConfig, credentials: Credentials | None) -> None:
        self.token = config.resolved_token()
        self.credentials = credentials
        self.users = frozenset(config.users)
        self.ttl = config.session_ttl
        self.trusted = tuple(ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies)

    async def reconfigure(self, config: AdminConfig, credentials_file: Path | None) -> list[str]:
        """Take a reloaded configuration; returns the actors whose sessions ended."""
        credentials = await asyncio.to_thread(self._load, config, credentials_file)
        self._apply(config, credentials)
        if self._limits(config) != self.limiter.limits:
            self.limiter.limits = self._limits(config)
        ended = [sid for sid, s in self.sessions.items() if s.credential != self._credential_of(s.actor)]
        actors = sorted({self.sessions[sid].actor for sid in ended})
        for sid in ended:
            del self.sessions[sid]
        if actors:
            log.warning("admin_sessions_ended", actors=actors, sessions=len(ended),
                        reason="password changed, user removed or token changed")
        return actors

    def _credential_of(self, actor: str) -> str | None:
        """The digest of what ``actor`` logs in with now (None: it can no longer log in)."""
        if actor == "token":
            return _digest(self.token) if self.token is not None else None
        user = actor.removeprefix("user:")
        if self.credentials is None or user not in self.users:
            return None
        hashed = self.credentials.users.get(user)
        return _digest(hashed) if hashed is not None else None

    # -- who is asking ----------------------------------------------------------------------------
    def client_of(self, remote: str | None, forwarded_for: str | None) -> str:
        """The client address: the connecting peer, or behind a trusted proxy the nearest address in
        ``X-Forwarded-For`` that is not itself a trusted proxy."""
        peer = remote or "?"
        if not self.trusted or not forwarded_for or not self._is_trusted(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if not self._is_trusted(hop):
                return hop
        return peer

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    # -- checks -----------------------------------------------------------------------------------
    def check_token(self, offered: str) -> bool:
        return self.token is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    def check_bearer(self, client: str, offered: str) -> LoginOutcome:
        """A bearer request: counted like a login, so token guesses are limited too."""
        if (locked := self.limiter.blocked(client, TOKEN_USER)) is not None:
            return LoginOutcome(None, locked)
        if self.check_token(offered):
            self.limiter.record_success(client, TOKEN_USER)
            return LoginOutcome("token")
        self.limiter.record_failure(client, TOKEN_USER)
        return LoginOutcome(None)

    async def login(self, client: str, username: str, password: str, device: str | None = None) -> LoginOutcome:
        """Check a login form; ``actor`` is set when the credentials are good.

        ``device`` is the device cookie a browser got at an earlier successful login as this user
        (``device_cookie``). A login from such a browser is limited by its own count only, not by
        its client's or the total: however many guesses others make, from wherever, the admin's
        own browser still gets in with the right password (OWASP's "device cookies").
        """
        user = username or TOKEN_USER
        known = device is not None and self.known_device(device, user)
        limiter, key = (self.device_limiter, f"device:{device}") if known else (self.limiter, client)
        with self._one_at_a_time(key) as lock:
            async with lock:
                if (locked := limiter.blocked(key, user)) is not None:
                    return LoginOutcome(None, locked)
                async with self._verify_slots:
                    # Again once a slot is free: failures of other clients may have reached the
                    # total meanwhile. (At most VERIFY_SLOTS - 1 checks already under way can
                    # still land beyond the total ceiling; per client and user the count is exact.)
                    if (locked := limiter.blocked(key, user)) is not None:
                        return LoginOutcome(None, locked)
                    actor = await self._verify(username, password)
                if actor is None:
                    limiter.record_failure(key, user)
                else:
                    limiter.record_success(key, user)
                return LoginOutcome(actor)

    # -- device cookies ---------------------------------------------------------------------------
    def device_cookie(self, user: str) -> str:
        """A value naming this browser as one that logged in as ``user`` (signed; this process's key)."""
        nonce = secrets.token_urlsafe(12)
        return f"{nonce}.{self._device_mac(nonce, user)}"

    def known_device(self, cookie: str, user: str) -> bool:
        nonce, _, mac = cookie.partition(".")
        return bool(nonce and mac) and hmac.compare_digest(mac, self._device_mac(nonce, user))

    def _device_mac(self, nonce: str, user: str) -> str:
        return hmac.new(self._device_key, f"{nonce}\x00{user}".encode(), hashlib.sha256).hexdigest()[:32]

    @contextmanager
    def _one_at_a_time(self, client: str) -> Iterator[asyncio.Lock]:
        key = peer_key(client)
        lock, users = self._client_locks.get(key, (asyncio.Lock(), 0))
        self._client_locks[key] = (lock, users + 1)
        try:
            yield lock
        finally:
            lock, users = self._client_locks[key]
            if users <= 1:
                del self._client_locks[key]
            else:
                self._client_locks[key] = (lock, users - 1)

    async def _verify(self, username: str, password: str) -> str | None:
        if not username:
            return "token" if self.check_token(password) else None
        if username in self.users and self.credentials is not None:
            return f"user:{username}" if await self.credentials.verify(username, password) else None
        if self.credentials is not None:
            await self.credentials.verify("\x00no such admin", password)  # same cost as a real check
        return None

    # -- sessions ---------------------------------------------------------------------------------
    def new_session(self, actor: str, client: str = "") -> tuple[str, Session]:
        self._expire()
        sid = secrets.token_urlsafe(32)
        session = Session(actor, secrets.token_urlsafe(32), time.time() + self.ttl,
                          credential=self._credential_of(actor) or "", handle=secrets.token_hex(6), client=client,
                          started=time.time())
        self.sessions[sid] = session
        return sid, session

    def session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self.sessions.get(sid)
        if session is None or session.expires < time.time():
            self.sessions.pop(sid, None)
            return None
        return session

    def end_session(self, sid: str | None) -> None:
        if sid:
            self.sessions.pop(sid, None)

    def live_sessions(self) -> list[Session]:
        self._expire()
        return sorted(self.sessions.values(), key=lambda s: s.started, reverse=True)

    def end_by_handle(self, handle: str) -> Session | None:
        """End the session the sessions page names ``handle``; returns it, or None if none is."""
        for sid, session in list(self.sessions.items()):
            if handle and hmac.compare_digest(session.handle, handle):
                del self.sessions[sid]
                log.warning("admin_session_ended", actor=session.actor, client=session.client)
                return session
        return None

    def _expire(self) -> None:
        now = time.time()
        for sid in [s for s, v in self.sessions.items() if v.expires < now]:
            del self.sessions[sid]
