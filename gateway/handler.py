"""The listener's aiosmtpd handler: who may do what per command, and the transaction at end of DATA.

``handle_DATA`` stays short and bounded: the trace headers are added, the processor (policy in a
thread under a timeout, then the store) runs, then the client hears back.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import Callable
from typing import Protocol

from aiosmtpd.proxy_protocol import ProxyData
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway import replies
from gateway.access import NetworkList
from gateway.auth import Credentials
from gateway.config import GatewayConfig
from gateway.limiter import FailureLimiter, FailureLimits
from gateway.log import get_logger
from gateway.sasl import SaslAuthenticator, effective_peer, session_user
from gateway.spool import new_queue_id
from gateway.trace import ClientInfo, add_trace_headers, received_header
from gateway.transaction import Transaction, check_address, envelope_sender

log = get_logger("gateway.handler")

# Extensions aiosmtpd handles but does not announce (RFC 2920, RFC 2034).
EXTRA_EXTENSIONS = ("PIPELINING", "ENHANCEDSTATUSCODES")
# Seconds a reverse DNS lookup for the Received header may take, and how long its answer is kept.
REVERSE_DNS_TIMEOUT = 2.0
REVERSE_DNS_TTL = 300.0


class GatewayEnvelope(Envelope):
    """aiosmtpd's Envelope (new for every transaction) with what the gateway learns on the way."""

    def __init__(self) -> None:
        super().__init__()
        self.tenant = ""
        self.bare_line_endings = 0
        self.long_lines = False


class TransactionProcessor(Protocol):
    """What happens at end of DATA: classify, decide, store or relay. Returns the SMTP reply."""

    async def process(self, txn: Transaction) -> str: ...

    def tenant_for(self, *, auth_user: str | None, peer: str, mail_from: str) -> str | None:
        """The tenant id of a transaction; None when the sender identity maps to no tenant."""


def _no_event(name: str) -> None:
    """Events go nowhere until the gateway wires its metrics in."""


