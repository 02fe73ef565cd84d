"""Policy evaluation in worker processes that can be ended: one message's cost stays its own.

A thread can be abandoned when its evaluation times out, but it cannot be stopped: it goes on
burning CPU (and holding the GIL the event loop needs) long after its client was told 451, and a
few such messages make every other verdict late. So the engine runs in small worker processes
(``python -m gateway.evaluation``), at most ``MAX_WORKERS`` at once,
started as concurrency needs them. When the caller's deadline
passes (``asyncio.timeout`` around :func:`evaluate_policy` cancels it), the worker evaluating that
message is killed and a fresh one takes its place on the next message. Workers are recycled after
``JOBS_PER_WORKER`` messages or ``BYTES_PER_WORKER`` of message data, which hands the memory of big
messages back to the system. (Starting a worker and loading the engine costs ~0.75 s of CPU: at
the old 500 messages per worker that was 1.5 ms per message, more than evaluating one.)

Each worker is driven by one thread of a dedicated pool (a frame protocol of pickles over the
worker's stdin/stdout). The engine is pickled once per engine object and sent once per worker.
The store's policy-state view stays in this process: the worker calls back for
``review_requests`` / ``alias_status`` and the driving thread answers (it is a worker thread, as
the view requires).

Only the gateway's own engine classes (and objects that set ``isolate_evaluation = True``) are
sent to workers; any other object with the engine's interface (a test double) is evaluated in a
thread as before, and so is everything with ``[policy] evaluation_isolation = "thread"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, Literal, Protocol, TypeVar

from gateway.log import get_logger

log = get_logger("gateway.evaluation")

# Started on demand: enough that a handful of costly messages (each ended at its deadline) leave
# workers free for the rest; the CPU they share is the kernel's to divide.
MAX_WORKERS = max(8, 4 * (os.cpu_count() or 1))
# After a burst, workers idle this long are ended (their memory with them), all but KEEP_WARM.
KEEP_WARM = 2
IDLE_AFTER = 30.0
REAP_EVERY = 10.0
JOBS_PER_WORKER = 10_000
BYTES_PER_WORKER = 64 * 1024 * 1024
_POLICY_CACHE = 16  # engine objects kept pickled (a reload makes new ones)

Isolation = Literal["process", "thread"]
V_co = TypeVar("V_co", covariant=True)


class Evaluates(Protocol[V_co]):
    def evaluate(self, raw: bytes, recipients: Sequence[Any], state: Any, /) -> V_co: ...


def isolatable(policy: Any) -> bool:
    """The gateway's own engines, and objects that ask for it (``isolate_evaluation = True``)."""
    return type(policy).__module__.startswith("gateway.") or getattr(policy, "isolate_evaluation", False) is True


class _Worker:
    """One ``python -m gateway.evaluation`` process and what it has been sent."""

    def __init__(self) -> None:
        # This process's import path, so the worker can unpickle whatever the engine refers to.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway.evaluation"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.to_worker: IO[bytes] = self.proc.stdin
        self.from_worker: IO[bytes] = self.proc.stdout
        self.known: set[str] = set()
        self.jobs = 0
        self.bytes = 0
        self.lock = threading.Lock()
        self.busy = False
        self.retired = False
        self.last_used = time.monotonic()

    def send(self, message: tuple[Any, ...]) -> None:
        pickle.dump(message, self.to_worker, protocol=pickle.HIGHEST_PROTOCOL)
        self.to_worker.flush()

    def receive(self) -> tuple[Any, ...]:
        message: tuple[Any, ...] = pickle.load(self.from_worker)
        return message

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()

    def close(self) -> None:
        for stream in (self.to_worker, self.from_worker):
            with contextlib.suppress(OSError):
                stream.close()
        self.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


