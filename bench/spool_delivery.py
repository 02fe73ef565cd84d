"""Component cost of the spool and delivery behind a stand-in aiosmtpd listener.

For the whole gateway against a bare sink, see relay_e2e.py.

Starts an aiosmtpd server whose handle_DATA either just answers 250 (``--mode sink``, the bare
baseline) or durably spools the message and notifies the DeliveryService, which relays it over a
pooled connection to a second aiosmtpd sink (``--mode spool``). Clients and that upstream sink run
in a separate process (the second core), C concurrent aiosmtplib sessions sending 4 KB messages.
``loop-cpu/msg`` is the server's event-loop-thread CPU per message: what the listener shares with
the spool and delivery, and a figure that other load on the machine does not distort much.

    python bench/spool_delivery.py --mode sink    # answer 250 at once: the baseline
    python bench/spool_delivery.py --mode put     # durable put() only (delivery elsewhere)
    python bench/spool_delivery.py --mode spool   # put() + DeliveryService in the same loop
    python bench/spool_delivery.py --mode drain   # delivery alone: a filled spool into smtp-sink

``drain`` is the supervisor's part with ``[server] workers`` > 1: the messages were put by another
process (the spool is opened without hand-off, so the service finds them by polling and reads them
back), DeliveryService relays them to Postfix's ``smtp-sink`` (C, offers PIPELINING; ``--no-pipelining``
turns it off) with the delivery log at info as JSON into a file, and the figure is the CPU per
message of the whole process (loop, reader and writer threads) from start to drained.

This is a stand-in listener for measuring this part only; the real one is gateway/server.py.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.common import machine
from gateway.config import DeliveryConfig, UpstreamConfig
from gateway.delivery import DeliveryService
from gateway.log import configure_logging
from gateway.spool import Spool


class Accepting:
    def __init__(self, spool: Spool | None, service: DeliveryService | None) -> None:
        self.spool = spool
        self.service = service
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        if self.spool is None:
            return "250 2.0.0 OK"
        queue_id = await self.spool.put(envelope.mail_from or "", envelope.rcpt_tos,
                                        envelope.original_content or b"", {"message_id": None})
        if self.service is not None:
            self.service.notify()
        return f"250 2.0.0 queued as {queue_id}"


class Counting:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        return "250 2.0.0 OK"


def _client(port_in: Any, sessions: int, per_session: int, size: int, out: Any) -> None:
    head = b"From: s@example.com\r\nTo: r@example.net\r\nSubject: bench\r\n\r\n"
    body = (b"y" * 76 + b"\r\n") * ((size - len(head)) // 78)
    data = head + body

    async def one() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=60)
        await client.connect()
        for _ in range(per_session):
            await client.sendmail("s@example.com", ["r@example.net"], data)
        await client.quit()

    port = 0

    async def main() -> None:
        nonlocal port
        # The upstream sink lives here, in the load generator's process, so the server process
        # measured below runs only the listener, the spool and the delivery client.
        upstream_handler = Counting()
        upstream = await asyncio.get_running_loop().create_server(
            lambda: SMTP(upstream_handler), "127.0.0.1", 0)
        out.put(upstream.sockets[0].getsockname()[1])
        port = await asyncio.to_thread(port_in.get)
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(sessions)))
        out.put(time.perf_counter() - t0)
        # Keep the upstream up until every message was relayed.
        total = sessions * per_session
        while upstream_handler.count < total and port_in.empty():
            await asyncio.sleep(0.05)
        out.put(upstream_handler.count)
        await asyncio.to_thread(port_in.get)
        upstream.close()

    asyncio.run(main())


async def run(mode: str, sessions: int, per_session: int, size: int, args_workers: int) -> None:
    loop = asyncio.get_running_loop()
    tmp = Path(tempfile.mkdtemp(prefix="relay-bench-", dir="."))
    spool = service = None
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    port_in = ctx.Queue()
    proc = ctx.Process(target=_client, args=(port_in, sessions, per_session, size, out))
    proc.start()
    upstream_port: int = await asyncio.to_thread(out.get)
    if mode == "put":
        spool = await Spool.open(tmp / "spool", handoff=False)
    if mode == "spool":
        spool = await Spool.open(tmp / "spool")
        up = UpstreamConfig(host="127.0.0.1", port=upstream_port, tls="none", pool_size=args_workers)
        service = DeliveryService(spool, up, DeliveryConfig(workers=args_workers), outbox=tmp / "outbox",
                                  hostname="bench.local")
        await service.start()
    handler = Accepting(spool, service)
    server = await loop.create_server(lambda: SMTP(handler, data_size_limit=None), "127.0.0.1", 0)
    cpu0 = time.thread_time()
    port_in.put(server.sockets[0].getsockname()[1])
    elapsed: float = await asyncio.to_thread(out.get)
    cpu_accept = time.thread_time() - cpu0
    total = sessions * per_session
    drain_start = time.perf_counter()
    relayed = 0
    if service is not None:
        relayed = await asyncio.to_thread(out.get)
    drained = time.perf_counter() - drain_start
    cpu_total = time.thread_time() - cpu0
    port_in.put(0)
    await asyncio.to_thread(proc.join)
    print(f"mode={mode} workers={args_workers} sessions={sessions} messages={total} size={size}B "
          f"accepted msg/s={total / elapsed:,.0f} loop-cpu/msg={cpu_total / total * 1e6:.0f}us "
          f"(while accepting {cpu_accept / total * 1e6:.0f}us)"
          + (f" relayed={relayed} drain-after-last-250={drained:.2f}s"
             if service is not None else ""))
    if service is not None:
        await service.stop()
    if spool is not None:
        await spool.close()
    server.close()
    shutil.rmtree(tmp, ignore_errors=True)


async def drain(messages: int, size: int, workers: int, pipelining: bool) -> None:
    from bench.common import free_port
    from bench.peer import SMTP_SINK, Sink

    if not os.access(SMTP_SINK, os.X_OK):
        print(f"skipped: Debian's postfix is not installed ({SMTP_SINK} missing)")
        return
    tmp = Path(tempfile.mkdtemp(prefix="drain-bench-", dir="."))
    head = b"From: s@example.com\r\nTo: r@example.net\r\nSubject: bench\r\n\r\n"
    data = head + (b"y" * 76 + b"\r\n") * ((size - len(head)) // 78)
    spool = await Spool.open(tmp / "spool", handoff=False)  # as in the supervisor: puts come from workers
    for start in range(0, messages, 500):
        await asyncio.gather(*(spool.put("s@example.com", ["r@example.net"], data, {"message_id": f"<{i}@b>"})
                               for i in range(start, min(messages, start + 500))))
    sink = Sink(free_port(), pipelining=pipelining)
    up = UpstreamConfig(host="127.0.0.1", port=sink.port, tls="none", pool_size=workers)
    service = DeliveryService(spool, up, DeliveryConfig(workers=workers), outbox=tmp / "outbox",
                              hostname="bench.local")
    threads0 = _thread_cpu()
    cpu0, t0 = time.process_time(), time.perf_counter()
    await service.start()
    while sink.count < messages:
        await asyncio.sleep(0.01)
    while await spool.depth():
        await asyncio.sleep(0.01)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    threads = {name: used - threads0.get(name, 0.0) for name, used in _thread_cpu().items()}
    cpu -= threads.pop(sink.reader.name, 0.0)  # the bench's own: reading smtp-sink's count
    threads.pop(f"{sink.reader.name} sys", None)
    await service.stop()
    commits = spool.commits
    await spool.close()
    sink.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"mode=drain workers={workers} messages={messages} size={size}B pipelining={pipelining} "
          f"{messages / seconds:,.0f} msg/s; CPU/msg {cpu / messages * 1e3:.3f} ms; {commits} spool commits")
    print("  by thread: " + ", ".join(
        f"{name} {used / messages * 1e3:.3f} ms (sys {threads.get(f'{name} sys', 0.0) / messages * 1e3:.3f})"
        for name, used in sorted(threads.items(), key=lambda kv: -kv[1])
        if not name.endswith(" sys") and used / messages >= 5e-6))


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process by thread name; ``name sys``: its system part."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            continue
        out[thread.name] = out.get(thread.name, 0.0) + (int(stat[11]) + int(stat[12])) / tick
        out[f"{thread.name} sys"] = out.get(f"{thread.name} sys", 0.0) + int(stat[12]) / tick
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["sink", "put", "spool", "drain"], default="spool")
    parser.add_argument("--messages", type=int, default=5000, help="drain: messages in the spool")
    parser.add_argument("--no-pipelining", action="store_true", help="drain: smtp-sink without PIPELINING")
    parser.add_argument("--log", default=os.devnull, help="drain: the JSON log's file")
    parser.add_argument("--sessions", "-c", type=int, default=20)
    parser.add_argument("--per-session", "-n", type=int, default=300)
    parser.add_argument("--size", "-s", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=4, help="delivery workers = pool size")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="sys.setswitchinterval for the server process (GIL hand-off latency)")
    args = parser.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    if args.mode == "drain":
        print(f"machine: {machine()}; load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        with open(args.log, "w") as log:
            os.dup2(log.fileno(), 2)
        configure_logging("json", "info")
        asyncio.run(drain(args.messages, args.size, args.workers, not args.no_pipelining))
        return
    configure_logging("console", "warning")
    asyncio.run(run(args.mode, args.sessions, args.per_session, args.size, args.workers))


if __name__ == "__main__":
    main()
