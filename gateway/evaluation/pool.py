"""The pool of evaluation workers one gateway process keeps (gateway/evaluation/__init__.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from gateway.evaluation.process import Worker, Zygote, portable_exception
from gateway.log import get_logger

log = get_logger("gateway.evaluation")

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
# The ceiling, reached only while workers are stuck on costly messages (stragglers).
MAX_WORKERS = max(8, 4 * CORES)
STRAGGLER_AFTER = 1.0  # a worker this long on one message no longer counts as capacity
KEEP_WARM = 2  # after a burst, workers idle IDLE_AFTER seconds are ended, all but this many
IDLE_AFTER = 30.0
REAP_EVERY = 10.0
_POLICY_CACHE = 16  # engine objects kept pickled (a reload makes new ones)


def isolatable(policy: Any) -> bool:
    """The gateway's own engines, and objects that ask for it (``isolate_evaluation = True``)."""
    return type(policy).__module__.startswith("gateway.") or getattr(policy, "isolate_evaluation", False) is True


def pool_size(processes: int = 1) -> int:
    """Workers for one of ``processes`` gateway processes sharing this machine's cores: their
    share of the cores, plus a spare."""
    return max(2, math.ceil(CORES / max(1, processes)) + 1)


class EvaluationPool:
    def __init__(self, max_workers: int = MAX_WORKERS, size: int | None = None) -> None:
        self.max_workers = max_workers
        self.size = min(size or pool_size(), max_workers)
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="policy-eval")
        self._lock = threading.Lock()
        self._idle: list[Worker] = []  # most recently used last
        self._busy: dict[Worker, float] = {}  # when each busy worker took its message
        self._live = 0  # workers running or being started
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._woken: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()  # not looked again yet
        self._zygote: Zygote | None = None
        self._zygote_lock = threading.Lock()
        self._pickle_lock = threading.Lock()
        self._pickled: dict[int, tuple[Any, str, bytes]] = {}
        self._keys = itertools.count()
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()
        self.killed = 0
        self.started = 0

    def resize(self, size: int) -> None:
        with self._lock:
            self.size = max(1, min(size, self.max_workers))

    # -- engines and workers (blocking parts: pool threads) -----------------------------------

    def _policy_blob(self, policy: Any) -> tuple[str, bytes]:
        # One pickling at a time: two threads pickling the same engine at once crashed the
        # interpreter in the C extensions' pickle support (segfault in a full run).
        with self._pickle_lock:
            with self._lock:
                cached = self._pickled.get(id(policy))
                if cached is not None and cached[0] is policy:
                    return cached[1], cached[2]
            blob = pickle.dumps(policy, protocol=pickle.HIGHEST_PROTOCOL)
            key = f"{os.getpid()}-{next(self._keys)}"
            with self._lock:
                if len(self._pickled) >= _POLICY_CACHE:
                    self._pickled.pop(next(iter(self._pickled)))
                self._pickled[id(policy)] = (policy, key, blob)  # keeps the id from being reused
            return key, blob

    def _cached_blob(self, policy: Any) -> tuple[str, bytes] | None:
        with self._lock:
            cached = self._pickled.get(id(policy))
        return (cached[1], cached[2]) if cached is not None and cached[0] is policy else None

    def _spawn(self, policy: Any) -> Worker:
        """A new worker with ``policy`` loaded; a dead zygote is replaced once."""
        key, blob = self._policy_blob(policy)
        for attempt in (1, 2):
            with self._zygote_lock:
                if self._closed.is_set():
                    raise RuntimeError("evaluation pool closed")
                if self._zygote is None or not self._zygote.alive():
                    if self._zygote is not None:
                        self._zygote.close()
                    self._zygote = Zygote()
                zygote = self._zygote
            try:
                worker = zygote.spawn(key, blob)
            except (EOFError, OSError) as exc:
                with self._zygote_lock:
                    if self._zygote is zygote:
                        self._zygote = None
                zygote.close()
                if attempt == 2:
                    raise RuntimeError(f"policy worker could not be started: {exc!r}") from exc
                continue
            self.started += 1
            self._start_reaper()
            return worker
        raise AssertionError("unreachable")

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="policy-eval-reaper", daemon=True)
                self._reaper.start()

    def _reap(self) -> None:
        """After a burst: end workers idle for IDLE_AFTER seconds, beyond the KEEP_WARM most recent."""
        while not self._closed.wait(REAP_EVERY):
            now = time.monotonic()
            with self._lock:
                keep = max(0, KEEP_WARM - len(self._busy))
                old = [w for w in self._idle[:max(0, len(self._idle) - keep)] if now - w.last_used >= IDLE_AFTER]
                for worker in old:
                    self._idle.remove(worker)
                    self._live -= 1
            for worker in old:
                worker.close(kill=False)

    # -- taking and giving back a worker (event loop) -----------------------------------------

    def _wake_one(self) -> None:
        """Under the lock: the longest-waiting caller re-checks."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        while self._waiters:
            loop, waiter = self._waiters.pop(0)
            if loop.is_closed():
                continue
            self._woken.add((loop, waiter))  # it looks again; until then a freed worker is kept for it
            if loop is running:
                loop.call_soon(_set_done, waiter)
            else:
                loop.call_soon_threadsafe(_set_done, waiter)
            return

    def _give_back(self, worker: Worker, healthy: bool) -> None:
        worker.last_used = time.monotonic()
        with self._lock:
            self._busy.pop(worker, None)
            keep = healthy and worker.usable() and not self._closed.is_set()
            if keep:
                self._idle.append(worker)
            else:
                self._live -= 1
            self._wake_one()
        if not keep:
            worker.close(kill=not healthy)

    def _capacity(self, now: float) -> int:
        """Under the lock: how many workers may run now (stuck ones do not count as capacity)."""
        stuck = sum(1 for since in self._busy.values() if now - since >= STRAGGLER_AFTER)
        return min(self.max_workers, self.size + stuck)

    async def _take(self, policy: Any, key: str | None) -> Worker:
        """An idle worker (one with the engine loaded first), a new one, or the next one freed.
        First come, first served: a worker freed for a waiting caller is not taken by a newcomer."""
        loop = asyncio.get_running_loop()
        woken: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None  # the wake-up it had
        while True:
            now = time.monotonic()
            with self._lock:
                if woken is not None:
                    self._woken.discard(woken)
                    ahead = 0
                else:
                    self._woken = {w for w in self._woken if not w[0].is_closed()}
                    ahead = len(self._woken) + len(self._waiters)
                if len(self._idle) > ahead:
                    index = next((i for i in range(len(self._idle) - 1, -1, -1) if key in self._idle[i].known),
                                 len(self._idle) - 1)
                    worker = self._idle.pop(index)
                    self._busy[worker] = now
                    return worker
                start = self._live < self._capacity(now) and (woken is not None or not self._waiters)
                if start:
                    self._live += 1
                else:
                    waiter: asyncio.Future[None] = loop.create_future()
                    self._waiters.append((loop, waiter))
                    # Re-check when the next busy worker turns straggler (capacity grows then).
                    turning = [since + STRAGGLER_AFTER - now for since in self._busy.values()
                               if since + STRAGGLER_AFTER > now]
                    recheck = max(0.005, min(turning, default=STRAGGLER_AFTER))
            if start:
                return await self._start(policy)
            try:
                async with asyncio.timeout(recheck):
                    await waiter
            except TimeoutError:
                pass
            except asyncio.CancelledError:
                with self._lock:
                    if (loop, waiter) in self._waiters:
                        self._waiters.remove((loop, waiter))
                    else:  # woken, but it will not take the worker: the next caller may
                        self._woken.discard((loop, waiter))
                        self._wake_one()
                raise
            with self._lock:
                woken = None if (loop, waiter) in self._waiters else (loop, waiter)
                if woken is None:
                    self._waiters.remove((loop, waiter))

    async def _start(self, policy: Any) -> Worker:
        """A new worker. Starting one is never cut short (it would be wasted): a caller that gives
        up meanwhile leaves it to the next."""
        future = asyncio.get_running_loop().run_in_executor(self._threads, self._spawn, policy)
        try:
            worker = await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(self._adopt)
            raise
        except BaseException:
            with self._lock:
                self._live -= 1
                self._wake_one()
            raise
        with self._lock:
            self._busy[worker] = time.monotonic()
        return worker

    def _adopt(self, future: asyncio.Future[Worker]) -> None:
        if future.cancelled() or future.exception() is not None:
            with self._lock:
                self._live -= 1
                self._wake_one()
            return
        worker = future.result()
        with self._lock:
            self._busy[worker] = time.monotonic()
        self._give_back(worker, healthy=True)

    async def _ready(self, policy: Any) -> tuple[Worker, str]:
        cached = self._cached_blob(policy)
        key, blob = cached if cached is not None else await asyncio.to_thread(self._policy_blob, policy)
        worker = await self._take(policy, key)
        if key not in worker.known:  # an engine the worker was forked before (a reload)
            future = asyncio.get_running_loop().run_in_executor(self._threads, self._load, worker, key, blob)
            try:
                await asyncio.shield(future)
            except asyncio.CancelledError:
                future.add_done_callback(lambda f: self._give_back(worker, not f.cancelled() and f.exception() is None))
                raise
            except BaseException:
                self._give_back(worker, healthy=False)
                raise
        return worker, key

    @staticmethod
    def _load(worker: Worker, key: str, blob: bytes) -> None:
        os.set_blocking(worker.to_fd, True)
        os.set_blocking(worker.from_fd, True)
        try:
            worker.load(key, blob)
        finally:
            os.set_blocking(worker.to_fd, False)
            os.set_blocking(worker.from_fd, False)

    # -- the public side ------------------------------------------------------------------------

    def warm(self, policy: Any, workers: int = 2) -> list[Future[None]]:
        """Start ``workers`` workers with ``policy`` loaded, in the background (at start-up)."""
        if not isolatable(policy):
            return []
        with self._lock:
            count = max(0, min(workers, self.max_workers) - self._live)
            self._live += count
        return [self._threads.submit(self._warm_one, policy) for _ in range(count)]

    def _warm_one(self, policy: Any) -> None:
        try:
            worker = self._spawn(policy)
        except BaseException:
            with self._lock:
                self._live -= 1
            raise
        with self._lock:
            self._busy[worker] = time.monotonic()
        self._give_back(worker, healthy=True)

    async def evaluate(self, policy: Any, raw: bytes, recipients: Sequence[Any], state: Any) -> Any:
        worker, key = await self._ready(policy)
        healthy = True  # until the job is on its way: a caller that gives up before leaves it usable
        try:
            portable, known = await _state_for_worker(state, recipients)
            healthy = False
            worker.jobs += 1
            worker.bytes += len(raw)
            await worker.send(("evaluate", key, raw, list(recipients), state is not None, known, portable))
            while True:
                message = await worker.receive()
                if message[0] == "call":  # the worker asks the state view something
                    try:
                        answer = await asyncio.to_thread(getattr(state, message[1]), *message[2])
                        reply: tuple[Any, ...] = ("return", answer)
                    except Exception as exc:
                        reply = ("raise", portable_exception(exc))
                    await worker.send(reply)
                    continue
                healthy = True
                if message[0] == "verdict":
                    return message[1]
                raise message[1]
        except asyncio.CancelledError:
            if not healthy:
                self.killed += 1
                log.warning("policy_evaluation_killed", worker_pid=worker.pid, size=len(raw))
            raise
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            raise RuntimeError(f"policy worker {worker.pid} ended: {exc!r}") from exc
        finally:
            self._give_back(worker, healthy)  # not healthy: killed (deadline) or crashed

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            workers, self._idle = [*self._idle, *self._busy], []
            self._busy.clear()
            self._live = 0
        for worker in workers:
            worker.close()
        with self._zygote_lock:
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.close()
        self._threads.shutdown(wait=False, cancel_futures=True)


def _set_done(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _state_for_worker(state: Any, recipients: Sequence[Any]) -> tuple[Any, dict[str, Any]]:
    """What goes with the job so the worker need not ask back: a view it can read itself
    (``portable()``: the SQLite view), or else the recipients' alias statuses, read here off the
    loop (the engine asks for every alias; each question sent back is a round trip)."""
    if state is None:
        return None, {}
    make_portable: Callable[[], Any] | None = getattr(state, "portable", None)
    if callable(make_portable):
        with contextlib.suppress(Exception):
            return make_portable(), {}
    from gateway.policy.state import InMemoryPolicyState

    if isinstance(state, InMemoryPolicyState):
        return state, {}
    return None, await asyncio.to_thread(_alias_statuses, state, recipients)


def _alias_statuses(state: Any, recipients: Sequence[Any]) -> dict[str, Any]:
    """The recipients' alias statuses; empty when the view cannot answer now (the worker then asks)."""
    known: dict[str, Any] = {}
    try:
        for recipient in recipients:
            alias = getattr(recipient, "alias", None)
            if isinstance(alias, str) and alias.lower() not in known:
                known[alias.lower()] = state.alias_status(alias)
    except Exception:
        return {}
    return known