async def verified_client_name(address: str) -> str:
    """The client's reverse-DNS name when it resolves back to ``address`` ("unknown" otherwise),
    as Postfix's smtpd prints it in Received."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(REVERSE_DNS_TIMEOUT):
            name, _ = await loop.getnameinfo((address, 0), socket.NI_NAMEREQD)
            infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        return "unknown"
    if any(info[4][0] == address for info in infos):
        return name
    return "unknown"


class GatewayHandler(SaslAuthenticator):
    """aiosmtpd handler: the per-command policy of the listener."""

    def __init__(self, config: GatewayConfig, processor: TransactionProcessor,
                 credentials: Credentials | None) -> None:
        self.processor = processor
        self.credentials = credentials
        auth = config.auth
        self.limiter = FailureLimiter(FailureLimits(
            per_user=auth.max_failures, per_peer=auth.max_failures_per_peer,
            total=auth.max_failures_total, window=auth.failure_window))
        self._names: dict[str, tuple[float, str]] = {}
        # Counted events (session, auth_failed, relay_denied, tls_failed_*): the gateway's metrics.
        self.events: Callable[[str], None] = _no_event
        self.reconfigure(config)

    def reconfigure(self, config: GatewayConfig) -> None:
        self.config = config
        self.allowed = NetworkList(config.server.allowed_networks)

    def __dir__(self) -> list[str]:
        # aiosmtpd reads the handler's hooks (handle_*) and AUTH mechanisms (auth_*) with
        # dir()/inspect.getmembers on every connection; only those names are listed.
        return hook_names(self, ("handle_", "auth_"))

    # -- connection ---------------------------------------------------------------------------
    async def handle_PROXY(self, server: SMTP, session: Session, envelope: Envelope,
                           proxy_data: ProxyData) -> bool:
        if not proxy_data.valid:
            log.warning("proxy_header_invalid", peer=session.peer, error=proxy_data.error)
            return False
        return True

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname  # aiosmtpd leaves this to a five-argument EHLO hook
        last = responses.pop()  # "250 HELP"
        return [*responses, *(f"250-{ext}" for ext in EXTRA_EXTENSIONS), last]

    # -- envelope -------------------------------------------------------------------------------
    def may_relay(self, session: Session) -> bool:
        return bool(session.authenticated) or effective_peer(session) in self.allowed

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        refusal = check_address(address, allow_empty=True)
        if refusal:
            return refusal
        user, peer = session_user(session), effective_peer(session)
        sender = envelope_sender(address)
        tenant = self.processor.tenant_for(auth_user=user, peer=peer, mail_from=sender)
        if tenant is None:
            domain = sender.rpartition("@")[2] or "none"
            log.warning("unknown_sender_identity", peer=peer, user=user, mail_from=sender)
            return replies.UNKNOWN_TENANT.format(user=user or "none", peer=peer, domain=domain)
        if isinstance(envelope, GatewayEnvelope):
            envelope.tenant = tenant
        # aiosmtpd needs a true value here for RCPT to follow; "<>" stands for the null sender.
        envelope.mail_from = address or "<>"
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
    async def _client_name(self, address: str) -> str:
        if not self.config.server.reverse_dns:
            return "unknown"
        now = time.monotonic()
        cached = self._names.get(address)
        if cached is not None and cached[0] > now:
            return cached[1]
        name = await verified_client_name(address)
        if len(self._names) > 4096:
            self._names = {k: v for k, v in self._names.items() if v[0] > now}
        self._names[address] = (now + REVERSE_DNS_TTL, name)
        return name

    async def _client_info(self, server: SMTP, session: Session, envelope: Envelope,
                           peer: str) -> ClientInfo:
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        version = cipher = None
        bits = None
        if ssl_object is not None:
            version = ssl_object.version()
            described = ssl_object.cipher()
            if described is not None:
                cipher, _protocol, bits = described
        return ClientInfo(
            helo=session.host_name or "unknown", address=peer, name=await self._client_name(peer),
            tls_version=version, tls_cipher=cipher, tls_bits=bits, auth_user=session_user(session),
            esmtp=bool(session.extended_smtp), smtputf8=bool(envelope.smtp_utf8))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        peer = effective_peer(session)
        cfg = self.config.server
        queue_id = new_queue_id()
        extra = envelope if isinstance(envelope, GatewayEnvelope) else GatewayEnvelope()
        if extra.bare_line_endings or extra.long_lines:
            log.info("data_repaired", peer=peer, queue_id=queue_id, mail_from=envelope.mail_from,
                     rcpt_tos=envelope.rcpt_tos, bare_line_endings=extra.bare_line_endings,
                     long_lines_broken=extra.long_lines)
        try:
            async with asyncio.timeout(cfg.data_timeout):
                client = await self._client_info(server, session, envelope, peer)
                received = received_header(client, hostname=cfg.hostname, queue_id=queue_id,
                                           recipients=list(envelope.rcpt_tos),
                                           show_auth_user=cfg.received_auth_user)
                data = add_trace_headers(data, received, add_missing=cfg.add_missing_headers,
                                         hostname=cfg.hostname, queue_id=queue_id)
                # Only the copy with the headers is needed from here on: one message in memory, not two.
                envelope.content = envelope.original_content = None
                txn = Transaction(peer=peer, mail_from=envelope_sender(envelope.mail_from),
                                  rcpt_tos=list(envelope.rcpt_tos), data=data,
                                  mail_options=list(envelope.mail_options),
                                  auth_user=session_user(session), tenant=extra.tenant,
                                  queue_id=queue_id)
                # aiosmtpd's command timeout also runs while this handler works: without a bound
                # of our own, a stuck step would silently drop the client, which then retries blind.
                return await self.processor.process(txn)
        except TimeoutError:
            log.error("processing_timeout", peer=peer, mail_from=envelope.mail_from,
                      rcpt_tos=envelope.rcpt_tos, size=len(data), timeout=cfg.data_timeout)
            return replies.PROCESSING_TIMEOUT
        except Exception:
            log.exception("processing_failed", peer=peer, mail_from=envelope.mail_from,
                          rcpt_tos=envelope.rcpt_tos)
            return replies.PROCESSING_FAILED

    async def handle_exception(self, error: Exception) -> str:
        log.error("session_exception", error=repr(error))
        return "451 4.3.0 Temporary local error; try again later"


# aiosmtpd asks inspect.signature of the EHLO hook on every connection; the answer is fixed.
GatewayHandler.handle_EHLO.__signature__ = inspect.signature(GatewayHandler.handle_EHLO)  # type: ignore[attr-defined]


_NAMES: dict[tuple[type, tuple[str, ...]], list[str]] = {}


def hook_names(obj: object, prefixes: tuple[str, ...], *, own: bool = True) -> list[str]:
    """The attribute names of ``obj`` that start with one of ``prefixes``: its class's (looked up
    once per class) and, with ``own``, any set on the object itself. What aiosmtpd's per-session
    tables need."""
    key = (type(obj), prefixes)
    names = _NAMES.get(key)
    if names is None:
        names = _NAMES[key] = [n for n in dir(type(obj)) if n.startswith(prefixes)]
    if not own:
        return names
    extra = [n for n in getattr(obj, "__dict__", ()) if n.startswith(prefixes) and n not in names]
    return [*names, *extra] if extra else names
