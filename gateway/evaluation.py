"""Policy evaluation in worker processes that can be ended: one message's cost stays its own.

A thread can be abandoned when its evaluation times out, but it cannot be stopped: it goes on
burning CPU (and holding the GIL the event loop needs) long after its client was told 451, and a
few such messages make every other verdict late. So the engine runs in small worker processes,
and when the caller's deadline passes (``asyncio.timeout`` around :func:`evaluate_policy` cancels
it), the worker evaluating that message is killed; the next message gets another.

How the workers are kept (measured in ``bench/eval_overhead.py`` and ``bench/peer.py``):

* **Forked from a loaded parent.** Workers are forked by one *zygote* process per gateway
  process (``python -m gateway.evaluation --zygote``) that has imported the engine's modules and
  unpickled every engine it was sent, so a new worker costs a fork (a few ms) instead of an
  interpreter start, the imports and the engine load (~0.75 s of CPU). Killing a worker at its
  deadline, recycling one after ``JOBS_PER_WORKER`` messages or ``BYTES_PER_WORKER`` of data (its
  memory goes back to the system) and starting one for a straggler are therefore cheap.
* **Sized to the cores.** ``pool_size``: the cores this process may use (``[server] workers``
  divides them) plus one spare, so one slow message never holds the others' verdicts back; while
  a worker has been on one message longer than ``STRAGGLER_AFTER``, one more may start for the
  waiting messages (up to ``MAX_WORKERS``). More workers than cores add no throughput, only
  memory and context switches; messages beyond the pool wait for a free worker (the wait counts
  against their deadline, as the CPU they would have shared did).
* **Driven by the event loop, not by threads.** A job is one length-prefixed pickle frame down
  the worker's pipe and one back; the calling coroutine waits on the pipe with the loop's own
  selector. The state the engine reads goes with the job: the SQLite view is portable (the worker
  reads the state database itself, read-only, with its own connection), other views have the
  recipients' alias statuses read ahead, and only what is still missing (an order's review count
  on PostgreSQL) is asked back over the pipe (answered off the loop, as the views require).

Only the gateway's own engine classes (and objects that set ``isolate_evaluation = True``) are
sent to workers; any other object with the engine's interface (a test double) is evaluated in a
thread as before, and so is everything with ``[policy] evaluation_isolation = "thread"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import itertools
import math
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, Protocol, TypeVar

from gateway.log import get_logger

log = get_logger("gateway.evaluation")

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
# The ceiling, reached only while workers are stuck on costly messages (stragglers).
MAX_WORKERS = max(8, 4 * CORES)
STRAGGLER_AFTER = 1.0  # a worker this long on one message no longer counts as capacity
KEEP_WARM = 2  # after a burst, workers idle IDLE_AFTER seconds are ended, all but this many
IDLE_AFTER = 30.0
REAP_EVERY = 10.0
JOBS_PER_WORKER = 10_000
BYTES_PER_WORKER = 64 * 1024 * 1024
_POLICY_CACHE = 16  # engine objects kept pickled (a reload makes new ones)
_ENGINES_PER_WORKER = 4
# What a job brings besides the engine: recipients, verdicts, the SQLite state view.
_PRELOAD = ("gateway.classify", "gateway.policy.verdict", "gateway.store.sqlite.portable")

Isolation = Literal["process", "thread"]
V_co = TypeVar("V_co", covariant=True)
_HEAD = struct.Struct(">I")


class Evaluates(Protocol[V_co]):
    def evaluate(self, raw: bytes, recipients: Sequence[Any], state: Any, /) -> V_co: ...


def isolatable(policy: Any) -> bool:
    """The gateway's own engines, and objects that ask for it (``isolate_evaluation = True``)."""
    return type(policy).__module__.startswith("gateway.") or getattr(policy, "isolate_evaluation", False) is True


def pool_size(processes: int = 1) -> int:
    """Workers for one of ``processes`` gateway processes sharing this machine's cores: their
    share of the cores, plus a spare."""
    return max(2, math.ceil(CORES / max(1, processes)) + 1)


