"""Delivery: relay spooled messages to the upstream over pooled connections, with retries and DSNs.

A scheduler task picks due messages from the spool and hands them to ``DeliveryConfig.workers``
worker tasks. Each worker borrows a connection from a pool of at most ``UpstreamConfig.pool_size``
aiosmtplib connections (RSET before every reused transaction), runs MAIL / RCPT per recipient /
DATA itself so every recipient gets its own result, and records the attempt in the spool in one
durable commit straight after the upstream's reply. With no upstream host the message goes into a
local Maildir outbox instead.

Outcomes per recipient: 2xx -> delivered; 5xx -> failed (DSN to the sender); 4xx, timeouts and
connection problems -> retried with exponential backoff until ``give_up_after``, then failed with
status 4.4.7. Problems before MAIL (connect, TLS, AUTH) are always temporary: a misconfigured or
unreachable upstream must not bounce mail.

Duplicate window: between the upstream's 250 to DATA and the spool commit that marks the recipients
delivered (one group commit, normally a few milliseconds). A crash there makes the message go out
again after restart. Workers do not wait for that commit before their next message, but at most two
results per worker may be awaiting it, so a crash re-sends at most 3 x workers messages (a test
SIGKILLs a delivering process and checks this). ``stop()`` waits for every pending commit. Nothing
is ever lost: a message leaves the pending state only in that commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import mailbox
import os
import re
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtplib import (
    SMTPDataError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPSenderRefused,
)

from gateway.config import DeliveryConfig, UpstreamConfig
from gateway.dsn_report import FailedRecipient, build_dsn, status_from_reply
from gateway.fsutil import fsync_dir
from gateway.log import get_logger
from gateway.spool import NewMessage, RecipientResult, Spool, SpooledMessage, SpoolError

log = get_logger("gateway.delivery")

PURGE_EVERY = 3600.0  # seconds between sweeps of finished entries older than keep_finished

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Meta keys that would clash with the attempt log's own fields.
_RESERVED_LOG_KEYS = frozenset({"event", "queue_id", "attempt", "recipients", "outcome", "reply",
                                "next_retry", "level", "timestamp", "dsn_queue_id"})


@dataclass(frozen=True)
class _Reply:
    """One recipient's outcome of an attempt: an SMTP code (None: no answer at all) and text."""

    code: int | None
    text: str

    @property
    def line(self) -> str:
        return f"{self.code} {self.text}" if self.code is not None else self.text


def backoff(attempt: int, delivery: DeliveryConfig) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    return float(min(delivery.retry_max, delivery.retry_initial * delivery.retry_factor ** (attempt - 1)))


def _address_ok(address: str) -> bool:
    return _CONTROL.search(address) is None


class _Pool:
    """At most ``size`` upstream connections; idle ones are reused after an RSET."""

    def __init__(self, upstream: UpstreamConfig, hostname: str, tls_context: ssl.SSLContext | None,
                 password: str | None, idle_timeout: float) -> None:
        self._upstream = upstream
        self._hostname = hostname
        self._tls_context = tls_context
        self._password = password
        self._idle_timeout = idle_timeout
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._slots = asyncio.Semaphore(upstream.pool_size)
        self.opened = 0

    def _new_client(self) -> aiosmtplib.SMTP:
        up = self._upstream
        start_tls: bool | None = {"none": False, "opportunistic": None, "starttls": True,
                                  "implicit": False}[up.tls]
        assert up.host is not None
        return aiosmtplib.SMTP(
            hostname=up.host, port=up.port, local_hostname=up.helo_name or self._hostname,
            timeout=up.command_timeout, use_tls=up.tls == "implicit", start_tls=start_tls,
            tls_context=self._tls_context if up.tls != "none" else None,
            username=up.username, password=self._password)

    async def acquire(self) -> aiosmtplib.SMTP:
        await self._slots.acquire()
        try:
            while self._idle:
                client, since = self._idle.pop()
                if not client.is_connected or time.monotonic() - since > self._idle_timeout:
                    client.close()
                    continue
                try:
                    await client.rset()
                except (SMTPException, OSError):
                    client.close()  # went stale while idle; not this message's problem
                    continue
                return client
            client = self._new_client()
            await client.connect(timeout=self._upstream.connect_timeout)
            self.opened += 1
            return client
        except BaseException:
            self._slots.release()
            raise

    def release(self, client: aiosmtplib.SMTP, reusable: bool) -> None:
        if reusable and client.is_connected:
            self._idle.append((client, time.monotonic()))
        else:
            client.close()
        self._slots.release()

    def reap(self) -> None:
        now = time.monotonic()
        keep = []
        for client, since in self._idle:
            if client.is_connected and now - since <= self._idle_timeout:
                keep.append((client, since))
            else:
                client.close()
        self._idle = keep

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            with contextlib.suppress(SMTPException, OSError, TimeoutError):
                async with asyncio.timeout(2.0):
                    await client.quit()
            client.close()


