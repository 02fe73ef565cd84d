"""Several worker processes (gateway/workers/): a real `gateway serve --workers 2` over loopback.

The supervisor binds port 0 before it starts its workers and logs the port it got; every test
reads it from there. Upstream is a real aiosmtpd sink in the test's process. Nothing is mocked:
the workers share the real SQLite spool and state database, the supervisor delivers.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.metrics import GatewayMetrics
from gateway.policy.verdict import Action, Hit, Verdict
from gateway.workers import counter_values, merge_expositions
from tests.conftest import REPO_ROOT
from tests.sink import Sink
from tests.smtpclient import RawSMTP

pytestmark = pytest.mark.timeout(240)

ALIAS_DE = "3vqmzxk4lhl9w1b@marketplace.amazon.de"
ALIAS_COM = "q8vrtn3kd2x7zm9@marketplace.amazon.com"
SHOP = "orders@shop.example"
# Seconds a reply may take: the machine running the suite is shared, and the first messages wait
# for the policy engine's evaluation processes to start.
SLOW = 120.0


class Served:
    """A running `gateway serve` and its JSON log (a file: nothing blocks on a full pipe)."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if name is None or event.get("event") == name:
                out.append(event)
        return out

    async def wait_event(self, name: str, count: int = 1, timeout: float = 90.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(name)
            if len(found) >= count:
                return found
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {count} x {name} (exit {self.proc.poll()}); log:\n{self.log.read_text()[-4000:]}")

    @property
    def port(self) -> int:
        return int(self.events("workers_ready")[-1]["port"])

    def worker_pids(self) -> dict[int, int]:
        pids: dict[int, int] = {}
        for event in self.events("worker_started"):
            pids[int(event["worker"])] = int(event["pid"])
        return pids


def write_config(tmp_path: Path, sink_port: int, extra: str = "", *, policy: bool = False,
                 admin: bool = False) -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[server]\nlisten = "127.0.0.1:0"\nworkers = 2\n'
        f'[state]\ndirectory = "{tmp_path / "state"}"\n'
        f'[upstream]\nhost = "127.0.0.1"\nport = {sink_port}\ntls = "none"\n'
        f'[delivery]\npoll_interval = 30\n'  # what arrives fast arrives because a worker said so
        f'[policy]\nenabled = {"true" if policy else "false"}\nevaluation_timeout = 100\n'
        + ('[admin]\nlisten = "127.0.0.1:0"\npublic_metrics = true\n' if admin else '[admin]\nenabled = false\n')
        + f'[log]\nformat = "json"\nlevel = "info"\n{extra}')
    return config


@asynccontextmanager
async def serving(config: Path, *args: str, **env: str) -> AsyncIterator[Served]:
    log = config.parent / "gateway.log"
    proc = _start(config, log, args, env)
    served = Served(proc, log)
    try:
        await served.wait_event("workers_ready")
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        leftovers = [pid for pid in served.worker_pids().values() if _alive(pid)]
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        assert not leftovers, f"workers outlived their supervisor: {leftovers}"


def _start(config: Path, log: Path, args: tuple[str, ...], env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config), *args],
                                cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out,
                                env={**os.environ, **env})


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def message(n: int, to: str = "buyer@example.org", sender: str = "erp@example.com", body: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: Lieferung {n}\r\nMessage-ID: <m{n}@test.example>\r\n"
            "Date: Tue, 01 Dec 2026 09:14:03 +0100\r\n\r\n"
            + (body or f"Bestellung 302-4817265-{n % 10_000_000:07d}: wann passt Ihnen die Zustellung?\r\n")).encode()


async def send(port: int, data: bytes, to: str = "buyer@example.org",
               sender: str = "erp@example.com") -> tuple[int, str]:
    client, greeting = await RawSMTP.connect(port)
    try:
        if greeting[0] != 220:
            return greeting
        await client.cmd("EHLO erp.test")
        code, text = await client.cmd(f"MAIL FROM:<{sender}>")
        if code != 250:
            return code, text
        code, text = await client.cmd(f"RCPT TO:<{to}>")
        if code != 250:
            return code, text
        await client.cmd("DATA")
        reply = await client.cmd(data + b".", timeout=SLOW)
        await client.cmd("QUIT")
        return reply
    finally:
        await client.close()


def ids_received(sink: Sink) -> Counter[str]:
    out: Counter[str] = Counter()
    for msg in sink.messages:
        for line in msg.data.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                out[line.split(b":", 1)[1].strip().decode()] += 1
    return out


async def wait_received(sink: Sink, wanted: set[str], timeout: float = 60.0) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = ids_received(sink)
        if wanted <= set(got):
            return got
        await asyncio.sleep(0.1)
    missing = wanted - set(ids_received(sink))
    raise AssertionError(f"{len(missing)} acknowledged messages never arrived: {sorted(missing)[:10]}")


