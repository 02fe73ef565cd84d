"""Where the gateway's CPU goes per message, driven by Postfix's ``smtp-source`` into ``smtp-sink``.

A smaller driver than ``bench/peer.py`` (no Postfix instance): one gateway (info logs, all rule
packs, inline delivery), a warm-up batch first (policy workers started, caches filled: their
start-up is not a per-message cost), then the measured batch. It prints CPU per message (user +
system from /proc) for the whole process tree, per thread of the main process (MainThread = the
event loop) and per policy worker process, and optionally records a py-spy profile of the main
process while the measured batch runs (``--py-spy out.txt``: raw collapsed stacks, ``--gil``:
only samples holding the GIL, i.e. Python CPU work).

    python bench/cpu_per_message.py [--kind alias|plain] [--messages 2000] [--sessions 20]
                                    [--event-loop auto|asyncio|uvloop] [--py-spy prof.txt [--gil]]

CPU time is what the gateway itself used, so the figures hold up on a loaded machine better than
rates do (hyperthread and cache contention still inflate them somewhat: compare runs made one
after the other). Not part of the test suite; needs smtp-source/smtp-sink (Debian's postfix).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import free_port, gateway_config, machine, start_gateway
from bench.peer import (
    ALIAS,
    INVOICE_DE,
    PLAIN,
    PLAIN_TEXT,
    SENDER,
    SMTP_SINK,
    SMTP_SOURCE,
    Sink,
    cpu_seconds,
    process_tree,
    role,
    wait_port,
    wait_ready,
)


def thread_times(pid: int) -> dict[str, tuple[float, float]]:
    """(user, system) seconds of each thread of ``pid``, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, tuple[float, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[task.name] = (int(fields[11]) / tick, int(fields[12]) / tick)
    return out


def thread_names(pid: int) -> dict[str, str]:
    """Python thread names by thread id, from ``py-spy dump`` (when installed)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.access(spy, os.X_OK):
        return {}
    dump = subprocess.run([spy, "dump", "-p", str(pid)], capture_output=True, text=True).stdout
    return {m.group(1): m.group(2) for m in re.finditer(r'Thread (\d+) \([^)]*\): "([^"]*)"', dump)}


def wait_settled(sink: Sink, target: int, quiet: float = 4.0) -> int:
    """Wait until the sink has ``target`` messages or has taken none for ``quiet`` seconds."""
    last, since = -1, time.monotonic()
    while sink.count < target:
        if sink.count != last:
            last, since = sink.count, time.monotonic()
        elif time.monotonic() - since > quiet:
            break
        time.sleep(0.05)
    return sink.count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("alias", "plain"), default="alias")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--py-spy", dest="spy", default="", help="record a py-spy profile (raw format) to this file")
    parser.add_argument("--gil", action="store_true", help="py-spy: only samples holding the GIL")
    parser.add_argument("--workers", type=int, default=1,
                        help="[server] workers (more than 1: per-thread figures are the supervisor's, "
                             "py-spy profiles the first worker)")
    parser.add_argument("--log-level", default="info", help="[log] level (info: every decision logged)")
    parser.add_argument("--event-loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                        help="[server] event_loop")
    args = parser.parse_args()
    missing = [p for p in (SMTP_SOURCE, SMTP_SINK) if not os.access(p, os.X_OK)]
    if missing:
        print(f"skipped: Debian's postfix is not installed ({', '.join(missing)} missing)")
        return 0
    print(f"machine: {machine()}; load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="cpu-per-message-") as tmp:
        root = Path(tmp)
        message = root / "message.txt"
        message.write_text(INVOICE_DE.format(to=ALIAS) if args.kind == "alias" else PLAIN_TEXT.format(to=PLAIN))
        rcpt = ALIAS if args.kind == "alias" else PLAIN
        sink = Sink(free_port())
        port = free_port()
        config = gateway_config(root / "gw", port, sink.port, log_level=args.log_level,
                                extra=f'workers = {args.workers}\nevent_loop = "{args.event_loop}"\n')
        with (root / "gateway.log").open("wb") as log:
            proc = start_gateway(config, stderr=log)
            try:
                wait_ready(root / "gateway.log", proc)
                wait_port(port)

                def source(count: int) -> None:
                    subprocess.run([SMTP_SOURCE, "-A", "-s", str(args.sessions), "-m", str(count), "-F", str(message),
                                    "-f", SENDER, "-t", rcpt, "-M", "erp.shop.example", f"127.0.0.1:{port}"],
                                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

                source(args.warmup)
                wait_settled(sink, args.warmup)
                before = sink.count
                pids = process_tree(proc.pid)
                threads0 = thread_times(proc.pid)
                procs0 = {p: cpu_seconds([p]) for p in pids}
                cpu0 = cpu_seconds(pids)
                spy = None
                if args.spy:
                    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
                    target = proc.pid
                    if args.workers > 1:  # the first worker process: where sessions and the pipeline run
                        target = next((p for p in pids if role(p) == "workers"), proc.pid)
                    spy_cmd = [exe, "record", "-r", "200", "-f", "raw", "-o", args.spy, "-p", str(target),
                               "--gil" if args.gil else "-s"]
                    spy = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1.0)
                started = time.perf_counter()
                source(args.messages)
                got = wait_settled(sink, before + args.messages) - before
                seconds = time.perf_counter() - started
                pids = process_tree(proc.pid)
                cpu1 = cpu_seconds(pids)
                threads1 = thread_times(proc.pid)
                procs1 = {p: cpu_seconds([p]) for p in pids}
                roles = {p: role(p) for p in pids}
                names = thread_names(proc.pid)
                if spy is not None:
                    spy.send_signal(2)
                    spy.wait(timeout=60)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
                sink.stop()
    n = args.messages
    print(f"{args.kind} ({args.workers} worker(s), event loop {args.event_loop}): {n} messages over "
          f"{args.sessions} sessions, {got} delivered, {got / seconds:.0f} msg/s; "
          f"gateway CPU {1000 * (cpu1 - cpu0) / n:.2f} ms per message (process tree)")
    rows = []
    for tid, (user, system) in threads1.items():
        u0, s0 = threads0.get(tid, (0.0, 0.0))
        if user + system - u0 - s0 > 0:
            rows.append((user - u0 + system - s0, user - u0, system - s0, names.get(tid, tid)))
    for total, user, system, name in sorted(rows, reverse=True):
        print(f"  thread {name:<22} {1000 * total / n:6.2f} ms  "
              f"(user {1000 * user / n:.2f}, sys {1000 * system / n:.2f})")
    by_role: dict[str, list[float]] = {}
    for p in procs1:
        if p != proc.pid:
            by_role.setdefault(roles.get(p, "other"), []).append(procs1[p] - procs0.get(p, 0.0))
    for name, times in sorted(by_role.items()):
        label = "policy workers" if name == "evaluation" else name
        print(f"  {label} ({len(times)})    {1000 * sum(times) / n:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
