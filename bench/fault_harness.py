"""Fault harness: acknowledged / delivered / lost / duplicated per scenario, as a Markdown table.

Each scenario is one round of tests/faults.py: the gateway as a real process, clients sending
concurrently, a recording sink as upstream, the fault injected once a third of the messages was
acknowledged, then a restart (where the fault stopped the gateway) and a count at the sink.
lost = acknowledged but never delivered; duplicated = copies beyond the first; refused = 4xx/5xx
answers the clients got (no 250, so nothing promised).

    python bench/fault_harness.py                 # print the table
    python bench/fault_harness.py --write         # and put it into docs/BENCHMARKS.md
    python bench/fault_harness.py --only power,kill9-inline

The power-cut scenario needs FUSE (tests/lazyfs.py); the full-disk one a tmpfs mount (root).
kill9-postgres uses a database on GATEWAY_TEST_PG_DSN's server (or a private server without one);
the PostgreSQL outage scenarios start a private server of their own (tests/pgserver.py, needs the
PostgreSQL server binaries) and never touch a shared one: postgres-outage stops it for 15 s
(pg_ctl stop -m fast), postgres-hung freezes it (SIGSTOP) for 60 s, while paced clients send
shipping notices the rule packs relay to a marketplace alias, and mail spooled just before (held
by an upstream 451) is due. Below the table: how refusals were answered, and what went out while
the database was away.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine
from tests.faults import Outage, RoundResult, run_round
from tests.pgserver import private_server
from tests.pgserver import unavailable as no_private_pg
from tests.powerloss import unavailable
from tests.sink import Sink

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "BENCHMARKS.md"
BEGIN = "<!-- fault-harness:begin (bench/fault_harness.py --write) -->"
END = "<!-- fault-harness:end -->"
HEADER = ("| scenario | acknowledged | delivered | lost | duplicated | refused | load average at start |\n"
          "|---|---|---|---|---|---|---|")


def outage(seconds: float) -> tuple[Callable[[Sink], Awaitable[None]], Callable[[Sink], Awaitable[None]]]:
    """The upstream stops listening, and comes back on its port ``seconds`` after the load."""
    kept: dict[str, int] = {}

    async def down(sink: Sink) -> None:
        kept["port"] = sink.port
        await sink.stop()

    async def back(sink: Sink) -> None:
        await asyncio.sleep(seconds)
        await sink.start(kept["port"])

    return down, back


async def tempfail(sink: Sink) -> None:
    sink.behaviour.data_reply = "451 4.3.0 try again later"


async def recovers_after_5s(sink: Sink) -> None:
    await asyncio.sleep(5)
    sink.behaviour.data_reply = None


async def stall_some(sink: Sink) -> None:
    stalled = {"n": 0}

    def stall_for(data: bytes) -> float:
        if stalled["n"] < 8:
            stalled["n"] += 1
            return 20.0
        return 0.0
    sink.behaviour.stall_for = stall_for


def mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, check=False).returncode == 0


async def scenario(name: str, clients: int, per_client: int) -> RoundResult | str:
    sink = await Sink().start()
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            common: dict[str, Any] = {"scenario": name, "clients": clients, "per_client": per_client}
            if name == "kill9-inline":
                return await run_round(tmp, sink, fault="kill9", **common)
            if name == "kill9-separate":
                return await run_round(tmp, sink, fault="kill9", separate=True, **common)
            if name == "power":
                reason = unavailable()
                if reason is not None:
                    return f"skipped: {reason}"
                return await run_round(tmp, sink, fault="power", **common)
            if name == "kill9-postgres":
                dsn = os.environ.get("GATEWAY_TEST_PG_DSN")
                if not dsn:
                    reason = no_private_pg()
                    if reason is not None:
                        return f"skipped: GATEWAY_TEST_PG_DSN not set and {reason}"
                    with private_server() as server:
                        return await run_round(tmp, sink, fault="kill9", database=server.dsn,
                                               recipient=ALIAS, policy=True, timeout=60, **common)
                from tests.pgutil import temporary_database

                with temporary_database(dsn) as database:
                    # To marketplace aliases, judged by the shipped packs: every message reads its
                    # opt-out and counter state there before the 250 and writes its relay record.
                    return await run_round(tmp, sink, fault="kill9", database=database,
                                           recipient=ALIAS, policy=True, timeout=60, **common)
            if name in ("postgres-outage", "postgres-hung"):
                reason = no_private_pg()
                if reason is not None:
                    return f"skipped: {reason}"
                with private_server() as server:
                    # A freeze shorter than a store operation's 30 s deadline only delays mail.
                    stop = name == "postgres-outage"
                    pg_outage = Outage(server, mode="stop" if stop else "freeze", seconds=15.0 if stop else 60.0,
                                    hold=2.0)
                    result = await run_round(tmp, sink, fault="none", database=server.dsn, recipient=ALIAS,
                                             policy=True, timeout=120, pace=0.25 if stop else 1.0,
                                             during=pg_outage.during,
                                             after=pg_outage.after, settle=120, **common)
                    during = [t for t in result.acknowledged_at if pg_outage.down_at + 1 < t < pg_outage.back_at - 1]
                    after = [t for t in result.acknowledged_at if t > pg_outage.back_at]
                    NOTES.append(f"{name}: database away {pg_outage.back_at - pg_outage.down_at:.0f} s; delivered "
                                 f"meanwhile {pg_outage.delivered_during} spooled messages; acknowledged "
                                 f"meanwhile {len(during)}, after it was back {len(after)}")
                    return result
            if name == "sigterm":
                return await run_round(tmp, sink, fault="sigterm", **common)
            if name == "upstream-down-10s":
                down, back = outage(10.0)
                return await run_round(tmp, sink, fault="none", during=down, after=back, settle=60, **common)
            if name == "451-then-250":
                return await run_round(tmp, sink, fault="none", during=tempfail, after=recovers_after_5s,
                                       settle=60, **common)
            if name == "stalled-upstream":
                return await run_round(tmp, sink, fault="none", during=stall_some, settle=60, **common)
            if name == "full-disk":
                mnt = tmp / "small"
                if not mount_tmpfs(mnt, "2m"):
                    return "skipped: cannot mount a tmpfs (needs root)"
                try:
                    return await run_round(tmp, sink, fault="none", during=tempfail, after=recovers_after_5s,
                                           state=mnt / "state", min_free_bytes=1_000_000, settle=60, **common)
                finally:
                    subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)
            raise SystemExit(f"unknown scenario {name}")
    finally:
        await sink.stop()


SCENARIOS = ["kill9-inline", "kill9-separate", "kill9-postgres", "postgres-outage", "postgres-hung", "power",
             "sigterm", "upstream-down-10s", "451-then-250", "stalled-upstream", "full-disk"]
ALIAS = "a1b2c3d4@marketplace.amazon.de"
NOTES: list[str] = []  # what a scenario observed beyond the table's columns


def write_doc(command: str, text: str) -> None:
    section = f"{BEGIN}\n## Fault harness: acknowledged / delivered / lost / duplicated per scenario\n\n" \
              f"```sh\n{command}\n```\n\n{text}\n{END}"
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    heading = "\n## Fault harness:"
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + section + doc[doc.index(END) + len(END):]
    elif heading in doc:  # as bench/report.py wrote it: replace up to the next section
        start = doc.index(heading) + 1
        nxt = doc.find("\n## ", start)
        doc = doc[:start] + section + ("\n" + doc[nxt:] if nxt >= 0 else "\n")
    else:
        doc = doc.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(doc)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=60)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--write", action="store_true", help="put the table into docs/BENCHMARKS.md")
    args = parser.parse_args()
    lines = [f"machine: {machine()}; {args.clients} clients x {args.per_client} messages per scenario", "",
             HEADER]
    print("\n".join(lines), flush=True)
    started = time.monotonic()
    refusals: list[str] = []
    for name in args.only.split(","):
        load = "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
        result = await scenario(name, args.clients, args.per_client)
        if isinstance(result, RoundResult):
            line = f"{result.row()} {load} |"
            if result.replies:
                refusals.append(f"{name}: " + ", ".join(f"{n} x {kind}" for kind, n in result.replies.most_common()))
        else:
            line = f"| {name} | {result} | | | | | {load} |"
        lines.append(line)
        print(line, flush=True)
    table_end = len(lines)
    lines += ["", f"(took {time.monotonic() - started:.0f} s; lost must be 0 everywhere; duplicates only "
                  "after kill -9 / power cut, for messages on the wire to the upstream at that moment; "
                  "load average = 1 / 5 / 15 minutes when the scenario started)"]
    if refusals:
        lines += ["", "How the refused were answered:", "", *(f"- {r}" for r in refusals)]
    if NOTES:
        lines += ["", *(f"- {n}" for n in NOTES)]
    print("\n".join(lines[table_end:]))
    if args.write:
        argv = [a for a in sys.argv[1:] if a != "--write"]
        write_doc(shlex.join(["python", "bench/fault_harness.py", *argv]), "\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
