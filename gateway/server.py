"""The SMTP listener: the listening sockets, the session count, TLS and graceful shutdown.

One module per part of a session: gateway/session.py is the SMTP protocol of one connection (with
the DATA reader of gateway/smtpdata.py and the memory budget of gateway/databudget.py),
gateway/handler.py decides per command and hands the transaction on at end of DATA,
gateway/sasl.py does AUTH.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from gateway import replies
from gateway.access import NetworkList
from gateway.auth import Credentials
from gateway.config import GatewayConfig
from gateway.databudget import DataBudget
from gateway.handler import GatewayHandler, TransactionProcessor
from gateway.log import get_logger
from gateway.session import GatewaySMTP, as_stream

__all__ = ["Listener", "TransactionProcessor", "make_server_tls_context"]

log = get_logger("gateway.server")


# Seconds a client on the implicit-TLS port has to finish its handshake.
TLS_HANDSHAKE_TIMEOUT = 30.0
# Seconds shutdown waits, after the drain period, for sessions still inside DATA.
SHUTDOWN_DATA_WAIT = 10.0


class _RefusingProtocol(asyncio.Protocol):
    """Greets with a 421 and hangs up: the session limit is reached or we are shutting down."""

    def __init__(self, reply: str) -> None:
        self._reply = reply

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = as_stream(transport)
        assert stream is not None
        stream.write(self._reply.encode("ascii") + b"\r\n")
        stream.close()


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
        self._plain_servers = 0
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

    async def start(self, sockets: Sequence[socket.socket] = (),
                    implicit_sockets: Sequence[socket.socket] = ()) -> None:
        """Listen on the configured addresses, or on ``sockets`` (and ``implicit_sockets`` for the
        implicit-TLS port) already bound and listening: a worker process's, gateway/workers/."""
        loop = asyncio.get_running_loop()
        host, port = self.config.server.listen_address
        reuse_port = self.config.server.reuse_port or None
        if sockets:
            for sock in sockets:
                self._servers.append(await loop.create_server(self.protocol_factory, sock=sock))
        else:
            self._servers.append(await loop.create_server(self.protocol_factory, host, port,
                                                          reuse_port=reuse_port))
        self._plain_servers = len(self._servers)
        implicit = self.config.server.implicit_tls_address
        if implicit is not None:
            if self.tls_context is None:
                raise RuntimeError("server.implicit_tls_listen needs tls.cert_file and tls.key_file")
            ihost, iport = implicit

            def factory() -> asyncio.BaseProtocol:
                return self.protocol_factory(implicit_tls=True)

            if implicit_sockets:
                for sock in implicit_sockets:
                    self._servers.append(await loop.create_server(
                        factory, sock=sock, ssl=self.tls_context, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT))
            else:
                self._servers.append(await loop.create_server(
                    factory, ihost, iport, ssl=self.tls_context,
                    ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT, reuse_port=reuse_port))
        for srv in self._servers:
            for sock in srv.sockets:
                log.info("listening", address=sock.getsockname())

    @property
    def serving(self) -> bool:
        return bool(self._servers)

    @property
    def port(self) -> int:
        port: int = self._servers[0].sockets[0].getsockname()[1]
        return port

    @property
    def implicit_tls_port(self) -> int | None:
        if len(self._servers) <= self._plain_servers:
            return None
        port: int = self._servers[self._plain_servers].sockets[0].getsockname()[1]
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
