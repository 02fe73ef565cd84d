"""Policy evaluation time per message, all rule packs loaded (target: median < 1 ms).

Evaluates every example message shipped with the rule packs (policies/examples, the legit and the
violating ones) plus a typical 4 KB delivery notice, each to a marketplace alias, R rounds, single
thread, and prints median / p90 / p99 / max per message overall and per pack folder.

    python bench/policy_eval.py [--rounds 50]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine
from gateway.classify import Classifier
from gateway.config import MarketplaceConfig, PolicyConfig
from gateway.policy.engine import InMemoryPolicyState, PolicyEngine

REPO = Path(__file__).resolve().parent.parent


def load_messages() -> list[tuple[str, bytes]]:
    found = []
    for path in sorted((REPO / "policies" / "examples").rglob("*.eml*")):
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        found.append((path.parent.name, raw))
    body = ("Dear customer, your order 302-4817265-9034712 will be delivered on Tuesday "
            "between 9 and 12. Please confirm the delivery address.\r\n") * 28
    found.append(("bench-4k", (f"From: seller@shop.example\r\nTo: 3vqmzxk4lhl9w1b@marketplace.amazon.de\r\n"
                               f"Subject: Delivery scheduling\r\nContent-Type: text/plain; charset=utf-8\r\n"
                               f"\r\n{body}").encode()))
    return found


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    started = time.perf_counter()
    engine = PolicyEngine.load(PolicyConfig(), MarketplaceConfig())
    load_s = time.perf_counter() - started
    recipients = Classifier(MarketplaceConfig().tlds).marketplace_recipients(
        ["3vqmzxk4lhl9w1b@marketplace.amazon.de"])
    state = InMemoryPolicyState()
    messages = load_messages()
    for _, raw in messages:  # warm-up: regex and phrase-index caches
        engine.evaluate(raw, recipients, state)
    times: list[float] = []
    per_pack: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.rounds):
        for pack, raw in messages:
            t0 = time.perf_counter()
            engine.evaluate(raw, recipients, state)
            took = (time.perf_counter() - t0) * 1000
            times.append(took)
            per_pack[pack].append(took)
    print(f"machine: {machine()}")
    print(f"rule packs loaded in {load_s * 1000:.0f} ms; {len(messages)} messages "
          f"({min(len(r) for _, r in messages)}..{max(len(r) for _, r in messages)} bytes) x {args.rounds} rounds")
    print(f"per message: median {statistics.median(times):.3f} ms   p90 {pct(times, 90):.3f} ms   "
          f"p99 {pct(times, 99):.3f} ms   max {max(times):.3f} ms   (target: median < 1 ms)")
    for pack, values in sorted(per_pack.items()):
        print(f"  {pack:<14} median {statistics.median(values):7.3f} ms   max {max(values):7.3f} ms   "
              f"({len(values) // args.rounds} messages)")


if __name__ == "__main__":
    main()
