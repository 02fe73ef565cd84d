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
import threading
from collections.abc import Sequence
from typing import Any, Literal, Protocol, TypeVar

from gateway.evaluation.pool import CORES, MAX_WORKERS, EvaluationPool, isolatable, pool_size

__all__ = [
    "CORES",
    "MAX_WORKERS",
    "Evaluates",
    "EvaluationPool",
    "Isolation",
    "evaluate_policy",
    "isolatable",
    "pool_size",
    "shared_pool",
    "warm_up",
]

Isolation = Literal["process", "thread"]
V_co = TypeVar("V_co", covariant=True)


class Evaluates(Protocol[V_co]):
    def evaluate(self, raw: bytes, recipients: Sequence[Any], state: Any, /) -> V_co: ...


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
