"""Spool put() throughput and latency: C concurrent writers of S-byte messages.

    python bench/spool_put.py --concurrency 20 --count 20000 --size 4096

``--design files`` measures the alternative that was not chosen: one file per message, written and
fsync'd off the loop, plus a directory fsync, and *no* index commit at all (so it is a lower bound
on that design's cost). It shows what one fsync per message costs on this disk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.log import configure_logging
from gateway.spool import Spool


def _message(size: int, i: int) -> bytes:
    head = f"From: s@example.com\r\nTo: r@example.net\r\nSubject: bench {i}\r\n\r\n".encode()
    line = b"x" * 76 + b"\r\n"
    body = line * max(0, (size - len(head)) // len(line))
    return head + body


def _write_file(directory: Path, name: str, data: bytes) -> None:
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


async def run(design: str, concurrency: int, count: int, size: int, directory: Path) -> None:
    latencies: list[float] = []
    counter = iter(range(count))
    spool = await Spool.open(directory) if design == "sqlite" else None

    async def writer() -> None:
        for i in counter:
            data = _message(size, i)
            t0 = time.perf_counter()
            if spool is not None:
                await spool.put("s@example.com", ["r@example.net"], data, {"message_id": f"<{i}@b>"})
            else:
                await asyncio.to_thread(_write_file, directory, f"{i}.eml", data)
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    loop_cpu = time.thread_time()
    await asyncio.gather(*(writer() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    loop_cpu = time.thread_time() - loop_cpu
    commits = spool.commits if spool is not None else count
    if spool is not None:
        await spool.close()
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"design={design} concurrency={concurrency} count={count} size={size}B "
          f"puts/s={count / elapsed:,.0f} p50={p50:.2f}ms p99={p99:.2f}ms "
          f"loop-thread-cpu/put={loop_cpu / count * 1e6:.0f}us "
          f"fsync-batches={commits} (avg {count / max(commits, 1):.1f} puts per commit)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", "-c", type=int, default=20)
    parser.add_argument("--count", "-n", type=int, default=20000)
    parser.add_argument("--size", "-s", type=int, default=4096)
    parser.add_argument("--design", choices=["sqlite", "files"], default="sqlite")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write (default: a temporary folder on the current disk)")
    args = parser.parse_args()
    configure_logging("console", "warning")
    directory = args.dir or Path(tempfile.mkdtemp(prefix="spool-bench-", dir="."))
    try:
        asyncio.run(run(args.design, args.concurrency, args.count, args.size, directory))
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
