"""The admin review pages at volume: list-page server time with many held messages, and SMTP EHLO
latency while admins load pages.

    python bench/admin_review.py [--held 100000] [--parallel 10] [--seconds 20] [--database ADMIN_DSN]

Seeds a SQLite state directory with ``--held`` quarantined messages (rows written straight into the
store's tables in one transaction, with the same search rows the store writes when it holds a
message: 100,000 real SMTP sessions with an fsync each would take an hour), starts
``python -m gateway serve`` on it, then measures:

1. each list-page variant (first page, deep pages, every search field) loaded one at a time: the
   server time the gateway reports in ``Server-Timing`` and the time the client saw;
2. SMTP ``EHLO`` round trips on an open session, first idle, then while ``--parallel`` clients load
   list pages back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import RawClient, SinkProcess, free_port, gateway_config, machine, start_gateway, wait_port
from gateway.store.search import decode_subject, search_keys
from gateway.store.sqlite import SQLiteStore
from gateway.store.sqlite_review import index_quarantined

TOKEN = "bench-admin-token-0123456789"
RULES = ["off-platform-contact", "external-links", "review-pressure", "emoji", "tracking-pixels", "promotional",
         "contact-data-request", "wrong-attachment"]
SUBJECTS = ["Ihre Bestellung {order}", "Your order {order} has shipped", "=?utf-8?q?Bewertung_f=C3=BCr_{order}?=",
            "Question about order {order}", "Votre commande {order}", "Il tuo ordine {order}",
            "Lieferung morgen ({order})", "Thank you for your purchase"]
HELD_SPAN = 30 * 86400


def order_id(rng: random.Random) -> str:
    return f"{rng.randint(100, 999)}-{rng.randint(0, 9999999):07d}-{rng.randint(0, 9999999):07d}"


def held_rows(held: int) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """``held`` realistic quarantine rows (as column values) with their search keys."""
    rng = random.Random(19)
    now = time.time()
    for n in range(held):
        order = order_id(rng)
        subject = rng.choice(SUBJECTS).format(order=order)
        sender = f"orders@shop{rng.randint(1, 40)}.example"
        alias = f"{rng.getrandbits(40):010x}@marketplace.amazon.{rng.choice(['de', 'com', 'co.uk', 'fr', 'it'])}"
        rules = rng.sample(RULES, rng.randint(1, 3))
        verdict = {"action": "quarantine", "subject": subject, "critical": False, "reply": False, "marketplace": "de",
                   "hits": [{"rule": r, "action": "quarantine", "reason": f"{r} found", "evidence": "evidence text"}
                            for r in rules]}
        row = {"id": f"Q{n:016X}", "held_at": now - HELD_SPAN + HELD_SPAN * n / held, "mail_from": sender,
               "alias": alias, "order": order, "subject": subject, "verdict": verdict}
        yield row, search_keys(None, sender, [alias], verdict, subject)


def seed(state: Path, held: int) -> dict[str, str]:
    """Hold ``held`` messages in the SQLite store under ``state``; returns values to search for."""
    store = SQLiteStore(state)
    store.open_sync()
    probe: dict[str, str] = {}
    sample = state / "quarantine" / "Q-BENCH-SAMPLE.eml"
    sample.write_bytes(b"Subject: sample\r\nFrom: s@shop.example\r\n\r\nsample body\r\n")
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    for n, (row, keys) in enumerate(held_rows(held)):
        conn.execute(
            "INSERT INTO quarantine(id, tenant, held_at, peer, mail_from, rcpt_tos, message_id, subject,"
            " marketplace, verdict, size, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row["id"], "", row["held_at"], "127.0.0.1", row["mail_from"], json.dumps([row["alias"]]),
             f"<{n}@bench>", row["subject"], "de", json.dumps(row["verdict"]), 2048, str(sample)))
        index_quarantined(conn, row["id"], row["held_at"], keys, row["subject"])
        if n == held // 3:
            probe = {"alias": row["alias"], "order": row["order"], "sender": row["mail_from"]}
    conn.execute("COMMIT")
    store.close_sync()
    return probe


def seed_postgres(dsn: str, held: int) -> dict[str, str]:
    """The same rows into a PostgreSQL database at the current schema (COPY, then the text index)."""
    import psycopg

    probe: dict[str, str] = {}
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE bench_subjects (qid text, subject text)")
        with cur.copy("COPY quarantine (id, tenant, held_at, peer, mail_from, rcpt_tos, message_id, subject,"
                      " marketplace, verdict, size) FROM STDIN") as quarantine_copy:
            keys_rows: list[tuple[str, float, str]] = []
            subjects: list[tuple[str, str]] = []
            for n, (row, keys) in enumerate(held_rows(held)):
                quarantine_copy.write_row((row["id"], "", row["held_at"], "127.0.0.1", row["mail_from"], [row["alias"]],
                                           f"<{n}@bench>", row["subject"], "de", json.dumps(row["verdict"]), 2048))
                keys_rows += [(k, row["held_at"], row["id"]) for k in keys]
                subjects.append((row["id"], decode_subject(row["subject"])))
                if n == held // 3:
                    probe = {"alias": row["alias"], "order": row["order"], "sender": row["mail_from"]}
        with cur.copy("COPY quarantine_keys (key, held_at, qid) FROM STDIN") as keys_copy:
            for item in keys_rows:
                keys_copy.write_row(item)
        with cur.copy("COPY bench_subjects (qid, subject) FROM STDIN") as subjects_copy:
            for item in subjects:
                subjects_copy.write_row(item)
        cur.execute("INSERT INTO quarantine_search (qid, words) SELECT qid, to_tsvector('simple', subject)"
                    " FROM bench_subjects")
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE quarantine")
        cur.execute("VACUUM ANALYZE quarantine_keys")
        cur.execute("VACUUM ANALYZE quarantine_search")
    return probe


def server_ms(response: aiohttp.ClientResponse) -> float:
    match = re.search(r"dur=([0-9.]+)", response.headers.get("Server-Timing", ""))
    return float(match.group(1)) if match else float("nan")


async def load(http: aiohttp.ClientSession, url: str) -> tuple[float, float, int, str]:
    """(server ms, client ms, bytes, body) of one page."""
    started = time.perf_counter()
    async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        body = await resp.read()
        assert resp.status == 200, (url, resp.status, body[:200])
        return server_ms(resp), (time.perf_counter() - started) * 1000, len(body), body.decode()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def ehlo_latencies(port: int, stop: asyncio.Event, interval: float = 0.02) -> list[float]:
    client, _ = await RawClient.connect(port)
    out: list[float] = []
    try:
        while not stop.is_set():
            started = time.perf_counter()
            reply = await client.cmd("EHLO bench.example")
            assert reply.code == 250, reply
            out.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(interval)
    finally:
        await client.close()
    return out


async def page_loader(http: aiohttp.ClientSession, urls: list[str], stop: asyncio.Event,
                      server: list[float]) -> int:
    loads = 0
    while not stop.is_set():
        ms, _, _, _ = await load(http, urls[loads % len(urls)])
        server.append(ms)
        loads += 1
    return loads


async def run(args: argparse.Namespace, database: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-admin-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        if database is not None:
            from gateway.store.migrate import upgrade

            await upgrade(database)
            probe = await asyncio.to_thread(seed_postgres, database, args.held)
        else:
            probe = seed(work / "state", args.held)
        print(f"machine: {machine()}; state: {'PostgreSQL' if database else 'SQLite'};"
              f" load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"seeded {args.held:,} held messages in {time.perf_counter() - started:.1f} s")
        sink = SinkProcess()
        smtp_port, admin_port = free_port(), free_port()
        config = gateway_config(work, smtp_port, sink.port, policy=False, database=database,
                                admin=f"127.0.0.1:{admin_port}", admin_token=TOKEN)
        proc = start_gateway(config)
        try:
            await wait_port(smtp_port)
            await wait_port(admin_port)
            base = f"http://127.0.0.1:{admin_port}"
            async with aiohttp.ClientSession() as http:
                await load(http, f"{base}/quarantine")  # warm caches once
                since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 10 * 86400))
                variants = {
                    "first page": "/quarantine",
                    "status=all": "/quarantine?status=all",
                    "rule": "/quarantine?rule=emoji",
                    "alias (q)": f"/quarantine?q={probe['alias']}",
                    "order id (q)": f"/quarantine?q={probe['order']}",
                    "subject words": "/quarantine?subject=bewertung",
                    "sender + since": f"/quarantine?sender={probe['sender']}&since={since}",
                    "rule + subject": "/quarantine?rule=emoji&subject=order",
                    "api page": "/api/quarantine?limit=50",
                }
                print(f"\nlist pages, one at a time ({args.repeat} loads each): server ms p50/p95, client ms p50, "
                      "page size")
                worst = 0.0
                for name, path in variants.items():
                    server, client, size = [], [], 0
                    for _ in range(args.repeat):
                        s_ms, c_ms, size, _body = await load(http, base + path)
                        server.append(s_ms)
                        client.append(c_ms)
                    worst = max(worst, pct(server, 95))
                    print(f"  {name:<16} {statistics.median(server):7.1f} / {pct(server, 95):7.1f}"
                          f"   {statistics.median(client):7.1f}   {size / 1024:6.1f} KB")
                # Deep paging: follow "Older" from the first page.
                url, deep = f"{base}/quarantine", []
                for _ in range(args.deep):
                    s_ms, _c, _s, body = await load(http, url)
                    deep.append(s_ms)
                    match = re.search(r'<a href="([^"]+)" id="older"', body)
                    if not match:
                        break
                    url = base + match.group(1).replace("&amp;", "&")
                print(f"  {'pages 1..' + str(len(deep)):<16} {statistics.median(deep):7.1f} / {pct(deep, 95):7.1f}"
                      f"   (following Older {len(deep)} times)")
                worst = max(worst, pct(deep, 95))

                stop = asyncio.Event()
                idle_task = asyncio.create_task(ehlo_latencies(smtp_port, stop))
                await asyncio.sleep(args.seconds / 2)
                stop.set()
                idle = await idle_task

                stop = asyncio.Event()
                urls = [base + p for p in variants.values()]
                loaded: list[float] = []
                ehlo_task = asyncio.create_task(ehlo_latencies(smtp_port, stop))
                loaders = [asyncio.create_task(page_loader(http, urls[i % len(urls):] + urls[:i % len(urls)],
                                                           stop, loaded)) for i in range(args.parallel)]
                await asyncio.sleep(args.seconds)
                stop.set()
                busy = await ehlo_task
                pages = sum(await asyncio.gather(*loaders))
            print(f"\nSMTP EHLO round trip, idle ({len(idle)} EHLOs): p50 {statistics.median(idle):.1f} ms, "
                  f"p95 {pct(idle, 95):.1f} ms, max {max(idle):.1f} ms")
            print(f"SMTP EHLO round trip during {args.parallel} parallel page loads ({len(busy)} EHLOs, {pages} pages"
                  f" in {args.seconds:.0f} s, server ms p50 {statistics.median(loaded):.1f} /"
                  f" p95 {pct(loaded, 95):.1f}): p50 {statistics.median(busy):.1f} ms,"
                  f" p95 {pct(busy, 95):.1f} ms, max {max(busy):.1f} ms")
            verdict = "PASS" if worst < 300 and pct(busy, 95) < 50 else "FAIL"
            print(f"\ntarget: list page < 300 ms server time (worst p95 {worst:.1f} ms), EHLO < 50 ms during "
                  f"{args.parallel} parallel loads (p95 {pct(busy, 95):.1f} ms): {verdict}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            sink.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--held", type=int, default=100_000)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--deep", type=int, default=40)
    parser.add_argument("--database", metavar="ADMIN_DSN",
                        help="state on PostgreSQL: a throwaway database is made with this admin DSN")
    args = parser.parse_args()
    if args.database:
        from bench.relay_e2e import throwaway_database

        with throwaway_database(args.database) as dsn:
            asyncio.run(run(args, dsn))
    else:
        asyncio.run(run(args, None))
    sys.exit(0)


if __name__ == "__main__":
    main()