def _frame(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEAD.pack(len(body)) + body


def _read_exact(fd: int, n: int) -> bytes:
    """``n`` bytes from a blocking descriptor; EOFError when it ends first."""
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            raise EOFError("pipe closed")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _read_frame(fd: int) -> Any:
    (size,) = _HEAD.unpack(_read_exact(fd, _HEAD.size))
    return pickle.loads(_read_exact(fd, size))


def _write_frame(fd: int, message: Any) -> None:
    data = memoryview(_frame(message))
    while data:
        data = data[os.write(fd, data):]


class _Worker:
    """One forked worker process, as this process holds it: its pid and the two pipe ends."""

    def __init__(self, pid: int, to_fd: int, from_fd: int, known: set[str]) -> None:
        self.pid = pid
        self.to_fd = to_fd
        self.from_fd = from_fd
        self.known = known  # engine keys it has loaded
        self.pidfd = -1
        with contextlib.suppress(AttributeError, OSError):
            self.pidfd = os.pidfd_open(pid)  # signals reach this process even if its pid is reused
        self.buffer = bytearray()
        self.jobs = 0
        self.bytes = 0
        self.last_used = time.monotonic()
        self.closed = False

    def usable(self) -> bool:
        return not self.closed and self.jobs < JOBS_PER_WORKER and self.bytes < BYTES_PER_WORKER

    def load(self, key: str, blob: bytes) -> None:
        """Blocking (before the worker is handed to a coroutine): load an engine it lacks."""
        _write_frame(self.to_fd, ("policy", key, blob))
        answer = _read_frame(self.from_fd)
        if answer[0] != "loaded":
            raise RuntimeError(f"policy worker could not load the engine: {answer[1]!r}")
        self.known.add(key)

    async def send(self, message: Any) -> None:
        data = memoryview(_frame(message))
        while data:
            with contextlib.suppress(BlockingIOError):
                data = data[os.write(self.to_fd, data):]
            if data:
                await _fd_ready(self.to_fd, write=True)

    async def receive(self) -> Any:
        buffer = self.buffer
        while True:
            if len(buffer) >= _HEAD.size:
                (size,) = _HEAD.unpack_from(buffer)
                if len(buffer) >= _HEAD.size + size:
                    body = bytes(buffer[_HEAD.size:_HEAD.size + size])
                    del buffer[:_HEAD.size + size]
                    return pickle.loads(body)
            await _fd_ready(self.from_fd, write=False)
            try:
                chunk = os.read(self.from_fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                raise EOFError(f"policy worker {self.pid} closed its pipe")
            buffer += chunk

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            if self.pidfd >= 0:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)

    def close(self, kill: bool = True) -> None:
        """Ends the worker: an idle one exits on its pipe's end; a busy one is killed."""
        if self.closed:
            return
        self.closed = True
        if kill:
            self.kill()
        for fd in (self.to_fd, self.from_fd, self.pidfd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


async def _fd_ready(fd: int, *, write: bool) -> None:
    """Until ``fd`` is readable (or writable), on the running loop's selector."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


class _Zygote:
    """The process workers are forked from: it has the engines loaded, so a fork is all a worker costs."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # This process's import path, so the zygote can unpickle whatever an engine refers to.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway.evaluation", "--zygote", str(theirs.fileno())],
                                     env=env, stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),))
        theirs.close()
        self.sock = ours
        self.known: list[str] = []  # engine keys, oldest first (the zygote keeps the last few)
        self.lock = threading.Lock()

    def _ask(self, message: Any, fds: Sequence[int] = ()) -> Any:
        data = _frame(message)
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.sendall(data)
        fd = self.sock.fileno()
        return _read_frame(fd)

    def spawn(self, key: str, blob: bytes) -> _Worker:
        """A new worker with the engine ``key`` loaded (blocking: called from a pool thread)."""
        with self.lock:
            if key not in self.known:
                answer = self._ask(("policy", key, blob))
                if answer[0] != "loaded":
                    raise RuntimeError(f"policy zygote could not load the engine: {answer[1]!r}")
                self.known.append(key)
                del self.known[:-_ENGINES_PER_WORKER]
            job_r, job_w = os.pipe()
            out_r, out_w = os.pipe()
            try:
                answer = self._ask(("spawn",), (job_r, out_w))
            except BaseException:
                for fd in (job_w, out_r):
                    os.close(fd)
                raise
            finally:
                os.close(job_r)
                os.close(out_w)
            known = set(self.known)
        os.set_blocking(job_w, False)
        os.set_blocking(out_r, False)
        return _Worker(int(answer[1]), job_w, out_r, known)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self.proc.poll() is None:
            self.proc.kill()