async def test_messages_from_many_connections_arrive_once(tmp_path: Path, sink: Sink) -> None:
    config = write_config(tmp_path, sink.port, admin=True)
    async with serving(config) as gw:
        assert len(gw.events("listening")) == 3  # the supervisor's bind, then each worker's
        assert {e.get("worker") for e in gw.events("gateway_started")} == {None, 0, 1}
        gate = asyncio.Semaphore(20)

        async def one(n: int) -> tuple[int, str]:
            async with gate:
                return await send(gw.port, message(n))

        replies = await asyncio.gather(*(one(n) for n in range(120)))
        assert [code for code, _ in replies] == [250] * 120, replies
        got = await wait_received(sink, {f"<m{n}@test.example>" for n in range(120)})
        assert len(sink.messages) == 120 and set(got.values()) == {1}
        # Every decision still logged, by whichever worker made it.
        decisions = gw.events("decision")
        assert len(decisions) == 120 and all(d.get("worker") in (0, 1) for d in decisions)
        # One admin server for all: its counters add up the workers'.
        admin_port = int(gw.events("admin_listening")[0]["port"])
        text = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=30).read().decode())
        lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
        assert float(lines["gateway_smtp_sessions_total"]) == 120
        assert float(lines['gateway_messages_total{action="relay",marketplace="none",tenant=""}']) == 120
        assert float(lines["gateway_workers"]) == 2
        assert float(lines["gateway_processing_seconds_count{action=\"relay\"}"]) == 120


REVIEW_BODY = ("Hello,\r\n\r\nwe hope the kettle from order 302-4817265-9034712 arrived safely. Would you "
               "take a moment to leave a review on Amazon?\r\n\r\nKind regards\r\nThe shop team\r\n")


async def test_daily_cap_and_per_order_counter_hold_exactly_across_workers(tmp_path: Path, sink: Sink) -> None:
    tenants = ('[[tenants]]\nid = "shop"\nsender_domains = ["shop.example"]\n'
               'daily_caps = { de = 5 }\n')
    config = write_config(tmp_path, sink.port, tenants, policy=True)
    async with serving(config) as gw:
        # Twelve proactive messages at once, over both workers, against a cap of five a day.
        replies = await asyncio.gather(*(send(gw.port, message(n, ALIAS_DE, SHOP), ALIAS_DE, SHOP)
                                         for n in range(12)))
        codes = Counter(code for code, _ in replies)
        assert codes[250] == 5 and all(400 <= c < 500 for c in codes if c != 250), replies
        # Ten review requests for one order at once: Amazon allows one; exactly one goes out.
        replies = await asyncio.gather(*(
            send(gw.port, message(100 + n, ALIAS_COM, SHOP, REVIEW_BODY), ALIAS_COM, SHOP) for n in range(10)))
        codes = Counter(code for code, _ in replies)
        assert codes[250] == 1, replies
        refused = [text for code, text in replies if code != 250]
        assert len(refused) == 9 and all("review-request" in text for text in refused), refused
        await wait_received(sink, set())
    with sqlite3.connect(tmp_path / "state" / "gateway.db") as db:
        assert db.execute("SELECT sum(count) FROM daily_sends WHERE tenant = 'shop' AND marketplace = 'de'"
                          ).fetchone()[0] == 5
        assert db.execute("SELECT count FROM order_counters WHERE tenant = 'shop' AND order_id = ? "
                          "AND counter = 'review-request'", ("302-4817265-9034712",)).fetchone()[0] == 1


async def test_a_killed_worker_is_restarted_and_no_acknowledged_message_is_lost(tmp_path: Path, sink: Sink) -> None:
    async with serving(write_config(tmp_path, sink.port)) as gw:
        first = gw.worker_pids()
        acknowledged: set[str] = set()
        retried: set[str] = set()
        stop_sending = asyncio.Event()

        async def client(lane: int) -> None:
            n = lane * 10_000
            while not stop_sending.is_set():
                mid = f"<m{n}@test.example>"
                while True:  # as an MTA does: no 250, try again
                    try:
                        code, _ = await send(gw.port, message(n))
                    except (OSError, asyncio.IncompleteReadError, TimeoutError):
                        code = 0
                    if code == 250:
                        acknowledged.add(mid)
                        break
                    retried.add(mid)
                    await asyncio.sleep(0.05)
                n += 1

        lanes = [asyncio.create_task(client(lane)) for lane in range(8)]
        await asyncio.sleep(1.5)
        os.kill(first[0], signal.SIGKILL)
        died = await gw.wait_event("worker_died")
        assert died[0]["worker"] == 0 and died[0]["returncode"] == -signal.SIGKILL
        await gw.wait_event("worker_started", count=3)
        await gw.wait_event("gateway_started", count=4)  # the supervisor, two workers, the new one
        await asyncio.sleep(1.0)
        stop_sending.set()
        await asyncio.gather(*lanes)
        assert gw.worker_pids()[0] != first[0] and _alive(gw.worker_pids()[0])
        assert gw.worker_pids()[1] == first[1]
        got = await wait_received(sink, acknowledged)
        # Once each, but for a message whose 250 the killed worker could not say any more: the
        # client sent it again (SMTP's rule), so that one may arrive twice.
        assert all(count == 1 for mid, count in got.items() if mid not in retried), got
        assert len(acknowledged) > 20


