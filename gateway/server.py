"""The SMTP listener: aiosmtpd sessions with access control, limits, AUTH and TLS.

aiosmtpd parses the protocol; this module decides who may do what, answers every refusal with a
standard reply and enhanced status code, and hands a complete transaction to the processor at end
of DATA. ``handle_DATA`` stays short and bounded: the policy work runs in a thread under a timeout,
the message is stored, then the client hears back.
"""

from __future__ import annotations

import asyncio
import binascii
import collections
import contextlib
import ssl
from base64 import b64decode
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiosmtpd.proxy_protocol import ProxyData
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session, TLSSetupException
from email_validator import EmailNotValidError, validate_email

from gateway import replies
from gateway.access import NetworkList
from gateway.auth import Credentials, FailureLimiter
from gateway.config import GatewayConfig
from gateway.log import get_logger
from gateway.transaction import Transaction, has_bare_line_ending

log = get_logger("gateway.server")

_FORBIDDEN_ADDRESS_CHARS = frozenset("\r\n\x00")
# The tenant id is kept on aiosmtpd's Envelope, which is new for every transaction.
_TENANT_ATTR = "gateway_tenant"
# Seconds aiosmtpd's timer gives beyond the processing bound, so the client hears 451, not a hang-up.
PROCESSING_TIMER_MARGIN = 5.0


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


class TransactionProcessor(Protocol):
    """What happens at end of DATA: classify, decide, store or relay. Returns the SMTP reply."""

    async def process(self, txn: Transaction) -> str: ...

    def tenant_for(self, *, auth_user: str | None, peer: str, mail_from: str) -> str | None:
        """The tenant id of a transaction; None when the sender identity maps to no tenant."""


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


def check_address(address: str, *, allow_empty: bool) -> str | None:
    """None when the address is acceptable, else the SMTP reply refusing it."""
    if _FORBIDDEN_ADDRESS_CHARS.intersection(address):
        return replies.BAD_ADDRESS_CHARS
    if not address:
        return None if allow_empty else replies.BAD_ADDRESS.format(reason="empty address")
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=True,
                       allow_domain_literal=True, allow_display_name=False)
    except EmailNotValidError as exc:
        reason = str(exc).replace("\r", " ").replace("\n", " ")[:200]
        return replies.BAD_ADDRESS.format(reason=reason)
    return None


