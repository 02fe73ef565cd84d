"""How the gateway's cost grows: message size, recipients, rules, and the state backend.

Each row is a fresh ``gateway serve`` process (info logs, all rule packs, inline delivery into a
counting sink) driven over loopback by a small SMTP client in this process. Only the gateway's
own cost is counted: CPU time (user + system, from /proc, summed over its process tree: the
main process and its policy workers) between the start and the end of the measured batch,
divided by the messages in it, and the peak RSS (VmHWM) of the tree. A warm-up batch runs first
(policy workers started, caches filled), so the figures are per message in steady state. CPU
time is what the gateway itself used, so the figures hold up on a loaded machine where rates
(messages/s, also printed) do not.

Rows:

* size: a benign German invoice padded with more order lines and care notes to 4 KB, 100 KB
  and 10 MB (one marketplace alias); the last column is the CPU per KB;
* recipients: the 4 KB invoice to 1, 10 and 100 marketplace aliases;
* rules: the shipped packs, and the shipped packs plus a synthetic pack (phrase and proximity
  rules in every pack language, none of which hits the invoice) to ten times the rules;
* state: SQLite, and PostgreSQL from ``GATEWAY_TEST_PG_DSN`` (an admin DSN: a database is
  created for the run and dropped afterwards; the row is skipped without it).

    python bench/growth.py [--messages 300] [--sessions 4] [--skip-postgres] [--only size,rules]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    REPO,
    RawClient,
    SinkProcess,
    free_port,
    gateway_config,
    machine,
    rss_mb,
    start_gateway,
    wait_port,
)
from bench.peer import INVOICE_DE, SENDER, cpu_seconds, process_tree

ALIAS_DOMAIN = "marketplace.amazon.de"
_ORDER_LINE = "{n:<4} 1      Polsterstuhl Samt, Farbe Salbei, Beine Metall schwarz    89,90 EUR   89,90 EUR\n"
_CARE_NOTE = ("Hinweise zur Pflege: Bitte behandeln Sie die Tischplatte vor dem ersten Gebrauch mit dem "
              "beiliegenden Pflegeöl und wiederholen Sie die Behandlung etwa alle sechs Monate.\n")


def alias(i: int) -> str:
    return f"8kq2m4vtx7pl{i:03d}@{ALIAS_DOMAIN}"


def invoice(size: int, recipients: int = 1) -> bytes:
    """The benchmark invoice, CRLF and dot-stuffed, padded to about ``size`` bytes."""
    to = ", ".join(alias(i) for i in range(recipients))
    text = INVOICE_DE.format(to=to)
    head, sep, body = text.partition("\n\n")
    pad: list[str] = []
    total = len(text.encode())
    n = 5
    while total < size:
        line = _ORDER_LINE.format(n=n) if n % 3 else _CARE_NOTE
        pad.append(line)
        total += len(line.encode())
        n += 1
    raw = (head + sep + body + "".join(pad)).replace("\n", "\r\n").encode()
    return re.sub(rb"(?m)^\.", b"..", raw)


def synthetic_pack(folder: Path, rules: int) -> Path:
    """A local pack of ``rules`` phrase and proximity rules over made-up words (none hits the invoice)."""
    folder.mkdir(parents=True, exist_ok=True)
    langs = ("de", "en", "fr", "it", "es", "nl", "pl", "sv")
    out = ['[pack]\ndescription = "Synthetic rules for bench/growth.py: how cost grows with the rule count."\n']
    for i in range(rules):
        words = [f"zq{i:03d}{w}" for w in ("vark", "plim", "trosk", "nemb")]
        out.append(f'[[rules]]\nid = "synthetic-{i:03d}"\naction = "quarantine"\n'
                   f'description = "synthetic rule {i}"\nreason = "synthetic rule {i}"\n[[rules.match]]\n')
        near = i % 3 == 2
        out.append('type = "near"\nwithin = 40\n' if near else 'type = "phrases"\n')
        for lang in langs:
            out.append(f'phrases.{lang} = ["{words[0]} {words[1]}", "{words[2]}", "*{words[3]}"]\n')
            if near:
                out.append(f'near.{lang} = ["{words[1]}", "{words[3]}"]\n')
    (folder / "synthetic.toml").write_text("\n".join(out))
    return folder


@dataclass
class Row:
    group: str
    label: str
    messages: int
    cpu_ms: float
    rss_mb: float
    rate: float
    size: int
    refused: int

    def line(self) -> str:
        per_kb = f"{self.cpu_ms / (self.size / 1024):9.4f}" if self.group == "size" else f"{'':>9}"
        return (f"{self.group:<11} {self.label:<34} {self.messages:>6} {self.cpu_ms:>9.2f} {per_kb} "
                f"{self.rss_mb:>8.0f} {self.rate:>8.1f}" + (f"  ({self.refused} refused)" if self.refused else ""))


async def _session(port: int, queue: asyncio.Queue[int], body: bytes, rcpts: list[str], refused: list[str]) -> None:
    while True:
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        client, greeting = await RawClient.connect(port)
        if greeting.code != 220:
            refused.append(greeting.text)
            continue
        await client.cmd("EHLO erp.shop.example")
        reply = await client.send_message(SENDER, rcpts, body)
        if reply.code != 250:
            refused.append(reply.text)
        await client.close()


async def drive(port: int, sink: SinkProcess, body: bytes, rcpts: list[str], count: int, sessions: int,
                deliveries: int) -> tuple[int, float]:
    """``count`` messages over ``sessions`` parallel connections (one message per connection);
    returns (refused, seconds until the sink has them all)."""
    before = await sink.count()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    refused: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(_session(port, queue, body, rcpts, refused) for _ in range(sessions)))
    target = before + (count - len(refused)) * deliveries
    deadline = time.monotonic() + 600
    while await sink.count() < target and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    if refused:
        print(f"    refused: {refused[0]}", file=sys.stderr)
    return len(refused), time.perf_counter() - started


@contextlib.contextmanager
def gateway(root: Path, sink: SinkProcess, policy: str = "", database: str | None = None) -> Iterator[tuple[int, int]]:
    port = free_port()
    config = gateway_config(root, port, sink.port, database=database, log_level="info")
    text = config.read_text()
    if policy:  # more keys for the [policy] table gateway_config wrote
        text = text.replace("[policy]\n", f"[policy]\n{policy}", 1)
    config.write_text(text)
    if database:  # a new PostgreSQL database starts without the schema
        subprocess.run([sys.executable, "-m", "gateway", "db", "upgrade", "--config", str(config)], cwd=REPO,
                       check=True, stdout=subprocess.DEVNULL)
    log = (root / "gateway.log").open("wb")
    proc = start_gateway(config, stderr=log)
    try:
        asyncio.run(wait_port(port))
        yield port, proc.pid
    except OSError:
        log.flush()
        print((root / "gateway.log").read_text()[-2000:], file=sys.stderr)
        raise
    finally:
        proc.terminate()
        proc.wait(timeout=120)
        log.close()


WARMUP = invoice(4 * 1024)


def measure(group: str, label: str, root: Path, sink: SinkProcess, body: bytes, rcpts: list[str], count: int,
            sessions: int, *, policy: str = "", database: str | None = None) -> Row:
    # The sink counts one message per upstream transaction; the gateway relays all recipients of a
    # message in one, so one delivery per message. The warm-up (small messages, as many sessions
    # at once as measured) starts the policy workers: ~0.75 s of CPU each, not a per-message cost.
    # A generous evaluation timeout: a row measures cost, a 451 would hide it.
    policy = 'evaluation_timeout = 300\n' + policy
    with gateway(root, sink, policy, database) as (port, pid):
        asyncio.run(drive(port, sink, WARMUP, rcpts[:1], 8 * sessions, sessions, 1))
        pids = process_tree(pid)
        cpu_before = cpu_seconds(pids)
        refused, seconds = asyncio.run(drive(port, sink, body, rcpts, count, sessions, 1))
        pids = process_tree(pid)
        cpu = cpu_seconds(pids) - cpu_before
        rss = sum(_peak_mb(p) for p in pids)
    done = max(count - refused, 1)
    return Row(group, label, count, cpu * 1000 / done, rss, done / seconds, len(body), refused)


def _peak_mb(pid: int) -> float:
    """VmHWM of a process of the tree, 0 for one that has gone meanwhile."""
    try:
        peak = rss_mb(pid, "VmHWM")
    except OSError:
        return 0.0
    return 0.0 if math.isnan(peak) else peak


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A throwaway database on the server named by GATEWAY_TEST_PG_DSN (None without it)."""
    admin = os.environ.get("GATEWAY_TEST_PG_DSN")
    if not admin:
        yield None
        return
    from tests.pgutil import temporary_database  # the tests' own: created here, dropped after

    with temporary_database(admin) as dsn:
        yield dsn


