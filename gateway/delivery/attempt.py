"""One delivery attempt of one message: over SMTP to the upstream, or into the Maildir outbox.

The result is a reply per recipient: an SMTP code (None: no answer at all, always temporary) and
text. MAIL, RCPT (one per recipient) and DATA are issued separately so every recipient gets its own.
"""

from __future__ import annotations

import asyncio
import mailbox
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtplib import (
    SMTPDataError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPSenderRefused,
)

from gateway.config import UpstreamConfig
from gateway.delivery.pool import Lease, UpstreamPool
from gateway.fsutil import fsync_dir
from gateway.spool import SpooledMessage

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Reply:
    """One recipient's outcome of an attempt: an SMTP code (None: no answer at all) and text."""

    code: int | None
    text: str

    @property
    def line(self) -> str:
        return f"{self.code} {self.text}" if self.code is not None else self.text


def address_ok(address: str) -> bool:
    return _CONTROL.search(address) is None


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
    try:
        lease = await pool.acquire()
    except SMTPResponseException as exc:  # greeting, EHLO, STARTTLS or AUTH refused
        replies.update(dict.fromkeys(rcpts, Reply(None, f"4.4.0 upstream session failed: {exc.code} "
                                                        f"{exc.message}")))
        return
    except (SMTPException, OSError, ValueError) as exc:
        replies.update(dict.fromkeys(rcpts, Reply(None, f"4.4.1 cannot connect to upstream: {exc}")))
        return
    handle.took(lease)
    client = lease.client
    reusable = False
    try:
        encoding = "ascii"
        options: list[str] = []
        if not all(a.isascii() for a in (msg.mail_from, *rcpts)):
            if not client.supports_extension("smtputf8"):
                reusable = True
                replies.update(dict.fromkeys(rcpts, Reply(553, "5.6.7 upstream does not support SMTPUTF8")))
                return
            encoding = "utf-8"
            options.append("SMTPUTF8")
        if client.supports_extension("8bitmime") and not msg.data.isascii():
            options.append("BODY=8BITMIME")
        if client.supports_extension("size"):
            options.append(f"SIZE={len(msg.data)}")
        try:
            await client.mail(msg.mail_from, options=options, encoding=encoding)
        except SMTPSenderRefused as exc:
            reusable = True
            replies.update(dict.fromkeys(rcpts, Reply(exc.code, exc.message)))
            return
        accepted = []
        for rcpt in rcpts:
            try:
                await client.rcpt(rcpt, encoding=encoding)
            except SMTPRecipientRefused as exc:
                replies[rcpt] = Reply(exc.code, exc.message)
            else:
                accepted.append(rcpt)
        if not accepted:
            reusable = True  # RSET comes with the next acquire
            return
        try:
            # The long data timeout covers the 354 and the reply to the final dot (aiosmtplib
            # uses one timeout for both): an upstream that is slow to say 250 has probably stored
            # the message, and giving up on it means sending it again.
            response = await client.data(msg.data, timeout=upstream.data_timeout)
        except SMTPDataError as exc:
            reply = Reply(exc.code, exc.message)
        else:
            reply = Reply(response.code, response.message)
        replies.update(dict.fromkeys(accepted, reply))
        reusable = True
    except (SMTPException, OSError, ValueError) as exc:
        # Timeout, disconnect or protocol trouble mid-transaction (ValueError: the client refused
        # to encode something): the session state is unknown, so the connection is dropped, and
        # whatever is not yet answered is temporary.
        text = f"4.4.2 upstream connection failed: {type(exc).__name__}: {exc}"
        for rcpt in rcpts:
            replies.setdefault(rcpt, Reply(None, text))
    finally:
        handle.finished = True
        lease.release(reusable)


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