class GatewayHandler:
    """aiosmtpd handler: the per-command policy of the listener."""

    def __init__(self, config: GatewayConfig, processor: TransactionProcessor,
                 credentials: Credentials | None) -> None:
        self.processor = processor
        self.credentials = credentials
        self.limiter = FailureLimiter(config.auth.max_failures, config.auth.failure_window)
        # Counted events (session, auth_failed, relay_denied, tls_failed_*): the gateway's metrics.
        self.events: Callable[[str], None] = _no_event
        self.reconfigure(config)

    def reconfigure(self, config: GatewayConfig) -> None:
        self.config = config
        self.allowed = NetworkList(config.server.allowed_networks)

    # -- connection ---------------------------------------------------------------------------
    async def handle_PROXY(self, server: SMTP, session: Session, envelope: Envelope,
                           proxy_data: ProxyData) -> bool:
        if not proxy_data.valid:
            log.warning("proxy_header_invalid", peer=session.peer, error=proxy_data.error)
            return False
        return True

    # -- AUTH -----------------------------------------------------------------------------------
    async def handle_AUTH(self, server: SMTP, session: Session, envelope: Envelope,
                          args: list[str]) -> Any:
        peer = effective_peer(session)
        if self.limiter.locked(peer):
            log.warning("auth_locked", peer=peer)
            return replies.AUTH_LOCKED.format(peer=peer)
        return MISSING

    async def _authenticate(self, session: Session, mechanism: str, login: bytes,
                            password: bytes) -> AuthResult:
        peer = effective_peer(session)
        assert self.credentials is not None
        try:
            user = login.decode("utf-8")
            secret = password.decode("utf-8")
        except UnicodeDecodeError:
            ok, user = False, repr(login)
        else:
            ok = await self.credentials.verify(user, secret)
        if ok:
            self.limiter.record_success(peer)
            log.info("auth_ok", peer=peer, user=user, mechanism=mechanism)
            return AuthResult(success=True, auth_data=LoginPassword(login, b""))
        self.limiter.record_failure(peer)
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
        return await self._authenticate(server.session, "PLAIN", parts[1], parts[2])

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        login = await self._initial_response(server, args, SMTP.AuthLoginUsernameChallenge)
        if login is None:
            return AuthResult(success=False, handled=True)
        password = await server.challenge_auth(SMTP.AuthLoginPasswordChallenge)
        if password is MISSING:
            return AuthResult(success=False, handled=True)
        assert isinstance(password, bytes)
        assert server.session is not None
        return await self._authenticate(server.session, "LOGIN", login, password)

    # -- envelope -------------------------------------------------------------------------------
    def may_relay(self, session: Session) -> bool:
        return bool(session.authenticated) or effective_peer(session) in self.allowed

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        refusal = check_address(address, allow_empty=True)
        if refusal:
            return refusal
        user, peer = session_user(session), effective_peer(session)
        tenant = self.processor.tenant_for(auth_user=user, peer=peer, mail_from=address)
        if tenant is None:
            domain = address.rpartition("@")[2] or "none"
            log.warning("unknown_sender_identity", peer=peer, user=user, mail_from=address)
            return replies.UNKNOWN_TENANT.format(user=user or "none", peer=peer, domain=domain)
        setattr(envelope, _TENANT_ATTR, tenant)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return replies.OK_SENDER

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if not self.may_relay(session):
            peer = effective_peer(session)
            self.events("relay_denied")
            log.warning("relay_denied", peer=peer, mail_from=envelope.mail_from, rcpt=address)
            return replies.RELAY_DENIED.format(peer=peer)
        refusal = check_address(address, allow_empty=False)
        if refusal:
            return refusal
        limit = self.config.server.max_recipients
        if len(envelope.rcpt_tos) >= limit:
            return replies.TOO_MANY_RECIPIENTS.format(limit=limit)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return replies.OK_RECIPIENT

    # -- DATA -----------------------------------------------------------------------------------
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if isinstance(server, GatewaySMTP):
            server.data_size_known(len(data))
        peer = effective_peer(session)
        if has_bare_line_ending(data):
            log.warning("bare_line_ending_rejected", peer=peer, mail_from=envelope.mail_from,
                        rcpt_tos=envelope.rcpt_tos, size=len(data))
            return replies.BARE_LINE_ENDING
        txn = Transaction(peer=peer, mail_from=envelope.mail_from or "",
                          rcpt_tos=list(envelope.rcpt_tos), data=data,
                          mail_options=list(envelope.mail_options), auth_user=session_user(session),
                          tenant=getattr(envelope, _TENANT_ATTR, ""))
        try:
            # aiosmtpd's command timeout also runs while this handler works: without a bound of our
            # own, a stuck step would silently drop the client, which then retries blind.
            async with asyncio.timeout(self.config.server.data_timeout):
                return await self.processor.process(txn)
        except TimeoutError:
            log.error("processing_timeout", peer=peer, mail_from=txn.mail_from, rcpt_tos=txn.rcpt_tos,
                      size=txn.size, timeout=self.config.server.data_timeout)
            return replies.PROCESSING_TIMEOUT
        except Exception:
            log.exception("processing_failed", peer=peer, mail_from=txn.mail_from,
                          rcpt_tos=txn.rcpt_tos)
            return replies.PROCESSING_FAILED

    async def handle_exception(self, error: Exception) -> str:
        log.error("session_exception", error=repr(error))
        return "451 4.3.0 Temporary local error; try again later"


def _no_event(name: str) -> None:
    """Events go nowhere until the gateway wires its metrics in."""


