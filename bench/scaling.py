"""Throughput with 1, 2 and 4 gateway processes sharing one port (server.reuse_port, SO_REUSEPORT).

Each process has its own state directory (its own spool), as separate instances would; all relay to
one bare aiosmtpd sink over pooled connections, with every rule pack loaded. Load comes from K
client processes (default 2), each with C/K sessions that reconnect every 10 messages so the kernel
spreads connections over the gateways. Prints accepted msg/s and end-to-end msg/s per gateway count,
and how many cores the machine has: with 2 cores, 4 processes cannot beat 2.

    python bench/scaling.py --processes 1 2 4 --messages 3000 --sessions 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib

from bench.common import SinkProcess, free_port, gateway_config, machine, start_gateway, wait_port

TO = "3vqmzxk4lhl9w1b@marketplace.amazon.de"


def make_message(i: int) -> bytes:
    body = ("Dear customer, your order 302-4817265-9034712 will be delivered on Tuesday "
            "between 9 and 12. Please confirm the delivery address.\r\n") * 28
    return (f"From: seller@shop.example\r\nTo: {TO}\r\nSubject: Delivery scheduling {i}\r\n"
            f"Message-ID: <scale-{i}-{time.time_ns()}@shop.example>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


async def client_main(port: int, messages: int, sessions: int, offset: int) -> None:
    per_session = messages // sessions
    errors = 0

    async def session(s: int) -> None:
        nonlocal errors
        sent = 0
        while sent < per_session:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=60)
            await client.connect()
            for _ in range(min(10, per_session - sent)):
                try:
                    await client.sendmail("seller@shop.example", [TO], make_message(offset + s * per_session + sent))
                except aiosmtplib.SMTPException:
                    errors += 1
                sent += 1
            await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(session(s) for s in range(sessions)))
    print(json.dumps({"elapsed": time.perf_counter() - started, "sent": per_session * sessions,
                      "errors": errors}), flush=True)


async def run_round(processes: int, messages: int, sessions: int, clients: int) -> dict[str, float]:
    sink = SinkProcess()
    gateways: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        try:
            for n in range(processes):
                config = gateway_config(Path(tmp) / f"gw{n}", port, sink.port, reuse_port=True)
                gateways.append(start_gateway(config))
                await wait_port(port)
            await asyncio.sleep(1.0)  # every process listening before load starts
            before = await sink.count()
            started = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, __file__, "--client", str(port), str(messages // clients),
                                       str(max(1, sessions // clients)), str(c * messages)],
                                      stdout=subprocess.PIPE, text=True) for c in range(clients)]
            results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
            accepted_elapsed = time.perf_counter() - started
            total = sum(r["sent"] for r in results)
            errors = sum(r["errors"] for r in results)
            while await sink.count() - before < total - errors and time.perf_counter() - started < 300:
                await asyncio.sleep(0.02)
            e2e_elapsed = time.perf_counter() - started
        finally:
            for gw in gateways:
                gw.terminate()
            for gw in gateways:
                gw.wait(timeout=60)
            sink.stop()
    return {"processes": processes, "messages": total, "errors": errors,
            "accepted_msg_s": total / accepted_elapsed, "e2e_msg_s": (total - errors) / e2e_elapsed}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--clients", type=int, default=2, help="client processes generating load")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{args.messages} messages of {len(make_message(0))} bytes to a marketplace alias, {args.sessions} "
          f"sessions from {args.clients} client processes; all rule packs, fsync'd spool, pooled delivery")
    base = None
    for n in args.processes:
        r = await run_round(n, args.messages, args.sessions, args.clients)
        base = base or r["e2e_msg_s"]
        print(f"{n} gateway process(es): accepted {r['accepted_msg_s']:7.0f} msg/s   end-to-end "
              f"{r['e2e_msg_s']:7.0f} msg/s   ({r['e2e_msg_s'] / base:.2f}x of 1 process; errors {r['errors']})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        port, messages, sessions, offset = (int(a) for a in sys.argv[2:6])
        asyncio.run(client_main(port, messages, sessions, offset))
    else:
        asyncio.run(main())
