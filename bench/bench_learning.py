"""What learning from Amazon's verdicts costs per relayed marketplace message.

    python bench/bench_learning.py [--runs 2000] [--held 50]

Times, as the thread's CPU time per message (median and p99):

- ``fingerprint``: what the policy engine adds to each evaluation (in its worker process) for the
  template fingerprint, from the text it read already, for a 4 KB plain text and a ~20 KB
  HTML+PDF message (bench_policy.py's);
- ``record``: building the relayed-message record the record stage keeps for every relayed
  marketplace message (hits with their packs, pack versions), all shipped packs loaded;
- ``hold``: the template-hold comparison of one fingerprint against ``--held`` held templates
  (what a tenant with holds pays per message; a tenant without holds pays nothing);
- ``store``: SQLite ``record_relayed`` round trips (group-committed writes, wall time).

Timing lives here only, never in unit tests.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_policy import build_message, build_plain
from gateway.config import MarketplaceConfig, PolicyConfig
from gateway.fingerprint import Fingerprint, template_fingerprint, text_fingerprint
from gateway.learning import relayed_message
from gateway.message import read_message
from gateway.policy.engine import PolicyEngine
from gateway.policy.verdict import Action, Hit, Verdict
from gateway.store.sqlite import SQLiteStore


def cpu_times(fn: object, runs: int) -> list[float]:
    assert callable(fn)
    out = []
    for _ in range(runs):
        start = time.thread_time()
        fn()
        out.append(time.thread_time() - start)
    return out


def show(name: str, times: list[float]) -> None:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{name:<34} median {statistics.median(times) * 1000:7.3f} ms   p99 {p99 * 1000:7.3f} ms  (CPU)")


async def store_round_trips(runs: int, raw: bytes, engine: PolicyEngine) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        store = await SQLiteStore(Path(folder)).open()
        verdict = Verdict(action=Action.RELAY, hits=(Hit("critical-content", Action.RELAY, "informational"),))
        verdict = dataclasses.replace(verdict, fingerprint=template_fingerprint(raw).encode())
        record = relayed_message(queue_id="Q", message_id="<m@shop>", tenant="", verdict=verdict, shadow=False,
                                 aliases=["a@marketplace.amazon.de"], order_ids=["302-4817265-9034712"],
                                 policy=engine)
        out = []
        try:
            for i in range(runs):
                start = time.perf_counter()
                await store.record_relayed(dataclasses.replace(record, queue_id=f"Q{i}"))
                out.append(time.perf_counter() - start)
        finally:
            await store.close()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--held", type=int, default=50)
    args = parser.parse_args()
    engine = PolicyEngine.load(PolicyConfig(), MarketplaceConfig())
    verdict = Verdict(action=Action.RELAY, hits=(Hit("critical-content", Action.RELAY, "informational"),))
    with open("/proc/loadavg") as fh:
        print(f"load average at start: {fh.read().split()[0]}")
    for label, raw in (("4 KB plain", build_plain(4096)), ("20 KB HTML+PDF", build_message(20000))):
        text = read_message(raw).body_text
        show(f"fingerprint, {label}", cpu_times(lambda text=text: text_fingerprint(text), args.runs))
        judged = dataclasses.replace(verdict, fingerprint=text_fingerprint(text).encode())
        show(f"record, {label}", cpu_times(lambda judged=judged: relayed_message(
            queue_id="Q", message_id="<m@shop>", tenant="", verdict=judged, shadow=False,
            aliases=["a@marketplace.amazon.de"], order_ids=[], policy=engine), args.runs))
        held = [template_fingerprint(raw.replace(b"Spedition", f"Spedition{i}".encode())) for i in range(args.held)]

        def hold(encoded: str = judged.fingerprint, held: list[Fingerprint] = held) -> list[float]:
            mine = Fingerprint.decode(encoded)
            return [mine.similarity(h) for h in held]

        show(f"hold vs {args.held} templates, {label}", cpu_times(hold, args.runs))
    wall = sorted(asyncio.run(store_round_trips(min(args.runs, 500), build_plain(4096), engine)))
    print(f"{'store record_relayed (SQLite)':<34} median {statistics.median(wall) * 1000:7.3f} ms   "
          f"p99 {wall[int(len(wall) * 0.99)] * 1000:7.3f} ms  (wall, one writer, fsync per commit)")


if __name__ == "__main__":
    main()