class _Ticket:
    """One evaluation: which worker runs it, so a caller that gave up can have it killed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.worker: _Worker | None = None
        self.cancelled = False

    def is_cancelled(self) -> bool:
        return self.cancelled

    def cancel(self) -> int | None:
        with self.lock:
            self.cancelled = True
            if self.worker is None:
                return None
            self.worker.kill()
            return self.worker.proc.pid


class EvaluationPool:
    def __init__(self, max_workers: int = MAX_WORKERS) -> None:
        self._threads = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="policy-eval")
        self._local = threading.local()
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._pickle_lock = threading.Lock()
        self._pickled: dict[int, tuple[Any, str, bytes]] = {}
        self._keys = itertools.count()
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()
        self.killed = 0

    def _policy_blob(self, policy: Any) -> tuple[str, bytes]:
        # One pickling at a time: two threads pickling the same engine at once (the two warm-ups at
        # start) crashed the interpreter in the C extensions' pickle support (segfault in a full run).
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

    def _worker(self) -> _Worker:
        """This thread's worker, marked busy (the caller clears it)."""
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is not None:
            with worker.lock:
                usable = (not worker.retired and worker.proc.poll() is None and worker.jobs < JOBS_PER_WORKER
                          and worker.bytes < BYTES_PER_WORKER)
                worker.busy = usable
            if not usable:
                self._retire(worker)
                worker = None
        if worker is None:
            worker = _Worker()
            worker.busy = True
            self._local.worker = worker
            with self._lock:
                self._workers.add(worker)
            self._start_reaper()
        return worker

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="policy-eval-reaper", daemon=True)
                self._reaper.start()

    def _reap(self) -> None:
        """After a burst: end workers idle for IDLE_AFTER seconds, beyond the KEEP_WARM most recent."""
        while not self._closed.wait(REAP_EVERY):
            with self._lock:
                workers = sorted(self._workers, key=lambda w: w.last_used, reverse=True)
            for worker in workers[KEEP_WARM:]:
                with worker.lock:
                    if worker.busy or time.monotonic() - worker.last_used < IDLE_AFTER:
                        continue
                    worker.retired = True
                with self._lock:
                    self._workers.discard(worker)
                worker.close()

    def _retire(self, worker: _Worker) -> None:
        self._local.worker = None
        with self._lock:
            self._workers.discard(worker)
        worker.close()

    def _ready(self, policy: Any) -> tuple[_Worker, str]:
        """This thread's worker with ``policy`` loaded. Starting a worker and loading an engine
        take a while on a busy machine; that work is never killed, so it is never wasted."""
        key, blob = self._policy_blob(policy)
        worker = self._worker()
        if key not in worker.known:
            try:
                worker.send(("policy", key, blob))
                answer = worker.receive()
                if answer[0] != "loaded":
                    self._done(worker)
                    raise RuntimeError(f"policy worker could not load the engine: {answer[1]!r}")
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                self._retire(worker)
                raise RuntimeError(f"policy worker {worker.proc.pid} ended: {exc!r}") from exc
            worker.known.add(key)
        return worker, key

    def _warm(self, policy: Any) -> None:
        worker, _ = self._ready(policy)
        self._done(worker)

    def warm(self, policy: Any, workers: int = 2) -> list[Future[None]]:
        """Start ``workers`` workers with ``policy`` loaded, in the background (at start-up)."""
        if not isolatable(policy):
            return []
        return [self._threads.submit(self._warm, policy) for _ in range(workers)]

    @staticmethod
    def _done(worker: _Worker) -> None:
        with worker.lock:
            worker.busy = False
            worker.last_used = time.monotonic()

    def _run(self, ticket: _Ticket, policy: Any, raw: bytes, recipients: Sequence[Any], state: Any) -> Any:
        if ticket.is_cancelled():
            raise RuntimeError("evaluation cancelled before it started")
        worker, key = self._ready(policy)
        with ticket.lock:
            if ticket.is_cancelled():
                self._done(worker)
                raise RuntimeError("evaluation cancelled before it started")
            ticket.worker = worker  # from here on, a caller that gives up kills the worker
        worker.jobs += 1
        worker.bytes += len(raw)
        known = _alias_statuses(state, recipients)
        try:
            worker.send(("evaluate", key, raw, list(recipients), state is not None, known))
            while True:
                message = worker.receive()
                if message[0] == "call":  # the worker asks the state view something
                    try:
                        reply: tuple[Any, ...] = ("return", getattr(state, message[1])(*message[2]))
                    except Exception as exc:
                        reply = ("raise", _portable(exc))
                    worker.send(reply)
                elif message[0] == "verdict":
                    return message[1]
                else:
                    raise message[1]
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            self._retire(worker)  # killed (deadline) or crashed: the next job gets a fresh one
            raise RuntimeError(f"policy worker {worker.proc.pid} ended: {exc!r}") from exc
        finally:
            with ticket.lock:
                ticket.worker = None
            self._done(worker)

    async def evaluate(self, policy: Any, raw: bytes, recipients: Sequence[Any], state: Any) -> Any:
        ticket = _Ticket()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._threads, self._run, ticket, policy, raw, recipients, state)
        try:
            return await future
        except asyncio.CancelledError:
            pid = ticket.cancel()
            if pid is not None:
                self.killed += 1
                log.warning("policy_evaluation_killed", worker_pid=pid, size=len(raw))
            raise

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            workers, self._workers = list(self._workers), set()
        for worker in workers:
            worker.close()
        self._threads.shutdown(wait=False, cancel_futures=True)


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


