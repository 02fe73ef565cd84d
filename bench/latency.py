"""How long a client waits for the 250: end of DATA (the final dot sent) to the reply, at 20 and
at 500 concurrent sessions, for a marketplace alias (all packs, decision logs at info) and a plain
recipient, against a real gateway (``gateway serve``, prefork workers) relaying into a real sink
(Postfix's ``smtp-sink`` when installed, else a bare aiosmtpd sink process).

The client is raw asyncio protocols in one process (no SMTP library): each session connects,
says EHLO, sends MAIL/RCPT/DATA and the message, and stamps the time the final dot left and the
time the reply's last line arrived, in ``data_received``. A new connection per message, as
``smtp-source`` does, unless ``--reuse``.

Each kind is measured in these rows:

* ``closed``: every session sends its next message as soon as it has the reply (the most the
  gateway takes: its throughput, and the wait at that load);
* ``paced``: messages started at a fixed total rate (``--rate``, default half the 20-session
  closed-loop throughput), spread over the sessions: the wait at a load the gateway keeps up with,
  which is what a p99 goal is about; at 500 sessions, most connections are open and waiting.

    python bench/latency.py [--messages 1500] [--sessions 20,500] [--workers 2] [--rate R] [--reuse]
                            [--kinds alias,plain]

Prints p50/p90/p99/max in ms and the achieved rate per row. Not part of the test suite; the
client shares the machine's cores with the gateway (its CPU is printed too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SinkProcess, free_port, machine
from bench.peer import ALIAS, INVOICE_DE, PLAIN, PLAIN_TEXT, SENDER, SMTP_SINK, Sink, gateway

GOAL_P99_MS = 50.0
SETTLE = 5.0  # seconds between rows


def wire(text: str) -> bytes:
    """The message as DATA sends it: CRLF lines, dot-stuffed, the final dot included."""
    lines = text.replace("\r\n", "\n").split("\n")
    body = "\r\n".join("." + line if line.startswith(".") else line for line in lines)
    return body.encode() + (b"" if body.endswith("\r\n") else b"\r\n") + b".\r\n"


class Session(asyncio.Protocol):
    """One client connection: ``command`` writes a line (or a message) and waits for the reply."""

    def __init__(self) -> None:
        self.buffer = b""
        self.waiter: asyncio.Future[tuple[float, bytes]] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.waiter = asyncio.get_running_loop().create_future()  # the greeting

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done() or not self.buffer.endswith(b"\r\n"):
            return
        last = self.buffer[:-2].rsplit(b"\r\n", 1)[-1]
        if len(last) >= 4 and last[3:4] != b"-":
            reply, self.buffer = self.buffer, b""
            self.waiter.set_result((time.perf_counter(), reply))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((time.perf_counter(), b"000 connection lost\r\n"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def reply(self) -> tuple[float, int]:
        assert self.waiter is not None
        at, reply = await self.waiter
        return at, int(reply[:3])

    async def command(self, data: bytes) -> tuple[float, float, int]:
        """(sent at, answered at, reply code)."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        sent = time.perf_counter()
        at, code = await self.reply()
        return sent, at, code

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            await self.command(b"QUIT\r\n")
            self.transport.close()
        await self.closed


async def connect(port: int) -> Session:
    loop = asyncio.get_running_loop()
    _, session = await loop.create_connection(Session, "127.0.0.1", port)
    _, code = await session.reply()
    if code != 220:
        raise RuntimeError(f"greeting {code}")
    await session.command(b"EHLO latency.bench.test\r\n")
    return session


@dataclass
class Row:
    kind: str
    mode: str
    sessions: int
    waits: list[float] = field(default_factory=list)  # seconds, end of DATA -> reply
    failed: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    client_cpu: float = 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.waits)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        n = len(self.waits)
        rate = n / self.seconds if self.seconds else 0.0
        failed = ", ".join(f"{count}x {code}" for code, count in sorted(self.failed.items()))
        return (f"{self.kind:<6} {self.mode:<14} {self.sessions:>8} {n:>8} {rate:7.0f}/s "
                f"{1000 * statistics.median(self.waits):8.1f} {self.pct(0.90):8.1f} {self.pct(0.99):8.1f} "
                f"{1000 * max(self.waits):8.1f} {1000 * self.client_cpu / max(1, n):7.2f}"
                + (f"  refused: {failed}" if failed else ""))