async def test_sigterm_drains_every_worker_and_the_open_session_finishes(tmp_path: Path, sink: Sink) -> None:
    async with serving(write_config(tmp_path, sink.port)) as gw:
        pids = gw.worker_pids()
        client, _ = await RawSMTP.connect(gw.port)
        await client.cmd("EHLO erp.test")
        await client.cmd("MAIL FROM:<erp@example.com>")
        await client.cmd("RCPT TO:<buyer@example.org>")
        assert (await client.cmd("DATA"))[0] == 354
        gw.proc.send_signal(signal.SIGTERM)
        await gw.wait_event("worker_draining", count=2)
        # New sessions hear 421 (or find nobody listening once the workers are done).
        try:
            late, greeting = await RawSMTP.connect(gw.port)
            assert greeting[0] == 421, greeting
            await late.close()
        except (OSError, asyncio.IncompleteReadError):
            pass
        code, text = await client.cmd(message(1) + b".", timeout=SLOW)
        assert code == 250, text
        await client.cmd("QUIT")
        await client.close()
        assert await asyncio.to_thread(gw.proc.wait, 60) == 0
        assert not any(_alive(pid) for pid in pids.values())
        assert len(gw.events("gateway_stopped")) == 3
    delivered = "<m1@test.example>" in ids_received(sink)
    with sqlite3.connect(tmp_path / "state" / "spool" / "spool.sqlite3") as db:
        pending = db.execute("SELECT count(*) FROM messages WHERE state = 'pending'").fetchone()[0]
    assert delivered or pending == 1  # acknowledged: delivered before the stop, or kept for the next start


async def test_reload_reaches_every_worker_and_ready_waits_for_all(tmp_path: Path, sink: Sink) -> None:
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(sock_path))
        notify.setblocking(False)
        config = write_config(tmp_path, sink.port)
        async with serving(config, NOTIFY_SOCKET=str(sock_path)) as gw:
            loop = asyncio.get_running_loop()
            state = (await asyncio.wait_for(loop.sock_recv(notify, 256), 30)).decode()
            assert state == "READY=1"
            assert len([e for e in gw.events("gateway_started") if e.get("role") == "worker"]) == 2
            assert (await send(gw.port, message(1), "a@example.org"))[0] == 250
            config.write_text(config.read_text().replace("workers = 2\n", "workers = 2\nmax_recipients = 1\n"))
            gw.proc.send_signal(signal.SIGHUP)
            await gw.wait_event("reloaded", count=3)
            assert {e.get("worker") for e in gw.events("reloaded")} == {None, 0, 1}
            for _ in range(6):  # whichever worker takes the session has the new limit
                client, _ = await RawSMTP.connect(gw.port)
                await client.cmd("EHLO erp.test")
                await client.cmd("MAIL FROM:<erp@example.com>")
                assert (await client.cmd("RCPT TO:<a@example.org>"))[0] == 250
                assert (await client.cmd("RCPT TO:<b@example.org>"))[0] == 452
                await client.close()


async def test_workers_flag_overrides_the_config_and_one_worker_serves_in_process(tmp_path: Path, sink: Sink) -> None:
    config = write_config(tmp_path, sink.port)
    async with serving(config, "--workers", "3") as gw:
        assert len([e for e in gw.events("gateway_started") if e.get("role") == "worker"]) == 3
        assert (await send(gw.port, message(7)))[0] == 250
        await wait_received(sink, {"<m7@test.example>"})


def test_merged_metrics_add_up_and_keep_a_dead_workers_counts() -> None:
    supervisor, one, two = GatewayMetrics(), GatewayMetrics(), GatewayMetrics()
    verdict = Verdict(action=Action.RELAY, hits=(Hit(rule="r", action=Action.RELAY, reason="x"),))
    for metrics, n in ((supervisor, 1), (one, 2), (two, 4)):
        for _ in range(n):
            metrics.observe_decision(verdict, "de")
            metrics.observe_reply("250 2.0.0 Ok: queued as X", 0.01)
    retired = counter_values(two.render())
    merged = merge_expositions(supervisor.render(), [one.render(), two.render()], retired).decode()
    values = dict(line.rsplit(" ", 1) for line in merged.splitlines() if line and not line.startswith("#"))
    assert float(values['gateway_messages_total{action="relay",marketplace="de",tenant=""}']) == 1 + 2 + 4 + 4
    assert float(values['gateway_processing_seconds_count{action="relay"}']) == 11
    assert float(values['gateway_processing_seconds_bucket{action="relay",le="0.025"}']) == 11
    assert "process_cpu_seconds_total" in values  # the supervisor's own
    assert not any(name.endswith("_created") for name in values)
    assert merged.count("# TYPE gateway_messages_total counter") == 1