class EvaluationPool:
    def __init__(self, max_workers: int = MAX_WORKERS, size: int | None = None) -> None:
        self.max_workers = max_workers
        self.size = min(size or pool_size(), max_workers)
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="policy-eval")
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # most recently used last
        self._busy: dict[_Worker, float] = {}  # when each busy worker took its message
        self._live = 0  # workers running or being started
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._zygote: _Zygote | None = None
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

    def _spawn(self, policy: Any) -> _Worker:
        """A new worker with ``policy`` loaded; a dead zygote is replaced once."""
        key, blob = self._policy_blob(policy)
        for attempt in (1, 2):
            with self._zygote_lock:
                if self._closed.is_set():
                    raise RuntimeError("evaluation pool closed")
                if self._zygote is None or not self._zygote.alive():
                    if self._zygote is not None:
                        self._zygote.close()
                    self._zygote = _Zygote()
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
            if loop is running:
                loop.call_soon(_set_done, waiter)
            else:
                loop.call_soon_threadsafe(_set_done, waiter)
            return

    def _give_back(self, worker: _Worker, healthy: bool) -> None:
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

    async def _take(self, policy: Any, key: str | None) -> _Worker:
        """An idle worker (one with the engine loaded first), a new one, or the next one freed."""
        loop = asyncio.get_running_loop()
        while True:
            now = time.monotonic()
            with self._lock:
                if self._idle:
                    index = next((i for i in range(len(self._idle) - 1, -1, -1) if key in self._idle[i].known),
                                 len(self._idle) - 1)
                    worker = self._idle.pop(index)
                    self._busy[worker] = now
                    return worker
                start = self._live < self._capacity(now)
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
            finally:
                with self._lock:
                    if (loop, waiter) in self._waiters:
                        self._waiters.remove((loop, waiter))
                    elif waiter.cancelled() or not waiter.done():
                        self._wake_one()  # it was woken but will not take the worker: pass it on

    async def _start(self, policy: Any) -> _Worker:
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

    def _adopt(self, future: asyncio.Future[_Worker]) -> None:
        if future.cancelled() or future.exception() is not None:
            with self._lock:
                self._live -= 1
                self._wake_one()
            return
        worker = future.result()
        with self._lock:
            self._busy[worker] = time.monotonic()
        self._give_back(worker, healthy=True)

    async def _ready(self, policy: Any) -> tuple[_Worker, str]:
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
    def _load(worker: _Worker, key: str, blob: bytes) -> None:
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
                        reply = ("raise", _portable(exc))
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


_shared: EvaluationPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> EvaluationPool:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = EvaluationPool()
        return _shared


async def evaluate_policy(policy: Evaluates[V_co], raw: bytes, recipients: Sequence[Any], state: Any,
                          isolation: Isolation = "process") -> V_co:
    """``policy.evaluate(raw, recipients, state)``, ended (not just abandoned) when cancelled."""
    if isolation == "process" and isolatable(policy):
        verdict: V_co = await shared_pool().evaluate(policy, raw, recipients, state)
        return verdict
    return await asyncio.to_thread(policy.evaluate, raw, recipients, state)


def warm_up(policy: Any, isolation: Isolation = "process", workers: int = 2, size: int | None = None) -> None:
    """Start policy workers ahead of the first message (their start-up is not its deadline's);
    ``size``: how many this process keeps (see :func:`pool_size`)."""
    if isolation != "process" or policy is None:
        return
    pool = shared_pool()
    if size is not None:
        pool.resize(size)
    pool.warm(policy, workers)


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


