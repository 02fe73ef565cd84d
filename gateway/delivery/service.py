"""The delivery service: relay spooled messages to the upstream, with retries and DSNs.

A scheduler task picks due messages from the spool and hands them to ``DeliveryConfig.workers``
worker tasks. Each attempt borrows a connection from a pool of at most ``UpstreamConfig.pool_size``
connections per upstream (see ``pool``), runs the transaction (see ``attempt``) and records the
result in the spool in one durable commit straight after the upstream's reply (see ``outcome``
for what the replies mean). Problems before MAIL (connect, TLS, AUTH) are always temporary: a
misconfigured or unreachable upstream must not bounce mail.

A stalled upstream holds one connection, not the service: an attempt still running after
``stall_after`` seconds is *parked*: a new worker takes its place with the next message, and its
pool slot is freed for a new connection; the parked attempt finishes (or times out) on its own. At most
``MAX_PARKED_PER_WORKER x workers`` attempts are parked at once.

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
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from gateway.config import DeliveryConfig, UpstreamConfig
from gateway.delivery.attempt import AttemptHandle, Reply, address_ok, attempt_maildir, attempt_smtp
from gateway.delivery.lock import lock_spool
from gateway.delivery.outcome import judge_replies, make_dsn
from gateway.delivery.pool import UpstreamPool, build_tls_context
from gateway.log import get_logger
from gateway.spool import NewMessage, RecipientResult, Spool, SpooledMessage, SpoolError

log = get_logger("gateway.delivery")

PURGE_EVERY = 3600.0  # seconds between sweeps of finished entries older than keep_finished
MAX_PARKED_PER_WORKER = 4
# Recording a result retries quickly: it waits for local storage (a full disk freeing up), not
# for a remote server, and the message it records is already delivered.
RECORD_RETRY_MAX = 5.0

# Meta keys that would clash with the attempt log's own fields.
_RESERVED_LOG_KEYS = frozenset({"event", "queue_id", "attempt", "recipients", "outcome", "reply",
                                "next_retry", "level", "timestamp", "dsn_queue_id"})


class DeliveryService:
    """Delivers what the spool holds; ``notify()`` after each put for immediate delivery."""

    def __init__(self, spool: Spool, upstream: UpstreamConfig, delivery: DeliveryConfig, *,
                 outbox: Path, hostname: str, routes: Mapping[str, UpstreamConfig] | None = None) -> None:
        self._spool = spool
        self._upstream = upstream
        # Tenants with their own upstream: meta["tenant"] -> upstream; the rest use ``upstream``.
        self._routes: dict[str, UpstreamConfig] = dict(routes or {})
        self._pools: dict[str, UpstreamPool] = {}
        self._pool_keys: dict[int, tuple[UpstreamConfig, str]] = {}  # id(upstream) -> its pool's key
        self._pool_lock = asyncio.Lock()
        self._delivery = delivery
        self._outbox = outbox
        self._hostname = hostname
        self._wake = asyncio.Event()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._inflight: set[str] = set()
        # Queued messages the poll read already (they are in flight, so nothing else changes them).
        self._loaded: dict[str, SpooledMessage] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._scheduler: asyncio.Task[None] | None = None
        self._stopping = False
        self._poll_requested = False
        self._recording: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._parked: set[asyncio.Task[None]] = set()
        self._lock_fd: int | None = None
        # Results awaiting their commit are the duplicate window (see module doc): at most two per
        # worker, so at most 3 x workers messages can go out twice after a crash.
        self._recording_slots = asyncio.Semaphore(delivery.workers * 2)
        self.parked_total = 0
        self._spawned = 0  # worker tasks started (their names)

    def upstream_for(self, msg: SpooledMessage) -> UpstreamConfig:
        tenant = msg.meta.get("tenant")
        return self._routes.get(tenant, self._upstream) if isinstance(tenant, str) else self._upstream

    async def _pool_for(self, upstream: UpstreamConfig) -> UpstreamPool:
        """One pool of reused connections per distinct upstream (tenants may share one)."""
        known = self._pool_keys.get(id(upstream))
        if known is not None and known[0] is upstream:
            pool = self._pools.get(known[1])
            if pool is not None:
                return pool
        key = upstream.model_dump_json()  # ~20 us: once per configured upstream, not per message
        self._pool_keys[id(upstream)] = (upstream, key)
        pool = self._pools.get(key)
        if pool is not None:
            return pool
        async with self._pool_lock:
            pool = self._pools.get(key)
            if pool is None:
                tls_context = (await asyncio.to_thread(build_tls_context, upstream)
                               if upstream.tls != "none" else None)
                password = await asyncio.to_thread(upstream.resolved_password)
                pool = UpstreamPool(upstream, self._hostname, tls_context, password,
                                    upstream.pool_idle_timeout)
                self._pools[key] = pool
            return pool

    async def reconfigure(self, upstream: UpstreamConfig, routes: Mapping[str, UpstreamConfig]) -> None:
        """New upstreams after a reload; pools of upstreams no longer used are closed."""
        self._upstream, self._routes = upstream, dict(routes)
        self._pool_keys.clear()
        wanted = {u.model_dump_json() for u in (upstream, *routes.values())}
        for key in [k for k in self._pools if k not in wanted]:
            await self._pools.pop(key).close()

    @property
    def connections_opened(self) -> int:
        return sum(pool.opened for pool in self._pools.values())

    @property
    def parked(self) -> int:
        """Attempts running longer than ``stall_after`` right now."""
        return len(self._parked)

    async def start(self, lock_wait: float = 0.0) -> None:
        """Start workers; whatever an earlier run left pending is picked up by the first poll.

        Raises DeliveryAlreadyRunning if another service (in any process) delivers this spool
        and does not stop within ``lock_wait`` seconds: two would send the same messages.
        """
        self._lock_fd = await asyncio.to_thread(lock_spool, self._spool.directory, lock_wait)
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
        self._spawned = self._delivery.workers
        self._scheduler = asyncio.create_task(self._schedule(), name="delivery-scheduler")
        log.info("delivery.started", upstream=self._upstream.host or f"maildir:{self._outbox}",
                 workers=self._delivery.workers, pending=await self._spool.depth())

    def notify(self) -> None:
        self._wake.set()

    def poll_soon(self) -> None:
        """Another process put messages into the spool (a worker, gateway/workers/): look now."""
        self._poll_requested = True
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
                self._loaded.pop(item, None)
        for _ in self._tasks:
            self._queue.put_nowait(None)
        running = {*self._tasks, *self._parked}
        if running:
            _, pending = await asyncio.wait(running, timeout=timeout)
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
                    due, next_at = await self._spool.due(now, room, frozenset(self._inflight))
                except SpoolError as exc:
                    log.error("delivery.poll_failed", error=str(exc))
                    due, next_at = [], None
                for msg in due:
                    if self._enqueue([msg.queue_id]):
                        self._loaded[msg.queue_id] = msg  # read with the poll: no trip per message
                if next_at is not None:
                    next_poll = min(next_poll, next_at)
                if len(due) == room:
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
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        assert me is not None
        while True:
            queue_id = await self._queue.get()
            if queue_id is None:
                return
            handle = AttemptHandle()
            # The attempt runs in this task; a timer parks it if it stalls (a task and a wait per
            # message to watch for that cost more than the rest of the scheduling).
            timer = loop.call_later(self._delivery.stall_after, self._stalled, queue_id, handle, me)
            try:
                await self._attempt(queue_id, handle)
            finally:
                timer.cancel()
            if handle.parked:
                return  # a new worker took this one's place (_stalled)

    def _stalled(self, queue_id: str, handle: AttemptHandle, worker: asyncio.Task[None]) -> None:
        """An attempt ran for ``stall_after``: if it is waiting for the upstream (a server that does
        not answer), park it, so it finishes on its own, and start a worker in its place, which
        also gets its pool slot for a new connection."""
        if (self._stopping or not handle.on_the_wire or worker not in self._tasks
                or len(self._parked) >= MAX_PARKED_PER_WORKER * self._delivery.workers):
            return
        handle.park()
        self._tasks.remove(worker)
        self._parked.add(worker)
        worker.add_done_callback(self._parked.discard)
        self._tasks.append(asyncio.create_task(self._worker(), name=f"delivery-worker-{self._spawned}"))
        self._spawned += 1
        self.parked_total += 1
        log.warning("delivery.attempt_parked", queue_id=queue_id, after_seconds=self._delivery.stall_after,
                    parked=len(self._parked))

    async def _attempt(self, queue_id: str, handle: AttemptHandle) -> None:
        recording = False
        try:
            recording = await self._deliver(queue_id, handle)
        except Exception as exc:  # a bug or a spool failure: keep the service alive
            log.exception("delivery.error", queue_id=queue_id, error=str(exc))
            await asyncio.sleep(self._delivery.retry_initial)
        finally:
            if not recording:
                self._inflight.discard(queue_id)
                self._wake.set()

    # -- one attempt ------------------------------------------------------------------------------

    async def _deliver(self, queue_id: str, handle: AttemptHandle) -> bool:
        """One attempt. Returns True once a recording task owns the message's in-flight mark."""
        msg = self._loaded.pop(queue_id, None) or await self._spool.load(queue_id)
        if msg is None or not msg.pending:
            return False
        if msg.next_attempt > time.time() + 0.01:
            return False  # picked from a snapshot taken before its last attempt was recorded
        attempt = msg.attempts + 1
        replies: dict[str, Reply] = {}
        if not address_ok(msg.mail_from):
            for rcpt in msg.pending:
                replies[rcpt] = Reply(553, "5.1.7 sender address cannot be sent in an SMTP path")
        else:
            good = []
            for rcpt in msg.pending:
                if address_ok(rcpt):
                    good.append(rcpt)
                else:
                    replies[rcpt] = Reply(553, "5.1.3 recipient address cannot be sent in an SMTP path")
            if good:
                upstream = self.upstream_for(msg)
                if upstream.host is None:
                    replies.update(await attempt_maildir(self._outbox, self._hostname, msg, good, attempt))
                else:
                    pool = await self._pool_for(upstream)
                    replies.update(await attempt_smtp(pool, upstream, msg, good, handle))
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

    # -- recording --------------------------------------------------------------------------------

    async def _record(self, msg: SpooledMessage, attempt: int, replies: dict[str, Reply]) -> None:
        remote = self.upstream_for(msg).host
        outcome = judge_replies(msg, attempt, replies, remote, self._delivery)
        dsn = make_dsn(msg, outcome.failed, self._delivery, self._hostname)
        dsn_id = await self._record_until_stored(msg, outcome.results, outcome.next_attempt, dsn)
        fields = {k: v for k, v in msg.meta.items() if k not in _RESERVED_LOG_KEYS}
        next_attempt = outcome.next_attempt
        log.info("delivery.attempt", queue_id=msg.queue_id, attempt=attempt, recipients=list(msg.pending),
                 outcome={r.address: f"{r.state} {replies[r.address].line}" for r in outcome.results},
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
        delay = min(self._delivery.retry_initial, RECORD_RETRY_MAX)
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
                delay = min(delay * self._delivery.retry_factor, RECORD_RETRY_MAX)
