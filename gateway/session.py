"""One SMTP session: aiosmtpd's protocol with session accounting, the data memory budget, the
gateway's DATA reader, enhanced status codes on every reply and a 421 before a timeout hang-up."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
from typing import Any, Protocol, cast

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, TLSSetupException, _AuthMechAttr
from aiosmtpd.smtp import log as _mail_log

from gateway import replies
from gateway.access import NetworkList
from gateway.config import GatewayConfig
from gateway.databudget import UNDECLARED_INITIAL, DataBudget, declared_size
from gateway.handler import GatewayEnvelope, GatewayHandler, hook_names
from gateway.log import get_logger
from gateway.smtpdata import read_data

log = get_logger("gateway.session")

# Seconds aiosmtpd's timer gives beyond the processing bound, so the client hears 451, not a hang-up.
PROCESSING_TIMER_MARGIN = 5.0

# A held reply is written at the latest when this much is waiting (a client pipelining thousands
# of commands gets its answers in pieces, not all at the end).
HELD_REPLY_BYTES = 4096

# ``<local@domain>`` the plain way nearly every client writes it (a dot-atom local part, a host
# name), followed by nothing or by whitespace and the parameters: aiosmtpd's general parser
# (email's RFC 5322 tokenizer, ~0.1 ms a call) returns exactly this address and the text after
# the whitespace, so such arguments take the short way. Anything else (quotes, comments, address
# literals, non-ASCII, ``<>``) still goes through aiosmtpd's own ``_getaddr``.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?:[ \t]+(?=[^ \t(])|\Z)")


class SessionHost(Protocol):
    """What a session needs of its listener (gateway.server.Listener)."""

    config: GatewayConfig
    handler: GatewayHandler
    data_budget: DataBudget
    trusted_proxies: NetworkList
    sessions: set[GatewaySMTP]

    def refusal(self) -> str | None: ...

    def session_opened(self) -> None: ...

    def session_closed(self) -> None: ...


class _Session(Session):
    # aiosmtpd itself sets the deprecated ``login_data`` on every AUTH, and its property logs a
    # deprecation warning each time; a plain attribute here takes the value silently. Nothing reads
    # it: the login is in ``auth_data`` (gateway.sasl.session_user).
    login_data: Any = None



def as_stream(transport: object) -> asyncio.Transport | None:
    """A connection's transport as a stream (read, write, pause): asyncio's and uvloop's alike, whose
    transports are not instances of asyncio's transport classes."""
    return cast(asyncio.Transport, transport) if hasattr(transport, "write") else None

class _NoHooks:
    """The handler aiosmtpd's __init__ is given: nothing for its tables to find."""

    def __dir__(self) -> list[str]:
        return []


_NO_HOOKS = _NoHooks()
_EHLO_VERSIONS: dict[Any, str | None] = {}


