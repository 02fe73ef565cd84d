"""One fault-injection round against the gateway as a real process, counted the harness's way.

Clients send concurrently and keep the Message-ID of every message that got a 250; the recording
sink upstream keeps every message it stored. After the fault and a restart:
acknowledged = 250s heard, delivered = distinct acknowledged messages the sink stored,
lost = acknowledged but never delivered, duplicated = copies beyond the first.

Faults: ``kill9`` (SIGKILL to the gateway and its delivery child), ``power`` (SIGKILL, then the
state file system loses everything not fsync'd: tests/lazyfs.py), ``sigterm`` (a graceful stop
under load), ``none``. Used by tests/e2e/test_power_loss.py and bench/fault_harness.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiosmtplib

from tests.conftest import REPO_ROOT
from tests.pgserver import PrivateServer
from tests.powerloss import LazyMount
from tests.procutil import free_port, wait_listening
from tests.sink import Sink


@dataclass
class RoundResult:
    scenario: str
    acknowledged: int
    delivered: int
    lost: int
    duplicated: int
    refused: int
    # How the refused ones were answered: "451 4.3.0" -> count ("no reply" when the connection
    # failed or timed out instead).
    replies: Counter[str] = field(default_factory=Counter)
    # time.monotonic() of every 250 the clients heard, in order.
    acknowledged_at: list[float] = field(default_factory=list, repr=False)
    # The refusals' reply texts, each once.
    reply_texts: set[str] = field(default_factory=set, repr=False)

    def row(self) -> str:
        return (f"| {self.scenario} | {self.acknowledged} | {self.delivered} | {self.lost} | "
                f"{self.duplicated} | {self.refused} |")


def start(config: Path) -> subprocess.Popen[bytes]:
    # Its own session, so a kill reaches the delivery child too, as a power cut would.
    return subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def write_config(path: Path, port: int, state: Path, sink_port: int, separate: bool,
                 min_free_bytes: int = 0, database: str | None = None, policy: bool = False) -> None:
    path.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\n'
        f'[state]\ndirectory = "{state}"\nmin_free_bytes = {min_free_bytes}\n'
        + (f'database = "{database}"\n' if database else "") +
        f'[upstream]\nhost = "127.0.0.1"\nport = {sink_port}\ntls = "none"\n'
        'connect_timeout = 2\ncommand_timeout = 5\ndata_timeout = 10\n'
        f'[policy]\nenabled = {"true" if policy else "false"}\n'
        '[delivery]\nretry_initial = 0.2\nretry_max = 0.5\npoll_interval = 0.1\nstall_after = 1\n'
        f'process = "{"separate" if separate else "inline"}"\n'
        '[admin]\nlisten = "127.0.0.1:0"\n'  # never the default 8025 another gateway may hold
        '[log]\nformat = "json"\nlevel = "error"\n')


def shipping_notice(client: int, number: int) -> str:
    """Headers from Subject on and a body the shipped rule packs relay: a German shipping notice."""
    order = f"302-{1000000 + client:07d}-{1000000 + number:07d}"
    return (f"Subject: Ihre Bestellung {order}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"\r\nGuten Tag,\r\n\r\nIhre Bestellung {order} wurde heute an DHL \u00fcbergeben.\r\n"
            "Die Sendungsnummer lautet 00340434161234567890.\r\n\r\nMit freundlichen Gr\u00fc\u00dfen\r\n"
            "Ihr Shop-Team\r\n")


def reply_kind(exc: aiosmtplib.SMTPException) -> str:
    """``"451 4.3.0"``: the code and enhanced status of a refusal, whichever command drew it."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        status = exc.message.split(maxsplit=1)[0] if exc.message else ""
        return f"{exc.code} {status}" if status[:1].isdigit() else str(exc.code)
    return "no reply"


def message_ids(sink: Sink) -> list[str]:
    ids = []
    for m in sink.messages:
        for line in m.data.split(b"\r\n"):
            if line.startswith(b"Message-ID: "):
                ids.append(line[12:].decode())
                break
    return ids


