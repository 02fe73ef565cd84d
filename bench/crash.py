"""kill -9 the gateway while C clients send N messages each; restart; count lost and duplicated.

The round itself is tests/e2e/test_crash.py's (the gateway as a real process, the kill part-way,
the restart, the count at the sink); this runs it with bigger numbers and several rounds and prints
the counts instead of asserting them.

    python bench/crash.py --clients 16 --per-client 100 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine
from tests.e2e.test_crash import run_crash_round
from tests.sink import Sink


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    totals = {"acknowledged": 0, "lost": 0, "duplicated": 0}
    for n in range(args.rounds):
        sink = await Sink().start()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                result = await run_crash_round(Path(tmp), sink, args.clients, args.per_client)
        finally:
            await sink.stop()
        for key in totals:
            totals[key] += result[key]
        print(f"round {n + 1}: {args.clients} clients x {args.per_client} messages, killed after a third "
              f"was acknowledged: {result}")
    print(f"total: {totals}   (lost must be 0; duplicates only for messages on the wire to the upstream)")


if __name__ == "__main__":
    asyncio.run(main())
