"""Gateway memory with many concurrent sessions sending large messages.

C sessions (default 100) each send one message of S MB (default 10) at the same time through the
gateway (its own process, fsync'd spool, pooled delivery to a bare sink). A session answered with a
4xx tries again after a pause, as a real MTA would. The gateway's RSS is sampled every 20 ms.

    python bench/memory.py --sessions 100 --size-mb 10 [--no-declare-size] [--to ALIAS]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RawClient,
    Reply,
    SinkProcess,
    free_port,
    gateway_config,
    machine,
    rss_mb,
    start_gateway,
    wait_port,
)
from bench.sampling import sampled, until_delivered


def make_body(size: int) -> bytes:
    header = (b"From: seller@shop.example\r\nTo: buyer@example.com\r\nSubject: big attachment\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\n")
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
    return header + line * ((size - len(header)) // len(line))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--size-mb", type=float, default=10.0)
    parser.add_argument("--to", default="buyer@example.com")
    parser.add_argument("--no-declare-size", action="store_true", help="send MAIL without SIZE=")
    parser.add_argument("--retry-pause", type=float, default=1.0, help="seconds before retrying a 4xx")
    parser.add_argument("--extra-server-config", default="", help="TOML lines for [server]")
    args = parser.parse_args()
    body = make_body(int(args.size_mb * 1024 * 1024))
    sink = SinkProcess()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        extra = args.extra_server_config.replace("\\n", "\n")
        config = gateway_config(Path(tmp), port, sink.port, extra=extra + ("\n" if extra else ""))
        gateway = start_gateway(config)
        try:
            await wait_port(port)
            await asyncio.sleep(0.5)
            baseline = rss_mb(gateway.pid)
            outcomes: collections.Counter[str] = collections.Counter()
            tries: list[int] = []

            async def session() -> None:
                for attempt in range(1, 200):
                    try:
                        client, greeting = await RawClient.connect(port)
                    except OSError as exc:
                        outcomes[f"connect error {type(exc).__name__}"] += 1
                        await asyncio.sleep(args.retry_pause)
                        continue
                    if greeting.code != 220:
                        outcomes[f"greeting {greeting.code}"] += 1
                        await client.close()
                        await asyncio.sleep(args.retry_pause)
                        continue
                    try:
                        await client.cmd("EHLO bench.test")
                        reply = await client.send_message("seller@shop.example", [args.to], body,
                                                          declare_size=not args.no_declare_size)
                    except ConnectionError:
                        reply = Reply(0, "connection closed mid-transaction")
                    await client.close()
                    label = f"{reply.code} {reply.text[4:9]}" if reply.code else "closed mid-DATA"
                    outcomes[label] += 1
                    if reply.code // 100 == 4 or reply.code == 0:
                        await asyncio.sleep(args.retry_pause)
                        continue
                    tries.append(attempt)
                    return

            async with sampled(lambda: rss_mb(gateway.pid), 0.02) as samples:
                started = time.monotonic()
                await asyncio.gather(*(session() for _ in range(args.sessions)))
                accepted_after = time.monotonic() - started
                before = await sink.count()
                delivered_after = await until_delivered(sink, outcomes.get("250 2.0.0", 0), since=started,
                                                        limit=300, poll=0.1)
            print(f"machine: {machine()}")
            print(f"{args.sessions} sessions x {len(body) / 1e6:.1f} MB, SIZE declared: "
                  f"{not args.no_declare_size}, recipient {args.to}")
            print(f"replies: {dict(sorted(outcomes.items()))}")
            print(f"attempts per session: max {max(tries) if tries else 0}, "
                  f"mean {sum(tries) / max(1, len(tries)):.1f}")
            print(f"all answered after {accepted_after:.1f} s; sink had {before} then all after "
                  f"{delivered_after:.1f} s")
            print(f"gateway RSS: baseline {baseline:.0f} MB, peak sampled {max(samples):.0f} MB, "
                  f"peak (VmHWM) {rss_mb(gateway.pid, 'VmHWM'):.0f} MB   (target < 200 MB)")
        finally:
            gateway.terminate()
            gateway.wait(timeout=60)
            sink.stop()


if __name__ == "__main__":
    asyncio.run(main())