def warm_up(policy: Any, isolation: Isolation = "process", workers: int = 2) -> None:
    """Start policy workers ahead of the first message (their start-up is not its deadline's)."""
    if isolation == "process" and policy is not None:
        shared_pool().warm(policy, workers)


def _alias_statuses(state: Any, recipients: Sequence[Any]) -> dict[str, Any]:
    """The recipients' alias statuses, read here (in the driving thread, as the view requires) and
    sent with the message: the engine asks for every alias, and each question it would otherwise
    send back is a round trip through two processes. Empty when the view cannot answer now; the
    worker then asks as before."""
    if state is None:
        return {}
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


# -- the worker process ----------------------------------------------------------------------------

class _StateProxy:
    """The parent's policy-state view for one evaluation: the recipients' alias statuses came with
    the message; any other question is one round trip, and each answer is kept (state does not
    change under one evaluation as far as its verdict is concerned; the store's reservations
    decide races)."""

    def __init__(self, inp: IO[bytes], out: IO[bytes], aliases: dict[str, Any] | None = None) -> None:
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
            pickle.dump(("call", name, args), self._out, protocol=pickle.HIGHEST_PROTOCOL)
            self._out.flush()
            reply = pickle.load(self._inp)
            if reply[0] == "return":
                self._answers[asked] = reply[1]
                return reply[1]
            raise reply[1]

        return call


def _worker_main() -> None:
    # Frames go over the original stdout; anything printed or logged goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    engines: dict[str, Any] = {}
    while True:
        try:
            message = pickle.load(inp)
        except EOFError:
            return  # the gateway closed the pipe (or died)
        if message[0] == "policy":
            if len(engines) >= 4:
                engines.pop(next(iter(engines)))
            try:
                engines[message[1]] = pickle.loads(message[2])
                reply: tuple[Any, ...] = ("loaded",)
            except Exception as exc:
                reply = ("raised", _portable(exc))
            pickle.dump(reply, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
            continue
        _, key, raw, recipients, has_state, *more = message
        state = _StateProxy(inp, out, more[0] if more else None) if has_state else None
        try:
            reply = ("verdict", engines[key].evaluate(raw, recipients, state))
        except Exception as exc:
            reply = ("raised", _portable(exc))
        pickle.dump(reply, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


if __name__ == "__main__":
    _worker_main()
