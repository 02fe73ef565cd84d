"""An upstream connection's transactions: MAIL, RCPT and DATA, pipelined where the upstream offers it.

aiosmtplib opens the connection (greeting, EHLO, STARTTLS, AUTH: see ``pool``) and then hands
its transport to an :class:`UpstreamConnection`, which runs the transactions. aiosmtplib (5.x)
has no PIPELINING: its protocol reads one reply per command and drops what arrives unasked, so
every MAIL, RCPT and DATA, and the RSET it needs before each reuse, cost a round trip of their
own (five per message, each a send, a wake-up and a task switch on the event loop).

Here, with RFC 2920 PIPELINING, the envelope goes out as one write (MAIL, every RCPT, DATA) and
the content as a second one: two round trips per message. Without it, one command per round trip,
as before. RSET is sent only when the previous transaction did not end cleanly (RFC 5321 4.1.4: a
new MAIL may follow a completed transaction); pipelined, it rides in front of the next MAIL.

The spool holds only CRLF-terminated lines (``spool.records.check_data``), so the content needs no
line-ending repair: it is dot-stuffed only when a line starts with a dot, and is otherwise written
as stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from dataclasses import dataclass

from aiosmtplib import SMTPReadTimeoutError, SMTPResponseException, SMTPServerDisconnected

MAX_LINE = 8192
MAX_REPLY = MAX_LINE * 4  # a whole reply, continuation lines included: bounds memory
# Below this, the content and its final dot go out as one write (one copy, one send); above it,
# as two writes, so a large message is not copied once more.
JOIN_BELOW = 256 * 1024
_DOT_AFTER_LF = re.compile(rb"\n\.")
# What may not appear on a command line, outside a quoted local part: whitespace ends the
# address (and could smuggle parameters), angle brackets and quotes break the path.
_QUOTED_LOCAL = re.compile(r'^"(?:[^"\\\r\n]|\\.)*"')
_NOT_IN_PATH = re.compile(r'[\s<>"\x00-\x1f\x7f]')


@dataclass(frozen=True, slots=True)
class Answer:
    """One SMTP reply: its code and its text (continuation lines joined by newlines)."""

    code: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


def path_problem(address: str) -> str | None:
    """Why ``address`` cannot go on a MAIL or RCPT line as ``<address>``; None if it can."""
    if _NOT_IN_PATH.search(_QUOTED_LOCAL.sub("", address, count=1)):
        return "address contains characters not allowed in an SMTP path"
    return None


def path(address: str, encoding: str) -> bytes:
    """``<address>`` for MAIL or RCPT; ``""`` and ``"<>"`` are the null reverse-path."""
    if address in ("", "<>"):
        return b"<>"
    return b"<" + address.encode(encoding) + b">"


def content(data: bytes) -> bytes:
    """``data`` as sent after the 354: dot-stuffed, ending in CRLF (the final dot not included).

    Every line ends in CRLF, so a line that starts with a dot follows an LF. Found with a plain
    regex search (3 us for 4 KB; ``b"\\n." in data`` takes 7 and aiosmtplib's multi-line ``^\\.``
    85) and doubled with bytes.replace.
    """
    if data.startswith(b"."):
        data = b"." + data
    if _DOT_AFTER_LF.search(data) is not None:
        data = data.replace(b"\n.", b"\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


class UpstreamConnection(asyncio.Protocol):
    """A set-up upstream connection (after EHLO and any STARTTLS/AUTH), reused for many messages.

    Replies are parsed as they arrive and queued in order, so a pipelined group's replies can be
    read together. ``needs_rset``: the last transaction did not end cleanly, so the next one
    starts with RSET.
    """

    def __init__(self, extensions: dict[str, str]) -> None:
        self.extensions = {name.lower() for name in extensions}
        self.pipelining = "pipelining" in self.extensions
        self.transport: asyncio.Transport | None = None
        self.needs_rset = False
        self._buffer = bytearray()
        self._answers: deque[Answer] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._expired: asyncio.Future[None] | None = None  # the waiter whose read timed out
        self._deadline = 0.0  # of the read waiting now (loop.time())
        self._timer: asyncio.TimerHandle | None = None
        self._error: Exception | None = None

    @classmethod
    def take_over(cls, transport: asyncio.BaseTransport, extensions: dict[str, str]) -> UpstreamConnection:
        """Run the rest of the session on ``transport`` (aiosmtplib's, after its set-up)."""
        conn = cls(extensions)
        conn.transport = transport  # type: ignore[assignment]  # a stream transport, plain or TLS
        transport.set_protocol(conn)
        return conn

    def supports(self, extension: str) -> bool:
        return extension.lower() in self.extensions

    @property
    def is_connected(self) -> bool:
        return self.transport is not None and not self.transport.is_closing() and self._error is None

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer.extend(data)
        start = 0
        code = -1
        lines: list[str] = []
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = bytes(buffer[start:end + 1])
            start = end + 1
            try:
                if len(line) > MAX_LINE:
                    raise ValueError("reply line too long")
                code = int(line[:3])
            except ValueError:
                self._fail(SMTPResponseException(-1, f"Malformed SMTP response line: "
                                                     f"{line[:200].decode('utf-8', 'replace')!r}"))
                return
            lines.append(line[4:].strip(b" \t\r\n").decode("utf-8", "surrogateescape"))
            if line[3:4] != b"-":
                self._answers.append(Answer(code, "\n".join(lines)))
                lines = []
                del buffer[:start]
                start = 0
        if len(buffer) > MAX_REPLY:
            self._fail(SMTPResponseException(-1, "Response too long"))
            return
        if self._answers:
            self._wake()

    def eof_received(self) -> bool:
        self._fail(SMTPServerDisconnected("Unexpected EOF received"))
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        lost = SMTPServerDisconnected("Connection lost")
        if exc is not None:
            lost.__cause__ = exc
        self._fail(lost)
        self.transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, exc: Exception) -> None:
        if self._error is None:
            self._error = exc
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- commands ---------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if not self.is_connected:
            raise self._error or SMTPServerDisconnected("Connection lost")
        assert self.transport is not None
        self._answers.clear()  # nothing is asked before this: whatever came is not an answer
        self.transport.write(data)

    def send_content(self, data: bytes) -> None:
        """The message content and its final dot (``data`` already dot-stuffed)."""
        if len(data) < JOIN_BELOW:
            self.send(data + b".\r\n")
        else:
            self.send(data)
            assert self.transport is not None
            self.transport.write(b".\r\n")

    async def read(self, timeout: float) -> Answer:
        """The next reply; SMTPServerDisconnected or SMTPReadTimeoutError if none comes.

        The caller knows how many replies it asked for and reads each in turn; a timeout or a
        lost connection leaves the session in an unknown state, so the connection is closed.
        """
        while not self._answers:
            if self._error is not None:
                raise self._error
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            self._deadline = deadline = loop.time() + timeout
            # One timer per connection, moved only when a read must end sooner than it fires
            # (a timer per read, or asyncio.wait_for, cost more than the rest of the read).
            if self._timer is None or self._timer.when() > deadline:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = loop.call_at(deadline, self._check_deadline)
            try:
                await waiter
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self._expired is waiter and (task is None or not task.cancelling()):
                    self.close()
                    raise SMTPReadTimeoutError("Timed out waiting for server response") from None
                raise  # the caller itself was cancelled
            finally:
                self._waiter = None
        return self._answers.popleft()

    def _check_deadline(self) -> None:
        """The timer fired: the read waiting now times out if its deadline passed; else the timer
        is set for that deadline (no read waiting: no timer until the next one)."""
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        loop = asyncio.get_running_loop()
        if loop.time() >= self._deadline:
            self._expired = waiter
            waiter.cancel()
        else:
            self._timer = loop.call_at(self._deadline, self._check_deadline)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._error is None:
            self._error = SMTPServerDisconnected("Connection closed")
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    async def quit(self, timeout: float) -> None:
        """QUIT politely (the reply is waited for up to ``timeout``), then close."""
        with contextlib.suppress(SMTPServerDisconnected, SMTPReadTimeoutError, SMTPResponseException,
                                 OSError):
            self.send(b"QUIT\r\n")
            await self.read(timeout)
        self.close()
