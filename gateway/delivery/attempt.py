"""One delivery attempt of one message: over SMTP to the upstream, or into the Maildir outbox.

The result is a reply per recipient: an SMTP code (None: no answer at all, always temporary) and
text. MAIL, RCPT (one per recipient) and DATA get a reply each, so every recipient gets its own;
they are pipelined where the upstream offers it (see ``wire``).
"""

from __future__ import annotations

import asyncio
import mailbox
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtplib import SMTPException, SMTPResponseException, SMTPServerDisconnected

from gateway.config import UpstreamConfig
from gateway.delivery.pool import Lease, UpstreamPool
from gateway.delivery.wire import Answer, UpstreamConnection, content, path, path_problem
from gateway.fsutil import fsync_dir
from gateway.spool import SpooledMessage


@dataclass(frozen=True)
class Reply:
    """One recipient's outcome of an attempt: an SMTP code (None: no answer at all) and text."""

    code: int | None
    text: str

    @property
    def line(self) -> str:
        return f"{self.code} {self.text}" if self.code is not None else self.text


def address_ok(address: str) -> bool:
    """Can ``address`` go on a MAIL or RCPT line? No control characters, and no whitespace,
    angle brackets or quotes outside a quoted local part; the null sender can."""
    return address in ("", "<>") or path_problem(address) is None


@dataclass
class AttemptHandle:
    """What the service can do to an attempt from outside: park it when it stalls."""

    parked: bool = False
    lease: Lease | None = field(default=None, repr=False)
    finished: bool = False  # the upstream transaction is over (recording may still wait)

    @property
    def on_the_wire(self) -> bool:
        """Holding a connection and waiting for the upstream: what a stall looks like."""
        return self.lease is not None and not self.finished

    def took(self, lease: Lease) -> None:
        self.lease = lease
        if self.parked:
            lease.detach()

    def park(self) -> None:
        self.parked = True
        if self.lease is not None:
            self.lease.detach()


def attempt_deadline(upstream: UpstreamConfig, recipients: int) -> float:
    """Seconds one SMTP attempt may take in all: each step's own timeout, added up."""
    return (upstream.connect_timeout + upstream.data_timeout
            + upstream.command_timeout * (4 + recipients))  # EHLO/STARTTLS/AUTH, RSET, MAIL, RCPTs


async def attempt_smtp(pool: UpstreamPool, upstream: UpstreamConfig, msg: SpooledMessage,
                       rcpts: list[str], handle: AttemptHandle) -> dict[str, Reply]:
    """Relay ``msg`` to ``rcpts`` over one pooled connection, within the attempt's deadline."""
    replies: dict[str, Reply] = {}
    try:
        async with asyncio.timeout(attempt_deadline(upstream, len(rcpts))):
            await _transaction(pool, upstream, msg, rcpts, handle, replies)
    except TimeoutError:
        pass  # whatever has no answer yet is temporary, below
    text = "4.4.2 upstream did not finish the transaction in time"
    for rcpt in rcpts:
        replies.setdefault(rcpt, Reply(None, text))
    return replies


async def _transaction(pool: UpstreamPool, upstream: UpstreamConfig, msg: SpooledMessage,
                       rcpts: list[str], handle: AttemptHandle, replies: dict[str, Reply]) -> None:
    fresh = False
    while True:
        try:
            lease = await pool.acquire(fresh=fresh)
        except SMTPResponseException as exc:  # greeting, EHLO, STARTTLS or AUTH refused
            replies.update(dict.fromkeys(rcpts, Reply(None, f"4.4.0 upstream session failed: {exc.code} "
                                                            f"{exc.message}")))
            return
        except (SMTPException, OSError, ValueError) as exc:
            replies.update(dict.fromkeys(rcpts, Reply(None, f"4.4.1 cannot connect to upstream: {exc}")))
            return
        handle.took(lease)
        reusable = False
        stale = False
        try:
            # Only a reused connection, and only once: a new one that dies unanswered is the
            # upstream's trouble, temporary for this attempt.
            reusable, stale = await _exchange(lease.conn, upstream, msg, rcpts, replies,
                                              may_be_stale=lease.reused and not fresh)
        finally:
            if not stale:
                handle.finished = True
            lease.release(reusable)
        if not stale:
            return
        # A reused connection that had died while idle (the upstream closed it, or restarted):
        # nothing of this transaction reached it, so it runs again on a new connection.
        fresh = True


