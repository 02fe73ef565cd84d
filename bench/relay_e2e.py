"""End-to-end relay benchmark: the gateway against a bare aiosmtpd sink, in the same run.

Starts a counting aiosmtpd sink in its own process, then drives N messages of about 4 KB over C
concurrent SMTP sessions (each session reuses its connection) twice: straight into the sink, and
through the gateway (its own process, real config, fsync'd spool, pooled delivery) into the sink.
Prints messages/s accepted, end-to-end messages/s (until the sink has them all), p50/p99 latency of
the 250 reply, and the gateway's peak RSS.

    python bench/relay_e2e.py --messages 4000 --sessions 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib

from bench.common import SinkProcess, free_port, gateway_config, machine, rss_mb, start_gateway, wait_port


def make_message(i: int, to: str) -> bytes:
    body = ("Dear customer, your order 302-4817265-9034712 will be delivered on Tuesday "
            "between 9 and 12. Please confirm the delivery address.\r\n") * 28
    return (f"From: seller@shop.example\r\nTo: {to}\r\nSubject: Delivery scheduling {i}\r\n"
            f"Message-ID: <bench-{i}-{time.time_ns()}@shop.example>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


REFUSED: list[str] = []  # replies other than 250 (a policy rejection is an answer, not a crash)


async def drive(port: int, messages: int, sessions: int, to: str) -> tuple[float, list[float]]:
    latencies: list[float] = []
    per_session = messages // sessions

    async def session(s: int) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=60)
        await client.connect()
        for i in range(per_session):
            data = make_message(s * per_session + i, to)
            started = time.perf_counter()
            try:
                await client.sendmail("seller@shop.example", [to], data)
            except aiosmtplib.SMTPResponseException as exc:
                REFUSED.append(f"{exc.code} {exc.message.splitlines()[0][:120]}")
            latencies.append(time.perf_counter() - started)
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(session(s) for s in range(sessions)))
    return time.perf_counter() - started, latencies


def summary(label: str, total: int, elapsed: float, lat: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(lat, n=100)
    figures = {"msg_s": total / elapsed, "p50_ms": qs[49] * 1000, "p99_ms": qs[98] * 1000}
    print(f"{label:<28} {figures['msg_s']:8.0f} msg/s   p50 {figures['p50_ms']:6.2f} ms   "
          f"p99 {figures['p99_ms']:6.2f} ms")
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--to", default="3vqmzxk4lhl9w1b@marketplace.amazon.de",
                        help="recipient (default: a marketplace alias, so the policy engine runs)")
    parser.add_argument("--no-policy", action="store_true", help="run the gateway without rule packs")
    parser.add_argument("--delivery", choices=["inline", "separate"], default="inline",
                        help="[delivery] process: in the serving process, or a child process of its own")
    parser.add_argument("--database", metavar="ADMIN_DSN",
                        help="shared state on PostgreSQL: a throwaway database is made with this admin DSN")
    args = parser.parse_args()
    total = (args.messages // args.sessions) * args.sessions
    if args.database:
        with throwaway_database(args.database) as dsn:
            await run(args, total, dsn)
    else:
        await run(args, total, None)


@contextlib.contextmanager
def throwaway_database(admin: str) -> Iterator[str]:
    """A new database, upgraded with ``gateway db upgrade``'s code, dropped afterwards."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"gw_bench_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = make_conninfo(admin, dbname=name)
    try:
        yield dsn
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def run(args: argparse.Namespace, total: int, database: str | None) -> None:
    if database is not None:
        from gateway.store.migrate import upgrade

        await upgrade(database)

    sink = SinkProcess()
    gateway: subprocess.Popen[bytes] | None = None
    try:
        print(f"machine: {machine()}; state: {'PostgreSQL' if database else 'SQLite'}; "
              f"{total} messages of {len(make_message(0, args.to))} bytes over {args.sessions} sessions")
        elapsed, lat = await drive(sink.port, total, args.sessions, args.to)
        bare = summary("bare aiosmtpd sink", total, elapsed, lat)

        with tempfile.TemporaryDirectory() as tmp:
            gw_port = free_port()
            config = gateway_config(Path(tmp), gw_port, sink.port, policy=not args.no_policy,
                                    extra=f'[delivery]\nprocess = "{args.delivery}"\npoll_interval = 0.05\n',
                                    database=database)
            gateway = start_gateway(config)
            await wait_port(gw_port)
            if os.environ.get("BENCH_PROFILE"):
                subprocess.Popen(["py-spy", "record", "-o", os.environ["BENCH_PROFILE"], "-f", "raw",
                                  "-d", "6", "-p", str(gateway.pid)])
            before = await sink.count()
            elapsed, lat = await drive(gw_port, total, args.sessions, args.to)
            accepted = summary("gateway (accept, 250)", total, elapsed, lat)
            started = time.perf_counter() - elapsed
            while await sink.count() - before < total - len(REFUSED):
                await asyncio.sleep(0.01)
            e2e = total / (time.perf_counter() - started)
            print(f"{'gateway (end-to-end)':<28} {e2e:8.0f} msg/s   (until the sink had all {total})")
            if REFUSED:
                print(f"refused by the gateway (not relayed): {len(REFUSED)}, e.g. {REFUSED[0]}")
            print(f"gateway peak RSS: {rss_mb(gateway.pid, 'VmHWM'):.0f} MB")
            print(f"ratio accept/bare: {accepted['msg_s'] / bare['msg_s']:.2f}x   "
                  f"end-to-end/bare: {e2e / bare['msg_s']:.2f}x   (target >= 0.8x)")
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(timeout=30)
        sink.stop()


if __name__ == "__main__":
    asyncio.run(main())
