"""What process-isolated policy evaluation costs on top of the evaluation itself.

The same message (bench/peer.py's German invoice to a marketplace alias, all packs) is evaluated
``--messages`` times, ``--concurrency`` at a time, with the real SQLite store's policy-state view:

* in this process, on a thread (``[policy] evaluation_isolation = "thread"``);
* through the evaluation pool (``"process"``, the default), after a warm-up that starts the
  pool's worker processes (their start-up is not a per-message cost; it is printed separately).

It prints CPU per message (user + system from /proc: this process plus its evaluation workers) and
wall time per message, and the difference: the isolation's overhead per message.

    python bench/eval_overhead.py [--messages 2000] [--concurrency 20]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine
from bench.peer import ALIAS, INVOICE_DE, cpu_seconds, process_tree
from gateway.classify import Classifier
from gateway.config import GatewayConfig, MarketplaceConfig, PolicyConfig
from gateway.evaluation import evaluate_policy, shared_pool
from gateway.policy.engine import PolicyEngine
from gateway.store.factory import open_store


async def run(engine: PolicyEngine, raw: bytes, state_for: object, messages: int, concurrency: int,
              isolation: str) -> tuple[float, float]:
    recipients = Classifier(MarketplaceConfig().tlds).marketplace_recipients([ALIAS])
    queue = iter(range(messages))

    async def one_client() -> None:
        for _ in queue:
            state = await state_for.policy_state("", [ALIAS])  # type: ignore[attr-defined]
            await evaluate_policy(engine, raw, recipients, state, isolation)  # type: ignore[arg-type]

    pids = process_tree(os.getpid())
    cpu0 = cpu_seconds(pids)
    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    cpu = cpu_seconds(process_tree(os.getpid())) - cpu0
    return 1000 * cpu / messages, 1000 * wall / messages


async def main_async(args: argparse.Namespace) -> None:
    raw = INVOICE_DE.format(to=ALIAS).replace("\n", "\r\n").encode()
    engine = PolicyEngine.load(PolicyConfig(), MarketplaceConfig())
    with tempfile.TemporaryDirectory(prefix="eval-overhead-") as tmp:
        config = GatewayConfig.model_validate({"state": {"directory": tmp}})
        store = await open_store(config)
        try:
            pids = process_tree(os.getpid())
            cpu0 = cpu_seconds(pids)
            start = time.perf_counter()
            await run(engine, raw, store, args.concurrency * 3, args.concurrency, "process")
            workers = len(process_tree(os.getpid())) - 1
            print(f"warm-up ({args.concurrency * 3} messages): {workers} evaluation processes started, "
                  f"{cpu_seconds(process_tree(os.getpid())) - cpu0:.2f} s CPU, "
                  f"{time.perf_counter() - start:.2f} s")
            await run(engine, raw, store, 200, args.concurrency, "thread")
            rows: dict[str, list[tuple[float, float]]] = {}
            for isolation in ("thread", "process", "thread", "process"):
                rows.setdefault(isolation, []).append(
                    await run(engine, raw, store, args.messages, args.concurrency, isolation))
        finally:
            await store.close()
            shared_pool().close()
    for isolation, runs in rows.items():
        best = min(runs)
        print(f"{isolation:>8}: CPU {best[0]:.2f} ms/msg, wall {best[1]:.2f} ms/msg "
              f"(runs: {', '.join(f'{c:.2f}' for c, _ in runs)} ms CPU)")
    overhead = min(rows["process"])[0] - min(rows["thread"])[0]
    print(f"isolation overhead: {overhead:.2f} ms CPU per message")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
