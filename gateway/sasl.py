"""SMTP AUTH (RFC 4954): the PLAIN (RFC 4616) and LOGIN mechanisms against the credentials file,
with failed attempts limited per (peer, user), per peer and in total (gateway/limiter.py).

aiosmtpd finds ``auth_<MECHANISM>`` methods on the handler; ``SaslAuthenticator`` is the part of
the listener's handler that provides them. A PLAIN authorization identity other than empty or
the user itself is refused: the gateway has no notion of acting for another user, and silently
ignoring it would let a client believe it did.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Callable
from typing import Any

from aiosmtpd.proxy_protocol import ProxyData
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from gateway import replies
from gateway.auth import Credentials
from gateway.limiter import FailureLimiter
from gateway.log import get_logger

log = get_logger("gateway.sasl")

# The prompts every client library expects (aiosmtpd's own are "User Name\0" and "Password\0").
LOGIN_USERNAME_PROMPT = "Username:"
LOGIN_PASSWORD_PROMPT = "Password:"


def effective_peer(session: Session) -> str:
    """The client's address: from the PROXY header when a trusted proxy sent one."""
    proxy: ProxyData | None = session.proxy_data
    src: Any = proxy.src_addr if proxy is not None else None
    if src is not None:
        return str(src)
    peer: Any = session.peer  # aiosmtpd types it as str; it is the (host, port) tuple
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)


def session_user(session: Session) -> str | None:
    auth_data: Any = session.auth_data
    if session.authenticated and isinstance(auth_data, LoginPassword):
        return auth_data.login.decode("utf-8", "replace")
    return None


class SaslAuthenticator:
    """The AUTH hooks of the listener's handler."""

    credentials: Credentials | None
    limiter: FailureLimiter
    events: Callable[[str], None]

    async def handle_AUTH(self, server: SMTP, session: Session, envelope: Envelope,
                          args: list[str]) -> Any:
        peer = effective_peer(session)
        # The user is not known yet: only the peer's and the total ceilings can refuse now.
        lock = self.limiter.blocked(peer)
        if lock is not None:
            log.warning("auth_locked", peer=peer, lock=lock)
            return replies.AUTH_LOCKED.format(peer=peer)
        return MISSING

    async def _authenticate(self, session: Session, mechanism: str, login: bytes, password: bytes,
                            authzid: bytes = b"") -> AuthResult:
        peer = effective_peer(session)
        assert self.credentials is not None
        try:
            user = login.decode("utf-8")
            secret = password.decode("utf-8")
            authz = authzid.decode("utf-8")
        except UnicodeDecodeError:
            user, secret, authz = login.decode("utf-8", "replace"), None, ""
        if authz and authz != user:
            log.warning("auth_authzid_refused", peer=peer, user=user, authzid=authz, mechanism=mechanism)
            return AuthResult(success=False, handled=False, message=replies.AUTH_AUTHZID_REFUSED)
        lock = self.limiter.blocked(peer, user)
        if lock is not None:
            # Not checked and not counted: a client retrying a stale password does not extend its lock.
            log.warning("auth_locked", peer=peer, user=user, lock=lock, mechanism=mechanism)
            reply = replies.AUTH_LOCKED_USER if lock == "user" else replies.AUTH_LOCKED
            return AuthResult(success=False, handled=False, message=reply.format(peer=peer))
        ok = secret is not None and await self.credentials.verify(user, secret)
        if ok:
            self.limiter.record_success(peer, user)
            log.info("auth_ok", peer=peer, user=user, mechanism=mechanism)
            return AuthResult(success=True, auth_data=LoginPassword(login, b""))
        self.limiter.record_failure(peer, user)
        self.events("auth_failed")
        log.warning("auth_failed", peer=peer, user=user, mechanism=mechanism)
        return AuthResult(success=False, handled=False)

    @staticmethod
    async def _decode_b64(server: SMTP, value: str) -> bytes | None:
        try:
            return b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            await server.push("501 5.5.2 Cannot decode base64")
            return None

    async def _initial_response(self, server: SMTP, args: list[str], challenge: str) -> bytes | None:
        """The client's first credentials: given with the AUTH command, or asked for with a 334.
        None when the client aborted or sent bad base64 (already answered)."""
        if len(args) > 1:
            if args[1] == "=":  # RFC 4954 4: an empty initial response
                return b""
            return await self._decode_b64(server, args[1])
        blob = await server.challenge_auth(challenge)
        return blob if isinstance(blob, bytes) else None

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await self._initial_response(server, args, "")
        if blob is None:
            return AuthResult(success=False, handled=True)
        parts = blob.split(b"\x00")
        if len(parts) != 3:
            await server.push("501 5.5.2 Cannot split PLAIN credentials")
            return AuthResult(success=False, handled=True)
        assert server.session is not None
        authzid, login, password = parts
        return await self._authenticate(server.session, "PLAIN", login, password, authzid)

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        login = await self._initial_response(server, args, LOGIN_USERNAME_PROMPT)
        if login is None:
            return AuthResult(success=False, handled=True)
        password = await server.challenge_auth(LOGIN_PASSWORD_PROMPT)
        if password is MISSING:
            return AuthResult(success=False, handled=True)
        assert isinstance(password, bytes)
        assert server.session is not None
        return await self._authenticate(server.session, "LOGIN", login, password)