def _portable(exc: BaseException) -> BaseException:
    try:
        pickle.dumps(exc)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


# -- the zygote and its workers ---------------------------------------------------------------------

class _StateProxy:
    """The parent's policy-state view for one evaluation: the recipients' alias statuses came with
    the message; any other question is one round trip, and each answer is kept (state does not
    change under one evaluation as far as its verdict is concerned; the store's reservations
    decide races)."""

    def __init__(self, inp: int, out: int, aliases: dict[str, Any] | None = None) -> None:
        self._inp = inp
        self._out = out
        self._aliases = aliases or {}
        self._answers: dict[tuple[str, tuple[Any, ...]], Any] = {}

    def alias_status(self, alias: str) -> Any:
        key = alias.lower()
        if key in self._aliases:
            return self._aliases[key]
        return self.__getattr__("alias_status")(alias)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any) -> Any:
            asked = (name, args)
            if asked in self._answers:
                return self._answers[asked]
            _write_frame(self._out, ("call", name, args))
            reply = _read_frame(self._inp)
            if reply[0] == "return":
                self._answers[asked] = reply[1]
                return reply[1]
            raise reply[1]

        return call


def _load_engine(engines: dict[str, Any], key: str, blob: bytes) -> tuple[Any, ...]:
    if len(engines) >= _ENGINES_PER_WORKER:
        engines.pop(next(iter(engines)))
    try:
        engines[key] = pickle.loads(blob)
    except Exception as exc:
        return ("raised", _portable(exc))
    # The engine's objects live as long as the process: the collector need not scan them again
    # (and a forked worker's pages stay shared with the zygote's).
    gc.collect()
    gc.freeze()
    return ("loaded",)


def _serve(inp: int, out: int, engines: dict[str, Any]) -> None:
    """A worker: evaluate each job from ``inp``, answer on ``out``, until the pipe closes."""
    while True:
        try:
            message = _read_frame(inp)
        except EOFError:
            return  # the gateway closed the pipe (or died)
        if message[0] == "policy":
            _write_frame(out, _load_engine(engines, message[1], message[2]))
            continue
        _, key, raw, recipients, has_state, known, portable = message
        state = portable if portable is not None else (_StateProxy(inp, out, known) if has_state else None)
        try:
            reply: tuple[Any, ...] = ("verdict", engines[key].evaluate(raw, recipients, state))
        except Exception as exc:
            reply = ("raised", _portable(exc))
        _write_frame(out, reply)


def _zygote_main(fd: int) -> None:
    """Keep the engines loaded; fork a worker for each ``spawn`` (its pipes come with the request)."""
    os.dup2(2, 1)  # anything printed goes to stderr, never into a frame
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked workers are reaped by the kernel
    sock = socket.socket(fileno=fd)
    for module in _PRELOAD:  # imported once here, not by each worker at its first message
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    engines: dict[str, Any] = {}
    while True:
        try:
            head, fds, _, _ = socket.recv_fds(sock, _HEAD.size, 2)
        except OSError:
            return
        if not head:
            return  # the gateway closed the socket (or died)
        if len(head) < _HEAD.size:
            head += _read_exact(fd, _HEAD.size - len(head))
        (size,) = _HEAD.unpack(head)
        message = pickle.loads(_read_exact(fd, size))
        if message[0] == "policy":
            reply: tuple[Any, ...] = _load_engine(engines, message[1], message[2])
        elif message[0] == "spawn" and len(fds) == 2:
            pid = os.fork()
            if pid == 0:
                try:
                    sock.close()
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    _serve(fds[0], fds[1], engines)
                finally:
                    os._exit(0)
            reply = ("spawned", pid)
        else:
            reply = ("raised", RuntimeError(f"unknown request {message[0]!r}"))
        for passed in fds:
            os.close(passed)
        _write_frame(fd, reply)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        _zygote_main(int(sys.argv[2]))
    else:
        sys.exit("usage: python -m gateway.evaluation --zygote FD (started by the gateway)")