def _build_tls_context(upstream: UpstreamConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=str(upstream.ca_file) if upstream.ca_file else None)
    if not upstream.verify_certificate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _write_maildir(outbox: Path, queue_id: str, attempt: int, hostname: str, mail_from: str,
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


class DeliveryAlreadyRunning(RuntimeError):
    """Another DeliveryService holds this spool's delivery lock."""


def _lock_spool(directory: Path) -> int:
    fd = os.open(directory / "delivery.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DeliveryAlreadyRunning(f"another delivery service is running on {directory}") from None
    return fd


class DeliveryService:
    """Delivers what the spool holds; ``notify()`` after each put for immediate delivery."""

    def __init__(self, spool: Spool, upstream: UpstreamConfig, delivery: DeliveryConfig, *,
                 outbox: Path, hostname: str, routes: Mapping[str, UpstreamConfig] | None = None) -> None:
        self._spool = spool
        self._upstream = upstream
        # Tenants with their own upstream: meta["tenant"] -> upstream; the rest use ``upstream``.
        self._routes: dict[str, UpstreamConfig] = dict(routes or {})
        self._pools: dict[str, _Pool] = {}
        self._pool_lock = asyncio.Lock()
        self._delivery = delivery
        self._outbox = outbox
        self._hostname = hostname
        self._wake = asyncio.Event()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._inflight: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._scheduler: asyncio.Task[None] | None = None
        self._stopping = False
        self._poll_requested = False
        self._recording: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._lock_fd: int | None = None
        # Results awaiting their commit are the duplicate window (see module doc): at most two per
        # worker, so at most 3 x workers messages can go out twice after a crash.
        self._recording_slots = asyncio.Semaphore(delivery.workers * 2)

    def upstream_for(self, msg: SpooledMessage) -> UpstreamConfig:
        tenant = msg.meta.get("tenant")
        return self._routes.get(tenant, self._upstream) if isinstance(tenant, str) else self._upstream

    async def _pool_for(self, upstream: UpstreamConfig) -> _Pool:
        """One pool of reused connections per distinct upstream (tenants may share one)."""
        key = upstream.model_dump_json()
        pool = self._pools.get(key)
        if pool is not None:
            return pool
        async with self._pool_lock:
            pool = self._pools.get(key)
            if pool is None:
                tls_context = (await asyncio.to_thread(_build_tls_context, upstream)
                               if upstream.tls != "none" else None)
                password = await asyncio.to_thread(upstream.resolved_password)
                pool = _Pool(upstream, self._hostname, tls_context, password, upstream.pool_idle_timeout)
                self._pools[key] = pool
            return pool

    async def reconfigure(self, upstream: UpstreamConfig, routes: Mapping[str, UpstreamConfig]) -> None:
        """New upstreams after a reload; pools of upstreams no longer used are closed."""
        self._upstream, self._routes = upstream, dict(routes)
        wanted = {u.model_dump_json() for u in (upstream, *routes.values())}
        for key in [k for k in self._pools if k not in wanted]:
            await self._pools.pop(key).close()

    @property
    def connections_opened(self) -> int:
        return sum(pool.opened for pool in self._pools.values())

    async def start(self) -> None:
        """Start workers; whatever an earlier run left pending is picked up by the first poll.

        Raises DeliveryAlreadyRunning if another service (in any process) delivers this spool:
        two would send the same messages.
        """
        self._lock_fd = await asyncio.to_thread(_lock_spool, self._spool.directory)
        try:
            if self._upstream.host is not None:
                await self._pool_for(self._upstream)  # a bad TLS or password file shows at start-up
        except BaseException:
            os.close(self._lock_fd)  # bad CA file, unreadable password file: free the lock
            self._lock_fd = None
            raise
        self._stopping = False
        self._tasks = [asyncio.create_task(self._worker(), name=f"delivery-worker-{i}")
                       for i in range(self._delivery.workers)]
        self._scheduler = asyncio.create_task(self._schedule(), name="delivery-scheduler")
        log.info("delivery.started", upstream=self._upstream.host or f"maildir:{self._outbox}",
                 workers=self._delivery.workers, pending=await self._spool.depth())

    def notify(self) -> None:
        self._wake.set()

    async def stop(self, timeout: float = 30.0) -> None:
        """Let in-flight deliveries finish (up to ``timeout``), then close pooled connections."""
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
        # Queued but not started: leave them pending in the spool for the next run.
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                self._inflight.discard(item)
        for _ in self._tasks:
            self._queue.put_nowait(None)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("delivery.stop_cancelled", in_flight=len(pending))
                await asyncio.wait(pending)
        self._tasks = []
        if self._background:
            await asyncio.wait(set(self._background))
        if self._recording:
            # Never cancelled: each records an upstream reply that has already happened.
            await asyncio.wait(set(self._recording))
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
        log.info("delivery.stopped")

    # -- scheduling -------------------------------------------------------------------------------

    async def _schedule(self) -> None:
        while not self._stopping:
            try:
                await self._schedule_loop()
            except Exception as exc:  # a bug must not silently end delivery
                log.exception("delivery.scheduler_error", error=str(exc))
                await asyncio.sleep(self._delivery.poll_interval)

    async def _schedule_loop(self) -> None:
        capacity = self._delivery.workers * 2
        next_poll = 0.0  # poll the database at once: an earlier run may have left work
        next_purge = 0.0
        while not self._stopping:
            self._wake.clear()
            room = capacity - self._queue.qsize()
            if room > 0:
                # Fresh puts come from memory; the database is polled for retries and leftovers.
                room -= self._enqueue(self._spool.take_fresh(room))
            if self._spool.fresh_overflowed:
                self._spool.fresh_overflowed = False
                self._poll_requested = True
            now = time.time()
            if room > 0 and (self._poll_requested or now >= next_poll):
                self._poll_requested = False
                next_poll = now + self._delivery.poll_interval
                try:
                    ids, next_at = await self._spool.due(now, room, frozenset(self._inflight))
                except SpoolError as exc:
                    log.error("delivery.poll_failed", error=str(exc))
                    ids, next_at = [], None
                self._enqueue(ids)
                if next_at is not None:
                    next_poll = min(next_poll, next_at)
                if len(ids) == room:
                    self._poll_requested = True  # more may be due once workers made room
            for pool in self._pools.values():
                pool.reap()
            if now >= next_purge:
                next_purge = now + PURGE_EVERY
                self._purge(now - self._delivery.keep_finished)
            if room <= 0:
                # Workers are saturated; each one wakes us when it frees a slot. (Waiting on an
                # overdue next_poll here would spin the loop.)
                wait = self._delivery.poll_interval
            else:
                wait = max(0.0, min(next_poll - time.time(), self._delivery.poll_interval))
                if self._poll_requested:
                    wait = min(wait, 0.05)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    def _purge(self, cutoff: float) -> None:
        async def purge() -> None:
            try:
                removed = await self._spool.purge_finished(cutoff)
            except SpoolError as exc:
                log.warning("delivery.purge_failed", error=str(exc))
            else:
                if removed:
                    log.info("delivery.purged", finished_entries=removed)

        task = asyncio.create_task(purge())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _enqueue(self, ids: list[str]) -> int:
        added = 0
        for queue_id in ids:
            if queue_id not in self._inflight:
                self._inflight.add(queue_id)
                self._queue.put_nowait(queue_id)
                added += 1
        return added

    async def _worker(self) -> None:
        while True:
            queue_id = await self._queue.get()
            if queue_id is None:
                return
            recording = False
            try:
                recording = await self._deliver(queue_id)
            except Exception as exc:  # a bug or a spool failure: keep the worker alive
                log.exception("delivery.error", queue_id=queue_id, error=str(exc))
                await asyncio.sleep(self._delivery.retry_initial)
            finally:
                if not recording:
                    self._inflight.discard(queue_id)
                    self._wake.set()

    # -- one attempt ------------------------------------------------------------------------------

    async def _deliver(self, queue_id: str) -> bool:
        """One attempt. Returns True once a recording task owns the message's in-flight mark."""
        msg = await self._spool.load(queue_id)
        if msg is None or not msg.pending:
            return False
        if msg.next_attempt > time.time() + 0.01:
            return False  # picked from a snapshot taken before its last attempt was recorded
        attempt = msg.attempts + 1
        replies: dict[str, _Reply] = {}
        if not _address_ok(msg.mail_from):
            for rcpt in msg.pending:
                replies[rcpt] = _Reply(553, "5.1.7 sender address contains control characters")
        else:
            good = []
            for rcpt in msg.pending:
                if _address_ok(rcpt):
                    good.append(rcpt)
                else:
                    replies[rcpt] = _Reply(553, "5.1.3 recipient address contains control characters")
            if good:
                upstream = self.upstream_for(msg)
                if upstream.host is None:
                    replies.update(await self._attempt_maildir(msg, good, attempt))
                else:
                    replies.update(await self._attempt_smtp(msg, good))
        # The worker moves on to the next message while the result is committed (group commit
        # with other workers' results and the listener's puts). The message stays in flight until
        # then, so nothing can pick it up twice; stop() waits for these tasks.
        await self._recording_slots.acquire()
        task = asyncio.create_task(self._record(msg, attempt, replies))
        self._recording.add(task)
        task.add_done_callback(lambda t: self._recorded(t, msg.queue_id))
        return True

    def _recorded(self, task: asyncio.Task[None], queue_id: str) -> None:
        self._recording.discard(task)
        self._recording_slots.release()
        self._inflight.discard(queue_id)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            # Typically SpoolError after the upstream accepted: the message stays pending and will
            # be sent again (the documented duplicate window, widened by a failing disk).
            log.error("delivery.record_failed", queue_id=queue_id, error=str(task.exception()))

    async def _attempt_maildir(self, msg: SpooledMessage, rcpts: list[str], attempt: int
                               ) -> dict[str, _Reply]:
        try:
            name = await asyncio.to_thread(_write_maildir, self._outbox, msg.queue_id, attempt,
                                           self._hostname, msg.mail_from, rcpts, msg.data)
        except OSError as exc:
            reply = _Reply(None, f"4.3.0 cannot write to outbox {self._outbox}: {exc}")
            return dict.fromkeys(rcpts, reply)
        return dict.fromkeys(rcpts, _Reply(250, f"2.0.0 delivered to maildir as {name}"))

    async def _attempt_smtp(self, msg: SpooledMessage, rcpts: list[str]) -> dict[str, _Reply]:
        pool = await self._pool_for(self.upstream_for(msg))
        try:
            client = await pool.acquire()
        except SMTPResponseException as exc:  # greeting, EHLO, STARTTLS or AUTH refused
            return dict.fromkeys(rcpts, _Reply(None, f"4.4.0 upstream session failed: {exc.code} "
                                                     f"{exc.message}"))
        except (SMTPException, OSError, ValueError) as exc:
            return dict.fromkeys(rcpts, _Reply(None, f"4.4.1 cannot connect to upstream: {exc}"))
        replies: dict[str, _Reply] = {}
        reusable = False
        try:
            encoding = "ascii"
            options: list[str] = []
            if not all(a.isascii() for a in (msg.mail_from, *rcpts)):
                if not client.supports_extension("smtputf8"):
                    reusable = True
                    return dict.fromkeys(rcpts, _Reply(553, "5.6.7 upstream does not support SMTPUTF8"))
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
                return dict.fromkeys(rcpts, _Reply(exc.code, exc.message))
            accepted = []
            for rcpt in rcpts:
                try:
                    await client.rcpt(rcpt, encoding=encoding)
                except SMTPRecipientRefused as exc:
                    replies[rcpt] = _Reply(exc.code, exc.message)
                else:
                    accepted.append(rcpt)
            if not accepted:
                reusable = True  # RSET comes with the next acquire
                return replies
            try:
                response = await client.data(msg.data)
            except SMTPDataError as exc:
                reply = _Reply(exc.code, exc.message)
            else:
                reply = _Reply(response.code, response.message)
            replies.update(dict.fromkeys(accepted, reply))
            reusable = True
            return replies
        except (SMTPException, OSError, ValueError) as exc:
            # Timeout, disconnect or protocol trouble mid-transaction (ValueError: the client refused
            # to encode something): the session state is unknown, so the connection is dropped, and
            # whatever is not yet answered is temporary.
            text = f"4.4.2 upstream connection failed: {type(exc).__name__}: {exc}"
            for rcpt in rcpts:
                replies.setdefault(rcpt, _Reply(None, text))
            return replies
        finally:
            pool.release(client, reusable)

    # -- recording --------------------------------------------------------------------------------

    async def _record(self, msg: SpooledMessage, attempt: int, replies: dict[str, _Reply]) -> None:
        now = time.time()
        expired = now - msg.arrived >= self._delivery.give_up_after
        remote = self.upstream_for(msg).host
        results: list[RecipientResult] = []
        failed: list[FailedRecipient] = []
        temporary: list[str] = []
        for rcpt in msg.pending:
            reply = replies[rcpt]
            code = reply.code
            if code is not None and 200 <= code < 300:
                results.append(RecipientResult(rcpt, "delivered", code, reply.text))
            elif code is not None and 500 <= code < 600:
                results.append(RecipientResult(rcpt, "failed", code, reply.text))
                failed.append(FailedRecipient(rcpt, status_from_reply(code, reply.text), reply.line,
                                              remote))
            elif expired:
                text = f"4.4.7 delivery time expired after {attempt} attempts; last: {reply.line}"
                results.append(RecipientResult(rcpt, "failed", code, text))
                failed.append(FailedRecipient(rcpt, "4.4.7", reply.line if code is not None else None,
                                              remote if code is not None else None))
            else:
                results.append(RecipientResult(rcpt, "pending", code, reply.text))
                temporary.append(rcpt)
        next_attempt = None
        if temporary:
            next_attempt = min(now + backoff(attempt, self._delivery),
                               msg.arrived + self._delivery.give_up_after)
        dsn = self._make_dsn(msg, failed) if failed else None
        # Pending results are recorded too (code and reply of the last try), so operators can see why.
        dsn_id = await self._record_until_stored(msg, results, next_attempt, dsn)
        fields = {k: v for k, v in msg.meta.items() if k not in _RESERVED_LOG_KEYS}
        log.info("delivery.attempt", queue_id=msg.queue_id, attempt=attempt, recipients=list(msg.pending),
                 outcome={r.address: f"{r.state} {replies[r.address].line}" for r in results},
                 reply=sorted({r.line for r in replies.values()}),
                 next_retry=(datetime.fromtimestamp(next_attempt, UTC).isoformat()
                             if next_attempt is not None else None),
                 dsn_queue_id=dsn_id, **fields)
        if dsn_id is not None:
            self._poll_requested = True  # the DSN is in the database only
            self.notify()

    async def _record_until_stored(self, msg: SpooledMessage, results: list[RecipientResult],
                                   next_attempt: float | None, dsn: NewMessage | None) -> str | None:
        """Store an attempt's results, retrying while the spool cannot write (disk full).

        Giving up here would leave a message the upstream already accepted marked pending, and the
        next attempt would deliver it twice. The message stays in flight meanwhile, so no worker
        picks it up again.
        """
        delay = self._delivery.retry_initial
        while True:
            try:
                return await self._spool.record_attempt(msg.queue_id, results, next_attempt, dsn)
            except SpoolError as exc:
                delivered = [r.address for r in results if r.state == "delivered"]
                if self._stopping:
                    log.error("delivery.result_lost_at_shutdown", queue_id=msg.queue_id,
                              delivered=delivered, error=str(exc))
                    raise
                log.error("delivery.record_failed_retrying", queue_id=msg.queue_id, delivered=delivered,
                          error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * self._delivery.retry_factor, self._delivery.retry_max)

    def _make_dsn(self, msg: SpooledMessage, failed: list[FailedRecipient]) -> NewMessage | None:
        if not self._delivery.send_dsn or msg.mail_from == "" or not _address_ok(msg.mail_from):
            return None  # never bounce a bounce (null sender), nor to an address we cannot use
        data, message_id = build_dsn(reporting_mta=self._hostname, original_sender=msg.mail_from,
                                     queue_id=msg.queue_id, arrival=msg.arrived, failed=failed,
                                     original=msg.data)
        meta: dict[str, Any] = {"message_id": message_id, "dsn_for": msg.queue_id}
        if "tenant" in msg.meta:
            meta["tenant"] = msg.meta["tenant"]
        return NewMessage("", (msg.mail_from,), data, meta)
