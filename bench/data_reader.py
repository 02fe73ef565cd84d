"""CPU cost of receiving DATA: the gateway's reader (gateway/smtpdata.py) next to aiosmtpd's own
loop it replaces, plus the trace headers (gateway/trace.py). CPU time, not wall time, so a busy
shared machine changes the figures little.

    python bench/data_reader.py --size 4096 --count 2000
    python bench/data_reader.py --size 1048576 --count 20 --long-lines
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine
from gateway.smtpdata import read_data
from gateway.trace import ClientInfo, add_trace_headers, received_header


def wire_message(size: int, long_lines: bool) -> bytes:
    head = b"From: s@example.com\r\nTo: r@example.net\r\nSubject: bench\r\n\r\n"
    line = (b"x" * 4000 if long_lines else b"x" * 76) + b"\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body.replace(b"\r\nx", b"\r\n..x", 10) + b".\r\n"


async def aiosmtpd_loop(reader: asyncio.StreamReader) -> bytes:
    """aiosmtpd 1.4.6's DATA loop in essence (readuntil per line, unstuff, join)."""
    data: list[bytearray] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b".\r\n":
            break
        data.append(bytearray(line))
    for text in data:
        if text.startswith(b"."):
            del text[0]
    return b"".join(data)


async def measure(wire: bytes, count: int, which: str) -> float:
    client = ClientInfo(helo="erp.shop.example", address="192.0.2.10", name="erp.shop.example")
    started = time.process_time()
    for _ in range(count):
        reader = asyncio.StreamReader(limit=1001)
        reader.feed_data(wire)
        if which == "aiosmtpd":
            await aiosmtpd_loop(reader)
        else:
            got = await read_data(reader, max_size=None)
            assert got.data is not None
            if which == "gateway+trace":
                received = received_header(client, hostname="gw.example", queue_id="Q", recipients=["b@x.example"],
                                           show_auth_user=False)
                add_trace_headers(got.data, received, add_missing=True, hostname="gw.example", queue_id="Q")
    return (time.process_time() - started) / count


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--long-lines", action="store_true", help="4000-octet lines (broken on the way in)")
    args = parser.parse_args()
    wire = wire_message(args.size, args.long_lines)
    print(f"machine: {machine()}; {len(wire)} bytes on the wire, {args.count} messages"
          + (", 4000-octet lines" if args.long_lines else ""))
    for which in ("aiosmtpd", "gateway", "gateway+trace"):
        if which == "aiosmtpd" and args.long_lines:
            print(f"{which:<16} refuses lines over 1000 octets")
            continue
        per = await measure(wire, args.count, which)
        print(f"{which:<16} {per * 1e6:9.1f} us CPU per message   {len(wire) / per / 1e6:7.1f} MB/s")


if __name__ == "__main__":
    asyncio.run(main())