async def _exchange(conn: UpstreamConnection, upstream: UpstreamConfig, msg: SpooledMessage,
                    rcpts: list[str], replies: dict[str, Reply], may_be_stale: bool) -> tuple[bool, bool]:
    """MAIL, RCPT (one per recipient) and DATA on ``conn``: (reusable, stale).

    ``stale`` (only where ``may_be_stale``): the connection was found dead before the upstream
    answered anything of this transaction, so the message may be tried again on another
    connection at once; ``replies`` are then left empty.
    """
    answered = False
    try:
        encoding = "ascii"
        options: list[bytes] = []
        if not all(a.isascii() for a in (msg.mail_from, *rcpts)):
            if not conn.supports("smtputf8"):
                replies.update(dict.fromkeys(rcpts, Reply(553, "5.6.7 upstream does not support SMTPUTF8")))
                return True, False
            encoding = "utf-8"
            options.append(b" SMTPUTF8")
        if conn.supports("8bitmime") and not msg.data.isascii():
            options.append(b" BODY=8BITMIME")
        if conn.supports("size"):
            options.append(b" SIZE=%d" % len(msg.data))
        envelope = [b"MAIL FROM:" + path(msg.mail_from, encoding) + b"".join(options) + b"\r\n"]
        envelope += [b"RCPT TO:" + path(rcpt, encoding) + b"\r\n" for rcpt in rcpts]
        timeout = upstream.command_timeout
        pipelined = conn.pipelining
        rset = conn.needs_rset
        conn.needs_rset = True  # until this transaction has ended cleanly
        if pipelined:
            # RFC 2920: the envelope and DATA in one group (RSET in front when needed); their
            # replies come back in order.
            conn.send((b"RSET\r\n" if rset else b"") + b"".join(envelope) + b"DATA\r\n")
        elif rset:
            conn.send(b"RSET\r\n")
        if rset:
            answer = await conn.read(timeout)
            answered = True
            if not answer.ok:
                raise SMTPResponseException(answer.code, f"RSET refused: {answer.text}")
        if not pipelined:
            conn.send(envelope[0])
        mail = await conn.read(timeout)
        answered = True
        accepted = []
        for rcpt, line in zip(rcpts, envelope[1:], strict=True):
            if not pipelined:
                if not mail.ok:
                    break
                conn.send(line)
            answer = await conn.read(timeout)
            if not mail.ok:
                continue  # the sender's refusal is every recipient's reply (below)
            if answer.code in (250, 251):
                accepted.append(rcpt)
            else:
                replies[rcpt] = Reply(answer.code, answer.text)
        if not mail.ok:
            replies.update(dict.fromkeys(rcpts, Reply(mail.code, mail.text)))
        if not pipelined and not accepted:
            return _closing(conn, mail), False  # DATA is not sent; RSET comes with the next one
        if not pipelined:
            conn.send(b"DATA\r\n")
        go_ahead = await conn.read(timeout)
        if go_ahead.code != 354:
            if accepted:
                replies.update(dict.fromkeys(accepted, Reply(go_ahead.code, go_ahead.text)))
            return _closing(conn, go_ahead), False
        if not accepted:
            # A 354 although nobody is to receive it (RFC 2920 3.1): end it with the dot alone.
            conn.send(b".\r\n")
            await conn.read(upstream.data_timeout)
            return conn.is_connected, False
        # The long data timeout covers the reply to the final dot: an upstream that is slow to
        # say 250 has probably stored the message, and giving up on it means sending it again.
        conn.send_content(content(msg.data))
        final = await conn.read(upstream.data_timeout)
        replies.update(dict.fromkeys(accepted, Reply(final.code, final.text)))
        conn.needs_rset = not final.ok
        return _closing(conn, final), False
    except (SMTPException, OSError, ValueError) as exc:
        # Timeout, disconnect or protocol trouble mid-transaction (ValueError: an address that
        # cannot be encoded): the session state is unknown, so the connection is dropped, and
        # whatever is not yet answered is temporary.
        conn.close()
        if may_be_stale and not answered and isinstance(exc, SMTPServerDisconnected) and not replies:
            return False, True
        text = f"4.4.2 upstream connection failed: {type(exc).__name__}: {exc}"
        for rcpt in rcpts:
            replies.setdefault(rcpt, Reply(None, text))
        return False, False


def _closing(conn: UpstreamConnection, answer: Answer) -> bool:
    """Whether ``conn`` can carry another transaction after ``answer`` (421: the upstream is closing)."""
    if answer.code == 421:
        conn.close()
    return conn.is_connected


def write_maildir(outbox: Path, queue_id: str, attempt: int, hostname: str, mail_from: str,
                  rcpt_tos: Sequence[str], data: bytes) -> str:
    """Deliver into ``outbox`` (a Maildir): write and fsync in tmp/, rename into new/, fsync new/.

    ``mailbox.Maildir.add`` does the tmp/-then-new/ dance but never fsyncs, so a crash could leave an
    empty or short file in new/; hence the file is written here, in the same layout.
    """
    mailbox.Maildir(outbox, create=True)  # creates cur/, new/, tmp/ if missing
    prefix = f"Return-Path: <{mail_from}>\r\nX-Original-To: {', '.join(rcpt_tos)}\r\n"
    prefix += "".join(f"Delivered-To: {r}\r\n" for r in rcpt_tos)
    name = f"{int(time.time())}.Q{queue_id}A{attempt}P{os.getpid()}.{hostname.replace('/', '_')}"
    tmp_path = outbox / "tmp" / name
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(prefix.encode("utf-8") + data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp_path, outbox / "new" / name)
    fsync_dir(outbox / "new")
    return name


async def attempt_maildir(outbox: Path, hostname: str, msg: SpooledMessage, rcpts: list[str],
                          attempt: int) -> dict[str, Reply]:
    try:
        name = await asyncio.to_thread(write_maildir, outbox, msg.queue_id, attempt, hostname,
                                       msg.mail_from, rcpts, msg.data)
    except OSError as exc:
        return dict.fromkeys(rcpts, Reply(None, f"4.3.0 cannot write to outbox {outbox}: {exc}"))
    return dict.fromkeys(rcpts, Reply(250, f"2.0.0 delivered to maildir as {name}"))