def shipped_rules() -> int:
    return sum(len(re.findall(r"(?m)^\[\[rules\]\]", p.read_text())) for p in (REPO / "policies").glob("*.toml"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300, help="messages per row at 4 KB (fewer for big ones)")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--only", default="size,recipients,rules,state",
                        help="comma-separated groups: size, recipients, rules, state")
    args = parser.parse_args()
    groups = set(args.only.split(","))
    n, s = args.messages, args.sessions
    print(f"machine: {machine()}; load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'group':<11} {'row':<34} {'msgs':>6} {'CPU ms':>9} {'ms/KB':>9} {'peak MB':>8} {'msg/s':>8}")
    rows: list[Row] = []

    def show(row: Row) -> None:
        rows.append(row)
        print(row.line(), flush=True)

    sink = SinkProcess()
    try:
        with tempfile.TemporaryDirectory(prefix="growth-") as tmp:
            root = Path(tmp)
            one = [alias(0)]
            small = invoice(4 * 1024)
            if "size" in groups:
                for size, count in ((4 * 1024, n), (100 * 1024, max(n // 5, 10)), (10 * 1024 * 1024, max(n // 60, 3))):
                    body = invoice(size)
                    show(measure("size", f"{len(body) / 1024:,.0f} KB, 1 alias", root / f"size-{size}", sink, body,
                                 one, count, s))
            if "recipients" in groups:
                for k in (1, 10, 100):
                    rcpts = [alias(i) for i in range(k)]
                    show(measure("recipients", f"4 KB, {k} aliases", root / f"rcpt-{k}", sink, invoice(4 * 1024, k),
                                 rcpts, n, s))
            if "rules" in groups:
                base = shipped_rules()
                show(measure("rules", f"{base} rules (shipped packs)", root / "rules-base", sink, small, one, n, s))
                pack = synthetic_pack(root / "synthetic-pack", base * 9)
                show(measure("rules", f"{base * 10} rules (+ {base * 9} synthetic)", root / "rules-10x", sink, small,
                             one, n, s, policy=f'local_packs_dir = "{pack}"\n'))
            if "state" in groups:
                show(measure("state", "SQLite", root / "state-sqlite", sink, small, one, n, s))
                if args.skip_postgres:
                    print("state       PostgreSQL: skipped (--skip-postgres)")
                else:
                    with postgres_database() as dsn:
                        if dsn is None:
                            print("state       PostgreSQL: skipped (GATEWAY_TEST_PG_DSN not set)")
                        else:
                            show(measure("state", "PostgreSQL", root / "state-pg", sink, small, one, n, s,
                                         database=dsn))
    finally:
        sink.stop()
    by = {(r.group, r.label): r for r in rows}
    sizes = [r for r in rows if r.group == "size"]
    if len(sizes) == 3:
        print(f"\nsize: CPU per KB {sizes[0].cpu_ms / 4:.4f} -> {sizes[1].cpu_ms / 100:.4f} -> "
              f"{sizes[2].cpu_ms / 10240:.4f} ms (flat means linear); peak RSS {sizes[0].rss_mb:.0f} -> "
              f"{sizes[2].rss_mb:.0f} MB")
    rcpt = [r for r in rows if r.group == "recipients"]
    if len(rcpt) == 3:
        print(f"recipients: 1 -> 100 aliases costs {rcpt[2].cpu_ms / rcpt[0].cpu_ms:.2f}x per message")
    rules = [r for r in rows if r.group == "rules"]
    if len(rules) == 2:
        print(f"rules: 10x the rules costs {rules[1].cpu_ms / rules[0].cpu_ms:.2f}x per message")
    sqlite_row, pg_row = by.get(("state", "SQLite")), by.get(("state", "PostgreSQL"))
    if sqlite_row and pg_row:
        print(f"state: PostgreSQL CPU per message {pg_row.cpu_ms / sqlite_row.cpu_ms:.2f}x SQLite's; "
              f"rate {pg_row.rate / sqlite_row.rate:.2f}x (goal: within 0.8x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