class _Session(Session):
    # aiosmtpd itself sets the deprecated ``login_data`` on every AUTH, and its property logs a
    # deprecation warning each time; a plain attribute here takes the value silently. Nothing reads
    # it: the login is in ``auth_data`` (session_user above).
    login_data: Any = None


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with enhanced status codes, per-peer PROXY trust and session accounting."""

    def __init__(self, handler: GatewayHandler, listener: Listener, *, counted: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._listener = listener
        # False on the implicit-TLS port: the session counts once its TLS handshake is done.
        self._counted = counted
        # On the implicit-TLS port: True until the handshake is done (connection_made).
        self._handshake_pending = not counted
        self._refused = False
        self._reserved = 0
        self._data_bytes = 0
        self._in_data = False
        self._held: list[bytes] | None = None
        self._grower: asyncio.Task[None] | None = None

    def _create_session(self) -> Session:
        return _Session(self.loop)

    async def smtp_STARTTLS(self, arg: str) -> None:
        try:
            await super().smtp_STARTTLS(arg)
        except TLSSetupException:
            self._listener.handler.events("tls_failed_starttls")
            raise

    def __del__(self) -> None:
        # asyncio tells a protocol nothing of a failed implicit-TLS handshake: such a protocol is
        # dropped without connection_made ever having counted it.
        if getattr(self, "_handshake_pending", False):
            self._listener.handler.events("tls_failed_implicit")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is None and self.transport is None:
            self._handshake_pending = False
            if not self._counted:
                # Implicit TLS, handshake done: the checks protocol_factory makes for other ports.
                refusal = self._listener.refusal()
                if refusal is not None:
                    self._refused = True
                    assert isinstance(transport, asyncio.WriteTransport)
                    transport.write(refusal.encode("ascii") + b"\r\n")
                    transport.close()
                    return
                self._counted = True
                self._listener.session_opened()
            self._listener.sessions.add(self)
            peer = transport.get_extra_info("peername")
            host = str(peer[0]) if isinstance(peer, tuple) else ""
            cfg = self._listener.config.server
            # Only trusted proxies may (and must) send a PROXY header; for anyone else a PROXY
            # line is just an unknown command.
            self._proxy_timeout = (cfg.proxy_protocol_timeout
                                   if host in self._listener.trusted_proxies else None)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return  # never started: nothing of aiosmtpd's to tear down
        self._listener.sessions.discard(self)
        if self._counted:
            self._counted = False
            self._listener.session_closed()
        super().connection_lost(error)

    def hang_up(self, reply: str) -> None:
        """End the session now with ``reply`` (shutdown after the drain period)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        assert isinstance(transport, asyncio.WriteTransport)
        with contextlib.suppress(Exception):
            transport.write(reply.encode("ascii") + b"\r\n")
        transport.close()

    def abort(self) -> None:
        """Drop the connection without another word (shutdown, after hang_up had its chance)."""
        if isinstance(self.transport, asyncio.WriteTransport):
            self.transport.abort()

    @property
    def in_data(self) -> bool:
        """Receiving or processing a message: it may be spooled and not yet acknowledged."""
        return self._in_data

    async def smtp_DATA(self, arg: str) -> None:
        envelope = self.envelope
        if envelope is None or not envelope.rcpt_tos or arg:
            await super().smtp_DATA(arg)  # aiosmtpd answers 503 / 501; no data is read
            return
        cfg = self._listener.config.server
        # The whole DATA transfer gets data_timeout (aiosmtpd's timer would otherwise give it only
        # the idle command timeout); processing gets its own bound once the data is in.
        self._reset_timeout(cfg.data_timeout)
        declared = declared_size(envelope.mail_options)
        # Undeclared size: a small start, grown as the data arrives (see data_received).
        wanted = min(declared, cfg.max_message_size) if declared is not None else UNDECLARED_INITIAL
        reserved = await self._listener.data_budget.reserve(wanted + 1024, self._budget_wait())
        if reserved is None:
            log.warning("data_budget_exhausted", peer=self.session.peer if self.session else None,
                        wanted=wanted, in_flight=self._listener.data_budget.used)
            await self.push(replies.DATA_BUDGET_EXHAUSTED)
            return
        self._reserved = reserved
        self._data_bytes = 0
        self._in_data = True
        try:
            await super().smtp_DATA(arg)
        finally:
            self._in_data = False
            if self._grower is not None:
                self._grower.cancel()
                self._grower = None
            self._held = None
            self._listener.data_budget.release(self._reserved)
            self._reserved = 0

    def _budget_wait(self) -> float:
        cfg = self._listener.config.server
        # The wait counts against the DATA phase's timer (data_timeout), set when DATA began.
        return min(cfg.data_budget_wait, cfg.data_timeout / 2)

    def data_received(self, data: bytes) -> None:
        if self._held is not None:  # waiting for budget: keep it from aiosmtpd, stop reading
            self._held.append(data)
            self._pause()
            return
        if self._in_data:
            self._data_bytes += len(data)
            cap = self._listener.config.server.max_message_size + 1024
            if self._data_bytes > self._reserved and self._reserved < cap:
                # More than reserved (no SIZE, or a SIZE too small): reserve up to the size limit at
                # once, so a session that got its grant never waits again while holding budget.
                want = cap - self._reserved
                budget = self._listener.data_budget
                if not budget.waiting and budget.used + want <= budget.total:
                    budget.used += want
                    self._reserved += want
                else:
                    self._held = [data]
                    self._pause()
                    self._grower = asyncio.get_running_loop().create_task(self._grow(want))
                    return
        super().data_received(data)

    def _pause(self) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.ReadTransport) and transport.is_reading():
            transport.pause_reading()

    async def _grow(self, want: int) -> None:
        got = await self._listener.data_budget.reserve(want, self._budget_wait())
        if not self._in_data:  # the session ended meanwhile
            if got is not None:
                self._listener.data_budget.release(got)
            return
        self._grower = None
        transport = self.transport
        if got is None:
            log.warning("data_budget_exhausted", peer=self.session.peer if self.session else None,
                        wanted=want, in_flight=self._listener.data_budget.used)
            if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
                transport.write(replies.DATA_BUDGET_CLOSING.encode("ascii") + b"\r\n")
                transport.close()
            return
        self._reserved += got
        held, self._held = self._held or [], None
        for chunk in held:
            super().data_received(chunk)
        if isinstance(transport, asyncio.ReadTransport) and not transport.is_closing():
            transport.resume_reading()

    def data_size_known(self, size: int) -> None:
        """The data is read: keep only what it really takes (for the processing that follows)."""
        self._in_data = False  # what arrives from now on (a pipelined QUIT) is no message data
        # Processing is bounded by data_timeout in handle_DATA (451 4.3.0); keep aiosmtpd's timer
        # from hanging up first.
        self._reset_timeout(self._listener.config.server.data_timeout + PROCESSING_TIMER_MARGIN)
        if self._reserved > size:
            self._listener.data_budget.release(self._reserved - size)
            self._reserved = size

    def _timeout_cb(self) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(f"421 4.4.2 {self.hostname} Error: timeout exceeded\r\n".encode("ascii"))
        super()._timeout_cb()  # type: ignore[no-untyped-call]

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            status = "\r\n".join(replies.with_enhanced_code(line) for line in status.split("\r\n"))
        await super().push(status)