async def run_round(tmp_path: Path, sink: Sink, *, scenario: str, fault: str = "kill9",
                    separate: bool = False, clients: int = 8, per_client: int = 40,
                    during: Callable[[Sink], Awaitable[None]] | None = None,
                    after: Callable[[Sink], Awaitable[None]] | None = None, settle: float = 30.0,
                    state: Path | None = None, min_free_bytes: int = 0, database: str | None = None,
                    recipient: str = "b@example.com", timeout: float = 10.0, pace: float = 0.0,
                    policy: bool = False) -> RoundResult:
    """Send clients x per_client messages; at a third acknowledged, apply ``during`` to the sink
    and the fault to the gateway; restart; apply ``after``; count. ``timeout`` is each client's
    SMTP timeout per command; ``pace`` a pause between one client's messages, so that mail keeps
    flowing through a fault that lasts a while (an outage) instead of all being sent before it.
    With ``policy`` the rule packs judge every message (a shipping notice naming its order, which
    they relay), so the store's opt-out and review state is read before each 250."""
    port = free_port()
    mount: LazyMount | None = None
    state = state or tmp_path / "state"
    if fault == "power":
        mount = LazyMount(tmp_path / "backing", tmp_path / "mnt")
        mount.mount()
        state = tmp_path / "mnt" / "state"
    config = tmp_path / "gateway.toml"
    write_config(config, port, state, sink.port, separate, min_free_bytes, database, policy)
    if database is not None:  # a shared PostgreSQL database is upgraded by the admin, not by serve
        await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "gateway", "db", "upgrade", "--config",
                                                 str(config)], cwd=REPO_ROOT, check=True, capture_output=True)
    proc = start(config)
    acknowledged: set[str] = set()
    refused = 0
    replies: Counter[str] = Counter()
    acknowledged_at: list[float] = []
    reply_texts: set[str] = set()
    third = asyncio.Event()

    async def client(c: int) -> None:
        nonlocal refused
        for i in range(per_client):
            if pace and i:
                await asyncio.sleep(pace)
            mid = f"<{scenario}-{c}-{i}@fault.test>"
            data = (f"From: a@shop.example\r\nTo: {recipient}\r\nMessage-ID: {mid}\r\n"
                    + (shipping_notice(c, i) if policy else
                       "Subject: fault round\r\n\r\n" + ("x" * 78 + "\r\n") * 25)).encode()
            try:
                await aiosmtplib.send(data, sender="a@shop.example", recipients=[recipient],
                                      hostname="127.0.0.1", port=port, timeout=timeout)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as exc:
                refused += 1
                replies[reply_kind(exc)] += 1
                reply_texts.add(str(exc))
                continue
            except (aiosmtplib.SMTPException, OSError):
                if fault == "none":
                    refused += 1
                    replies["no reply"] += 1
                    continue
                return  # the gateway is gone: this one was not acknowledged
            acknowledged.add(mid)
            acknowledged_at.append(time.monotonic())
            if len(acknowledged) >= clients * per_client // 3:
                third.set()

    try:
        await wait_listening(port)
        tasks = asyncio.ensure_future(asyncio.gather(*(client(c) for c in range(clients))))
        await asyncio.wait([asyncio.ensure_future(third.wait()), tasks], timeout=120,
                           return_when=asyncio.FIRST_COMPLETED)
        if during is not None:
            await during(sink)
        if fault in ("kill9", "power"):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if mount is not None:
                await asyncio.to_thread(mount.power_cut)
        elif fault == "sigterm":
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 60)
        await tasks
        if fault != "none":
            proc = start(config)
            await wait_listening(port)
        if after is not None:
            await after(sink)
        async with asyncio.timeout(settle):
            while not acknowledged <= set(message_ids(sink)):
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a late duplicate arrives before counting
    except TimeoutError:
        pass  # counted below as lost
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if mount is not None:
            mount.unmount()
    seen = Counter(i for i in message_ids(sink) if i.startswith(f"<{scenario}-"))
    delivered = {i for i in seen if i in acknowledged}
    return RoundResult(scenario, len(acknowledged), len(delivered), len(acknowledged - delivered),
                       sum(n - 1 for n in seen.values()), refused, replies, acknowledged_at,
                       reply_texts)


@dataclass
class Outage:
    """A PostgreSQL outage while mail flows, for ``run_round``'s ``during`` and ``after``.

    ``during``: the upstream answers 451 for ``hold`` seconds, so mail piles up in the spool; then
    the database goes away (``mode`` "stop": pg_ctl stop -m fast, as an admin's restart or a
    crash of the server does; "freeze": SIGSTOP, a server that accepts and never answers) and
    the upstream recovers. ``seconds`` later the database is back. ``after`` waits for that.
    Counts what the sink stored while the database was away: spooled mail must still go out.
    """

    server: PrivateServer
    mode: str = "stop"
    seconds: float = 10.0
    hold: float = 2.0
    delivered_during: int = 0
    down_at: float = 0.0  # time.monotonic() when the database went away and came back
    back_at: float = 0.0
    _back: asyncio.Future[None] | None = None

    async def during(self, sink: Sink) -> None:
        sink.behaviour.data_reply = "451 4.3.0 upstream busy"
        await asyncio.sleep(self.hold)
        if self.mode == "freeze":
            self.server.freeze()
        else:
            await asyncio.to_thread(self.server.stop, "fast")
        at_start = len(sink.messages)
        self.down_at = time.monotonic()
        sink.behaviour.data_reply = None
        self._back = asyncio.ensure_future(self._restore(sink, at_start))

    async def _restore(self, sink: Sink, at_start: int) -> None:
        await asyncio.sleep(self.seconds)
        self.delivered_during = len(sink.messages) - at_start
        if self.mode == "freeze":
            self.server.thaw()
        else:
            await asyncio.to_thread(self.server.start)
        self.back_at = time.monotonic()

    async def after(self, sink: Sink) -> None:
        if self._back is not None:
            await self._back
