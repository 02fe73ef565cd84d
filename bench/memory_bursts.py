"""Does memory come back after a burst? RSS of the gateway (and its policy workers) across bursts.

B bursts (default 5) of N messages (default 600) over C sessions: mixed sizes (2 KB to 2 MB, most
small), a third HTML with deep nesting, half to marketplace aliases so the rule packs run. After
each burst the spool drains, then the gateway idles for a few seconds and its RSS is read. Growth
from burst to burst (not the first burst's warm-up) is what must stay near zero.

    python bench/memory_bursts.py --bursts 5 --messages 600 --sessions 20
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from bench.common import RawClient, SinkProcess, free_port, gateway_config, machine, rss_mb, start_gateway, wait_port
from bench.sampling import sampled, until_delivered


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def total_rss(pid: int) -> tuple[float, float]:
    """(the gateway's own RSS, with its child processes) in MB."""
    own = rss_mb(pid)
    kids = 0.0
    for child in children(pid):
        with contextlib.suppress(OSError):
            kids += rss_mb(child)
    return own, own + kids


def message(rng: random.Random, n: int) -> tuple[str, bytes]:
    size = int(rng.choice([2_000] * 6 + [20_000] * 3 + [300_000, 2_000_000]))
    to = f"a{n % 50:05d}b@marketplace.amazon.de" if n % 2 else "buyer@example.com"
    line = b"Lorem ipsum dolor sit amet, order 302-1234567-1234567 consectetur adipiscing elit.\r\n"
    if n % 3 == 0:
        depth = rng.choice([10, 200, 2000])
        body = b"<div>" * depth + line * (size // len(line)) + b"</div>" * depth
        ctype = b"text/html; charset=utf-8"
    else:
        body = line * (size // len(line))
        ctype = b"text/plain; charset=utf-8"
    head = (f"From: seller@shop.example\r\nTo: <{to}>\r\nSubject: Your order {n}\r\n"
            f"Message-ID: <burst-{n}@shop.example>\r\nMIME-Version: 1.0\r\n").encode()
    # HTML without line breaks would be one long line; wrap it.
    wrapped = b"\r\n".join(body[i:i + 900] for i in range(0, len(body), 900))
    return to, head + b"Content-Type: " + ctype + b"\r\n\r\n" + wrapped + b"\r\n"


async def burst(port: int, count: int, sessions: int, start: int) -> tuple[int, Counter[str]]:
    """Send the burst; returns how many were queued for the upstream, and the replies by kind."""
    rng = random.Random(start)
    queue = list(range(start, start + count))
    replies: Counter[str] = Counter()

    async def session() -> None:
        client, _ = await RawClient.connect(port)
        await client.cmd("EHLO bench.test")
        while queue:
            n = queue.pop()
            to, body = message(rng, n)
            try:
                reply = await client.send_message("seller@shop.example", [to], body)
            except ConnectionError:
                replies["connection closed"] += 1
                client, _ = await RawClient.connect(port)
                await client.cmd("EHLO bench.test")
                continue
            replies["250 queued" if "queued as" in reply.text else reply.text[:9]] += 1
        await client.close()

    await asyncio.gather(*(session() for _ in range(sessions)))
    return replies["250 queued"], replies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds to idle before reading RSS")
    args = parser.parse_args()
    sink = SinkProcess()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        gateway = start_gateway(gateway_config(Path(tmp), port, sink.port))
        try:
            await wait_port(port)
            await asyncio.sleep(1.0)
            own, total = total_rss(gateway.pid)
            print(f"machine: {machine()}")
            print(f"{args.bursts} bursts x {args.messages} messages over {args.sessions} sessions")
            print(f"idle at start: gateway {own:.0f} MB, with policy workers {total:.0f} MB")
            delivered = 0
            after: list[float] = []
            for b in range(args.bursts):
                async with sampled(lambda: total_rss(gateway.pid)[1], 0.1) as samples:
                    started = time.monotonic()
                    accepted, replies = await burst(port, args.messages, args.sessions, b * args.messages)
                    delivered += accepted
                    took = await until_delivered(sink, delivered, since=started, limit=600, poll=0.2)
                peak = max(samples, default=0.0)
                await asyncio.sleep(args.idle)
                own, total = total_rss(gateway.pid)
                after.append(total)
                print(f"burst {b + 1}: replies {dict(sorted(replies.items()))}")
                print(f"burst {b + 1}: {accepted} queued, all delivered after {took:.1f} s; peak {peak:.0f} MB; "
                      f"after {args.idle:.0f} s idle: gateway {own:.0f} MB, with policy workers {total:.0f} MB")
            if len(after) >= 3:
                print(f"growth from burst 2 to burst {len(after)} (after idle, with workers): "
                      f"{after[-1] - after[1]:+.0f} MB")
        finally:
            gateway.terminate()
            gateway.wait(timeout=60)
            sink.stop()


if __name__ == "__main__":
    asyncio.run(main())