# Seconds a client on the implicit-TLS port has to finish its handshake.
TLS_HANDSHAKE_TIMEOUT = 30.0
# Seconds shutdown waits, after the drain period, for sessions still inside DATA.
SHUTDOWN_DATA_WAIT = 10.0


class _RefusingProtocol(asyncio.Protocol):
    """Greets with a 421 and hangs up: the session limit is reached or we are shutting down."""

    def __init__(self, reply: str) -> None:
        self._reply = reply

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self._reply.encode("ascii") + b"\r\n")
        transport.close()


def make_server_tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class Listener:
    """Owns the listening sockets, the session count and graceful shutdown."""

    def __init__(self, config: GatewayConfig, processor: TransactionProcessor,
                 credentials: Credentials | None = None,
                 on_session: Callable[[], Awaitable[None]] | None = None) -> None:
        self.config = config
        self.handler = GatewayHandler(config, processor, credentials)
        self.trusted_proxies = NetworkList(config.server.trusted_proxies)
        self.tls_context: ssl.SSLContext | None = None
        if config.tls.enabled:
            assert config.tls.cert_file is not None and config.tls.key_file is not None
            self.tls_context = make_server_tls_context(str(config.tls.cert_file),
                                                       str(config.tls.key_file))
        self.credentials = credentials
        self.data_budget = DataBudget(config.server.data_memory_budget)
        self.active_sessions = 0
        self.closing = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._servers: list[asyncio.Server] = []
        self.sessions: set[GatewaySMTP] = set()

    def _smtp_kwargs(self) -> dict[str, Any]:
        cfg = self.config.server
        kwargs: dict[str, Any] = {
            "data_size_limit": cfg.max_message_size,
            "enable_SMTPUTF8": True,
            "hostname": cfg.hostname,
            "ident": "Seller Mail Gateway ESMTP",
            "timeout": cfg.command_timeout,
            "auth_require_tls": True,
            "require_starttls": self.config.tls.require_starttls,
        }
        if self.credentials is None:
            # No credentials file: offer no AUTH at all (aiosmtpd would otherwise offer
            # its built-in mechanisms with an always-failing callback).
            kwargs["auth_exclude_mechanism"] = ["PLAIN", "LOGIN"]
        return kwargs

    def protocol_factory(self, *, implicit_tls: bool = False) -> asyncio.BaseProtocol:
        refusal = self.refusal()
        if refusal is not None:
            return _RefusingProtocol(refusal)
        kwargs = self._smtp_kwargs()
        if implicit_tls:
            # asyncio tells the protocol nothing of a TLS handshake that fails or is abandoned
            # (scanners, health checks): such a connection is counted once the handshake is done,
            # or it would stay counted for ever. Handshakes are bounded by ssl_handshake_timeout.
            kwargs["counted"] = False
        else:
            self.session_opened()
        # On the implicit-TLS port the session is already encrypted: no STARTTLS offer; aiosmtpd
        # sees the TLS transport through its tls_context being unset, so AUTH is allowed there.
        kwargs["tls_context"] = None if implicit_tls else self.tls_context
        if implicit_tls:
            kwargs["auth_require_tls"] = False
        return GatewaySMTP(self.handler, self, **kwargs)

    def refusal(self) -> str | None:
        """The 421 for a new session when shutting down or at the session limit, else None."""
        hostname = self.config.server.hostname
        if self.closing:
            return replies.SHUTTING_DOWN.format(hostname=hostname)
        if self.active_sessions >= self.config.server.max_sessions:
            log.warning("session_limit_reached", limit=self.config.server.max_sessions)
            return replies.SERVICE_BUSY.format(hostname=hostname)
        return None

    def reconfigure(self, config: GatewayConfig) -> None:
        """New limits and access rules for sessions from now on (addresses and TLS need a restart)."""
        self.config = config
        self.handler.reconfigure(config)
        self.trusted_proxies = NetworkList(config.server.trusted_proxies)

    def session_opened(self) -> None:
        self.handler.events("session")
        self.active_sessions += 1
        self._idle.clear()

    def session_closed(self) -> None:
        self.active_sessions -= 1
        if self.active_sessions <= 0:
            self.active_sessions = 0
            self._idle.set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.config.server.listen_address
        reuse_port = self.config.server.reuse_port or None
        self._servers.append(await loop.create_server(self.protocol_factory, host, port,
                                                      reuse_port=reuse_port))
        implicit = self.config.server.implicit_tls_address
        if implicit is not None:
            if self.tls_context is None:
                raise RuntimeError("server.implicit_tls_listen needs tls.cert_file and tls.key_file")
            ihost, iport = implicit
            self._servers.append(await loop.create_server(
                lambda: self.protocol_factory(implicit_tls=True), ihost, iport, ssl=self.tls_context,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
                reuse_port=reuse_port))
        for srv in self._servers:
            for sock in srv.sockets:
                log.info("listening", address=sock.getsockname())

    @property
    def port(self) -> int:
        port: int = self._servers[0].sockets[0].getsockname()[1]
        return port

    @property
    def implicit_tls_port(self) -> int | None:
        if len(self._servers) < 2:
            return None
        port: int = self._servers[1].sockets[0].getsockname()[1]
        return port

    async def drain(self, timeout: float) -> bool:
        """Refuse new sessions with 421 and wait for open ones to finish; True when all did."""
        self.closing = True
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop listening and end the sessions still open after the drain (421, then hang up):
        none is left to the garbage collector, whatever state it was in (PROXY header, DATA)."""
        # Stop accepting first, then let connections accepted a moment ago finish being set up,
        # and only then close the servers: in Python 3.11 a connection accepted just before
        # Server.close() fails to attach to the closed server and its socket is never closed.
        loop = asyncio.get_running_loop()
        for srv in self._servers:
            for sock in srv.sockets:
                loop.remove_reader(sock.fileno())
        for _ in range(3):
            await asyncio.sleep(0)
        for srv in self._servers:
            srv.close()
        # A session inside DATA may have spooled its message and not yet said 250: hanging up
        # now would make the client send it again. Those get a little longer.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_DATA_WAIT):
                while any(s.in_data for s in self.sessions):
                    await asyncio.sleep(0.05)
        reply = replies.SHUTTING_DOWN.format(hostname=self.config.server.hostname)
        for session in list(self.sessions):
            session.hang_up(reply)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                while self.sessions:
                    await asyncio.sleep(0.01)
        for session in list(self.sessions):
            session.abort()  # a peer that does not read: no waiting on it (wait_closed would)
        for srv in self._servers:
            await srv.wait_closed()
        self._servers.clear()
