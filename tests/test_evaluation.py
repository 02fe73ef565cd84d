"""Policy evaluation that runs out of time is ended, and never delays other messages' verdicts.

Issue 16.2: six messages that each took 25 s of CPU got 451 after the 10 s timeout, but their
evaluations ran on in threads, and for about 100 s every small message got 451 as well.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.config import GatewayConfig
from gateway.evaluation import MAX_WORKERS, EvaluationPool, evaluate_policy, shared_pool
from gateway.policy.verdict import Action, Verdict
from gateway.store.factory import open_store
from gateway.store.sqlite import StorePolicyState
from tests.conftest import listener_port, make_config
from tests.e2e.test_storage_faults import send_one
from tests.policy_doubles import HEAVY, AliasEchoPolicy, CostlyPolicy, CountingState
from tests.sink import Sink


async def warmed(policy: object) -> None:
    """Every worker started with the engine loaded: the steady state, not a cold start."""
    await asyncio.gather(*(asyncio.wrap_future(f) for f in shared_pool().warm(policy, MAX_WORKERS)))


async def test_timed_out_evaluation_stops_consuming_cpu() -> None:
    policy = CostlyPolicy()
    pool = EvaluationPool(max_workers=1)
    try:
        # A worker up and the engine loaded first: starting one is never cut short (nor counted).
        assert (await pool.evaluate(policy, b"Subject: w\r\n\r\nwarm\r\n", [], None)).action is Action.RELAY
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                await pool.evaluate(policy, b"Subject: x\r\n\r\nHEAVY\r\n", [], None)
        assert pool.killed == 1
        # Nothing of that evaluation runs on: no CPU is used in this process or a worker.
        before = time.process_time()
        await asyncio.sleep(1.0)
        assert time.process_time() - before < 0.5
        verdict = await pool.evaluate(policy, b"Subject: y\r\n\r\nsmall\r\n", [], None)
        assert verdict.action is Action.RELAY
    finally:
        pool.close()


@pytest.mark.parametrize("isolation", ["process"])
async def test_costly_messages_do_not_delay_other_verdicts(isolation: Any) -> None:
    policy = CostlyPolicy()
    heavy = b"Subject: bomb\r\n\r\n" + HEAVY + b"\r\n"
    await warmed(policy)

    async def bounded(raw: bytes, limit: float) -> Verdict:
        async with asyncio.timeout(limit):
            return await evaluate_policy(policy, raw, [], None, isolation)

    # More costly messages than there are CPUs or default executor threads, each given 1 s.
    results = await asyncio.gather(*(bounded(heavy, 1.0) for _ in range(8)), return_exceptions=True)
    assert all(isinstance(r, TimeoutError) for r in results), results
    # A small message right after gets its verdict well inside its own deadline.
    verdict = await bounded(b"Subject: small\r\n\r\nhello\r\n", 5.0)
    assert verdict.action is Action.RELAY


async def test_a_killed_worker_and_a_dead_zygote_are_replaced() -> None:
    policy = CostlyPolicy()
    pool = EvaluationPool(max_workers=2, size=1)
    try:
        assert (await pool.evaluate(policy, b"Subject: w\r\n\r\nwarm\r\n", [], None)).action is Action.RELAY
        assert pool._zygote is not None
        pool._zygote.proc.kill()  # the process workers are forked from dies
        pool._zygote.proc.wait()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                await pool.evaluate(policy, b"Subject: x\r\n\r\nHEAVY\r\n", [], None)
        assert pool.killed == 1
        # The next message needs a new worker: a new zygote forks it.
        verdict = await pool.evaluate(policy, b"Subject: y\r\n\r\nsmall\r\n", [], None)
        assert verdict.action is Action.RELAY
        assert pool.started == 2
    finally:
        pool.close()


async def test_more_messages_than_workers_wait_their_turn() -> None:
    # A pool of one: twenty messages at once are evaluated one after the other by that worker,
    # none is lost or left waiting, and no second worker starts for ordinary messages.
    pool = EvaluationPool(max_workers=4, size=1)
    try:
        verdicts = await asyncio.gather(*(pool.evaluate(CostlyPolicy(), f"Subject: {i}\r\n\r\nhi\r\n".encode(),
                                                        [], None) for i in range(20)))
        assert [v.action for v in verdicts] == [Action.RELAY] * 20
        assert pool.started == 1
    finally:
        pool.close()


class _NoAnswersHere(StorePolicyState):
    """The store's view, but asking it in this process fails: the worker must read the file itself."""

    def alias_status(self, alias: str) -> None:
        raise AssertionError("asked the gateway process")

    def review_requests(self, order_id: str) -> int:
        raise AssertionError("asked the gateway process")


async def test_the_worker_reads_sqlite_state_itself(tmp_path: Path) -> None:
    store = await open_store(GatewayConfig.model_validate({"state": {"directory": str(tmp_path)}}))
    try:
        state = _NoAnswersHere(store)  # type: ignore[arg-type]
        raw = b"Subject: hello\r\n\r\nhello\r\n"
        assert (await evaluate_policy(AliasEchoPolicy(), raw, [], state)).action is Action.RELAY
        await store.record_alias("buyer1@marketplace.amazon.de", "optout", marketplace="de", order_id=None,
                                 evidence="test", source="test")
        assert (await evaluate_policy(AliasEchoPolicy(), raw, [], state)).action is Action.REJECT
    finally:
        await store.close()


async def test_worker_asks_this_process_for_policy_state() -> None:
    verdict = await evaluate_policy(CostlyPolicy(), b"Subject: q\r\n\r\nASK\r\n", [], CountingState())
    assert verdict.action is Action.REJECT


async def test_gateway_answers_small_mail_while_costly_mail_times_out(tmp_path: Path, sink: Sink) -> None:
    # End to end with marketplace recipients: the costly message gets 451 4.3.0 at its deadline,
    # and the small one sent meanwhile its normal answer.
    gw = Gateway(make_config(tmp_path, sink.port, policy={"evaluation_timeout": 2.0}), policy=CostlyPolicy())
    await gw.start()
    try:
        assert gw.tenants is not None
        await warmed(gw.tenants.default_policy)
        await _costly_and_small(listener_port(gw))
    finally:
        await gw.stop(grace=2.0)


async def _costly_and_small(port: int) -> None:
    costly = [asyncio.create_task(send_one(port, f"costly {i}", body=HEAVY, to=f"a1b2c{i}@marketplace.amazon.de"))
              for i in range(6)]  # as many as the default executor has threads on 2 cores
    await asyncio.sleep(0.5)
    small = await send_one(port, "small", to="d4e5f6@marketplace.amazon.de")
    assert small[0] == 250, small
    for reply in await asyncio.gather(*costly):
        assert reply[0] == 451 and "4.3.0" in reply[1], reply