def _ehlo_hook_version(hook: Any) -> str | None:
    """aiosmtpd's reading of the EHLO hook's signature ("old": 4 parameters, "new": 5), once per
    hook function."""
    if hook is None:
        return None
    key = getattr(hook, "__func__", hook)
    if key not in _EHLO_VERSIONS:
        count = len(inspect.signature(hook).parameters)
        if count not in (4, 5):
            raise RuntimeError("Unsupported EHLO Hook")
        _EHLO_VERSIONS[key] = "old" if count == 4 else "new"
    return _EHLO_VERSIONS[key]


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with enhanced status codes, per-peer PROXY trust and session accounting."""

    def __init__(self, handler: GatewayHandler, listener: SessionHost, *, counted: bool = True,
                 **kwargs: Any) -> None:
        if "loop" not in kwargs:
            # aiosmtpd would look the loop up itself, under a warnings filter, per connection.
            with contextlib.suppress(RuntimeError):
                kwargs["loop"] = asyncio.get_running_loop()
        # aiosmtpd builds its command, hook and AUTH tables with inspect.getmembers/dir of the
        # protocol and the handler and asks inspect.signature of the EHLO hook, on every
        # connection (~0.1 ms). It is given a handler with nothing to find (and this class lists
        # nothing, __dir__), and the same tables are built here from the names alone.
        excluded = kwargs.get("auth_exclude_mechanism") or ()
        super().__init__(_NO_HOOKS, **kwargs)
        self.event_handler = handler
        self._handle_hooks = {n.replace("handle_", ""): getattr(handler, n) for n in hook_names(handler, ("handle_",))}
        self._ehlo_hook_ver = _ehlo_hook_version(self._handle_hooks.get("EHLO"))
        auth: dict[str, _AuthMechAttr] = {}
        for obj in (self, handler):
            for name in hook_names(obj, ("auth_",), own=obj is handler):
                method = getattr(obj, name)
                mechanism = getattr(method, "__auth_mechanism_name__", name.replace("auth_", "").replace("__", "-"))
                auth[mechanism] = _AuthMechAttr(method, obj is self)
        for mechanism in excluded:
            auth.pop(mechanism, None)
        self._auth_methods = auth
        self._smtp_methods = {n.replace("smtp_", ""): getattr(self, n) for n in hook_names(self, ("smtp_",), own=False)}
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
        self._replies: list[bytes] = []
        self._loop_ended = False  # aiosmtpd's command loop (its task) is over
        self._lost = False  # connection_lost came

    def _create_session(self) -> Session:
        return _Session(self.loop)

    def __dir__(self) -> list[str]:
        # aiosmtpd's __init__ would build its tables from dir()/inspect.getmembers of the
        # protocol: __init__ builds them itself (from hook_names).
        return []

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        match = _PLAIN_PATH.match(arg)
        if match is None:
            return super()._getaddr(arg)
        address = match.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, arg[match.end():]

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
        super().__del__()  # type: ignore[no-untyped-call]  # aiosmtpd's: retrieves a pending exception

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is None and self.transport is None:
            self._handshake_pending = False
            if not self._counted:
                # Implicit TLS, handshake done: the checks protocol_factory makes for other ports.
                refusal = self._listener.refusal()
                if refusal is not None:
                    self._refused = True
                    stream = as_stream(transport)
                    assert stream is not None
                    stream.write(refusal.encode("ascii") + b"\r\n")
                    stream.close()
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
            if self._handler_coroutine is not None:
                self._handler_coroutine.add_done_callback(self._session_over)
            return
        super().connection_made(transport)

    def _session_over(self, task: asyncio.Task[None]) -> None:
        """The command loop ended: the connection ends with it. aiosmtpd closes it on the way out of
        its loop, except when the loop is cancelled before its first step: uvloop can deliver a
        client's EOF (connect and close at once: a port probe) before the task has run, and
        aiosmtpd's eof_received cancels the task and keeps the half-closed transport open, so
        connection_lost never came and the session stayed counted against max_sessions."""
        transport = as_stream(self.transport)
        if transport is not None and not transport.is_closing():
            transport.close()
        self._loop_ended = True
        self._let_go()

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return  # never started: nothing of aiosmtpd's to tear down
        self._listener.sessions.discard(self)
        if self._counted:
            self._counted = False
            self._listener.session_closed()
        super().connection_lost(error)
        self._lost = True
        self._let_go()

    def _let_go(self) -> None:
        """Once the command loop has ended and the connection is gone, nothing uses the session
        again: drop what ties it to itself (aiosmtpd's tables of methods bound to it, the ended
        task whose CancelledError holds the loop's frames, the stream writer that points back at
        it). It is then freed at once, not left to the cyclic garbage collector (about 50 objects
        a session, collected in pauses of several ms)."""
        if not (self._loop_ended and self._lost):
            return
        self._smtp_methods = {}
        self._auth_methods = {}
        self._handler_coroutine = None
        self._client_connected_cb = None  # asyncio's StreamReaderProtocol: a method bound to it
        for name in ("_writer", "_reader"):  # aiosmtpd's streams (typed as never None)
            vars(self).pop(name, None)

    def hang_up(self, reply: str) -> None:
        """End the session now with ``reply`` (shutdown after the drain period)."""
        transport = as_stream(self.transport)
        if transport is None or transport.is_closing():
            return
        with contextlib.suppress(Exception):
            transport.write(reply.encode("ascii") + b"\r\n")
        transport.close()

    def abort(self) -> None:
        """Drop the connection without another word (shutdown, after hang_up had its chance)."""
        transport = as_stream(self.transport)
        if transport is not None:
            transport.abort()

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
            await self._receive_message(envelope)
        finally:
            self._in_data = False
            if self._grower is not None:
                self._grower.cancel()
                self._grower = None
            self._held = None
            self._listener.data_budget.release(self._reserved)
            self._reserved = 0

    async def _receive_message(self, envelope: Envelope) -> None:
        """aiosmtpd's DATA with the gateway's own reader (see gateway/smtpdata.py)."""
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            received = await read_data(self._reader, max_size=self.data_size_limit,
                                       bare_line_endings=self._listener.config.server.bare_line_endings)
        except asyncio.CancelledError:
            self._writer.close()  # the connection went away during DATA, as aiosmtpd does
            raise
        self.data_size_known(len(received.data or b""))
        if received.refusal is not None:
            log.warning("data_refused", peer=self.session.peer if self.session else None,
                        mail_from=envelope.mail_from, rcpt_tos=envelope.rcpt_tos, size=received.size,
                        bare_line_endings=received.bare_line_endings, reply=received.refusal)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push(received.refusal)
            return
        envelope.content = envelope.original_content = received.data
        if isinstance(envelope, GatewayEnvelope):
            envelope.bare_line_endings = received.bare_line_endings
            envelope.long_lines = received.long_lines
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    def _create_envelope(self) -> Envelope:
        return GatewayEnvelope()

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
        transport = as_stream(self.transport)
        if transport is not None and transport.is_reading():
            transport.pause_reading()

    async def _grow(self, want: int) -> None:
        got = await self._listener.data_budget.reserve(want, self._budget_wait())
        if not self._in_data:  # the session ended meanwhile
            if got is not None:
                self._listener.data_budget.release(got)
            return
        self._grower = None
        transport = as_stream(self.transport)
        if got is None:
            log.warning("data_budget_exhausted", peer=self.session.peer if self.session else None,
                        wanted=want, in_flight=self._listener.data_budget.used)
            if transport is not None and not transport.is_closing():
                transport.write(replies.DATA_BUDGET_CLOSING.encode("ascii") + b"\r\n")
                transport.close()
            return
        self._reserved += got
        held, self._held = self._held or [], None
        for chunk in held:
            super().data_received(chunk)
        if transport is not None and not transport.is_closing():
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
        transport = as_stream(self.transport)
        if transport is not None and not transport.is_closing():
            transport.write(f"421 4.4.2 {self.hostname} Error: timeout exceeded\r\n".encode("ascii"))
        super()._timeout_cb()  # type: ignore[no-untyped-call]

    async def push(self, status: Any) -> None:
        """One reply line. Lines are written together where SMTP allows it, one send instead of
        several: the continuation lines of a multi-line reply (EHLO) with its last line, and,
        while the client has pipelined further commands (RFC 2920: the server may hold replies
        until it would wait for input), 250 replies with the next. Nothing is held once no
        complete command is waiting, so a client never waits for a reply it is owed."""
        if isinstance(status, str):
            status = "\r\n".join(replies.with_enhanced_code(line) for line in status.split("\r\n"))
            line = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
        else:
            line = bytes(status)
        if self.session is not None:
            _mail_log.debug("%r << %r", self.session.peer, line)
        held = self._replies
        held.append(line + b"\r\n")
        last = line.rpartition(b"\r\n")[2]
        if last[3:4] == b"-" or (last[:4] == b"250 " and self._command_waiting()
                                 and sum(map(len, held)) < HELD_REPLY_BYTES):
            return
        self._replies = []
        self._writer.write(b"".join(held))
        await self._writer.drain()

    def _command_waiting(self) -> bool:
        """A complete command line is already read and waiting (the client pipelines)."""
        buffer = getattr(self._reader, "_buffer", None)
        return isinstance(buffer, bytearray) and b"\n" in buffer