async def measure(port: int, kind: str, sessions: int, messages: int, rate: float | None, reuse: bool) -> Row:
    body = wire((INVOICE_DE if kind == "alias" else PLAIN_TEXT).format(to=ALIAS if kind == "alias" else PLAIN))
    rcpt = ALIAS if kind == "alias" else PLAIN
    mail = f"MAIL FROM:<{SENDER}> SIZE={len(body)}\r\n".encode()
    rcpt_line = f"RCPT TO:<{rcpt}>\r\n".encode()
    mode = "closed" if rate is None else f"paced {rate:.0f}/s"
    row = Row(kind, mode, sessions)
    tickets: Iterator[int] = iter(range(messages))
    started = time.perf_counter()

    async def one_message(session: Session) -> bool:
        for line in (mail, rcpt_line, b"DATA\r\n"):
            _, _, code = await session.command(line)
            if code >= 400:
                row.failed[code] = row.failed.get(code, 0) + 1
                await session.command(b"RSET\r\n")
                return code < 500
        sent, answered, code = await session.command(body)
        if code == 250:
            row.waits.append(answered - sent)
        else:
            row.failed[code] = row.failed.get(code, 0) + 1
        return code != 0

    async def client() -> None:
        session: Session | None = None
        for index in tickets:
            if rate is not None:
                delay = started + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if session is None:
                session = await connect(port)
            alive = await one_message(session)
            if not reuse or not alive:
                await session.close()
                session = None
        if session is not None:
            await session.close()

    cpu = time.process_time()
    await asyncio.gather(*(client() for _ in range(sessions)))
    row.seconds = time.perf_counter() - started
    row.client_cpu = time.process_time() - cpu
    return row


async def run(port: int, args: argparse.Namespace) -> list[Row]:
    """Per kind the closed and paced rows; the closed rows beyond the first session count (more
    offered than the gateway takes: an overload) come last, after every kind's other rows."""
    rows: list[Row] = []
    counts = [int(s) for s in args.sessions.split(",") if s.strip()]
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]

    async def row(kind: str, sessions: int, rate: float | None) -> Row:
        await asyncio.sleep(SETTLE)  # what the last row left (deliveries, evaluations) is done
        rows.append(await measure(port, kind, sessions, args.messages, rate, args.reuse))
        print(rows[-1].line(), flush=True)
        return rows[-1]

    for kind in kinds:
        await measure(port, kind, 20, 200, None, args.reuse)  # warm-up: caches, workers
        closed = await row(kind, counts[0], None)
        rate = args.rate or max(10.0, round(len(closed.waits) / closed.seconds / 2, -1))
        for count in counts:
            await row(kind, count, rate)
    for kind in kinds:
        for count in counts[1:]:
            await row(kind, count, None)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1500, help="messages per row")
    parser.add_argument("--sessions", default="20,500", help="concurrent sessions per row (comma-separated)")
    parser.add_argument("--workers", type=int, default=2, help="[server] workers of the gateway")
    parser.add_argument("--rate", type=float, default=None,
                        help="messages/s of the paced rows (default: half the closed-loop throughput)")
    parser.add_argument("--reuse", action="store_true", help="keep each session's connection for its next message")
    parser.add_argument("--kinds", default="alias,plain")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4096)), hard))
    print(f"machine: {machine()}; load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"gateway: {args.workers} worker(s), info logs, all packs; "
          f"{'connections reused' if args.reuse else 'a new connection per message'}; {args.messages} messages per row")
    with tempfile.TemporaryDirectory(prefix="latency-bench-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        smtp_sink = os.access(SMTP_SINK, os.X_OK) and os.geteuid() == 0
        sink: Sink | SinkProcess = Sink(free_port()) if smtp_sink else SinkProcess()
        print(f"upstream: {'smtp-sink' if smtp_sink else 'aiosmtpd sink process'}")
        print(f"\n{'kind':<6} {'mode':<14} {'sessions':>8} {'messages':>8} {'rate':>9} "
              f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'client':>7}")
        try:
            with gateway(root / "gw", sink.port, separate=False, workers=args.workers) as (port, _pid):
                rows = asyncio.run(run(port, args))
        finally:
            sink.stop()
    print("(times: end of DATA to the reply; client: the load client's own CPU ms per message)")
    for row in rows:
        if row.sessions == 20 and row.mode != "closed":
            verdict = "met" if row.pct(0.99) < GOAL_P99_MS else "NOT met"
            print(f"{row.kind}: p99 at 20 sessions ({row.mode}) {row.pct(0.99):.1f} ms, goal < {GOAL_P99_MS:.0f} ms: "
                  f"{verdict}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
