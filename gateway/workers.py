"""Several worker processes on one set of listening sockets: ``[server] workers`` > 1.

The process that ``gateway serve`` starts becomes the *supervisor*. It binds every SMTP listening
socket itself (the submission port, the implicit-TLS port, the bounce port), before any worker
exists, and starts ``[server] workers`` children (``python -m gateway worker``) that inherit those
sockets (prefork with an inherited socket: one accept queue, shared; the kernel hands each new
connection to whichever worker's event loop accepts it first, so a busy worker takes fewer). Each
worker runs SMTP sessions and the whole pipeline (classify, evaluate, repair, reserve, store,
record) on the shared state: the spool's SQLite file and the state database (or PostgreSQL), both
of which serialise writers across processes (SQLite: WAL, ``BEGIN IMMEDIATE``, one writer at a
time), so caps and per-order counters stay exact; a 250 still waits for the fsync'd spool commit.

What must run once runs in the supervisor: delivery (one DeliveryService, holding the spool's
delivery lock; a worker tells it over its control channel that it queued a message, and it looks
in the spool at once), the admin HTTP server and ``/metrics``, IMAP bounce polling and release
recovery. The supervisor also holds the PID file, so ``gateway reload`` and systemd signal it:

- a worker that dies is started again (after ``RESTART_DELAY``, longer when it keeps dying at
  start); the listening sockets stay open in the supervisor and the other workers, so no
  connection waiting in the accept queue is lost, and whatever a dead worker acknowledged is in
  the spool, which the supervisor's delivery reads;
- SIGTERM goes to every worker (each drains its sessions: 421 to new ones, open ones finish),
  then delivery finishes its in-flight attempts and the supervisor exits;
- SIGHUP: the supervisor reloads and validates the configuration, then sends the same one to every
  worker over its control channel (a restarted worker starts with it, too);
- systemd hears READY=1 only when every worker listens.

Metrics are *aggregated*: a scrape asks every worker for its exposition and adds the ``gateway_*``
counters and histograms of all processes up (a dead worker's last figures are kept, so a counter
never goes down because a worker was restarted); gauges take the largest value; ``process_*`` are
the supervisor's own. ``gateway_workers`` (running) and ``gateway_worker_restarts_total`` say how
the workers fare.

The control channel is a Unix socket pair, one JSON object per line (``q`` alone: "queued a
message"). A worker whose channel reaches end of file (its supervisor is gone, however it died)
drains and exits; it also asks the kernel for SIGTERM when its parent dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.log import get_logger

log = get_logger("gateway.workers")

# The listeners a worker serves (the admin port is the supervisor's).
WORKER_LISTENERS = ("server.listen", "server.implicit_tls_listen", "bounces.listen")
BACKLOG = 100  # asyncio's create_server default
RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
# A worker that ran at least this long before it died is restarted after RESTART_DELAY again.
STABLE_AFTER = 10.0
START_TIMEOUT = 120.0
REQUEST_TIMEOUT = 10.0
# A worker's grace to drain past the configured one: the DATA wait and the hang-up (gateway/server.py).
STOP_MARGIN = 15.0
_LINE_LIMIT = 64 * 1024 * 1024


class WorkerStartFailed(RuntimeError):
    """A worker process could not start (it says why); the supervisor does not start either."""


# -- the listening sockets ------------------------------------------------------------------------

def bind(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """Listening sockets for every address ``host`` resolves to, as asyncio's create_server makes
    them (SO_REUSEADDR, IPv6-only v6 sockets), non-blocking and inheritable. Port 0: the first
    address picks a free port and the others take the same one."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    seen: set[Any] = set()
    socks: list[socket.socket] = []
    try:
        for family, type_, proto, _name, address in infos:
            if address in seen:
                continue
            seen.add(address)
            sock = socket.socket(family, type_, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(socks) > 1:
                address = (address[0], socks[0].getsockname()[1], *address[2:])
            try:
                sock.bind(address)
            except OSError as exc:
                # Worded as asyncio words it, which gateway serve's refusal maps to the key.
                raise OSError(exc.errno, f"error while attempting to bind on address {address!r}: "
                                         f"{(exc.strerror or str(exc)).lower()}") from None
            sock.listen(BACKLOG)
            sock.setblocking(False)
            sock.set_inheritable(True)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def bind_listeners(config: GatewayConfig) -> dict[str, list[socket.socket]]:
    """Every SMTP listener of ``config``, bound: listener key -> its sockets."""
    out: dict[str, list[socket.socket]] = {}
    try:
        for key, (host, port) in config.listeners():
            if key in WORKER_LISTENERS:
                out[key] = bind(host, port, reuse_port=config.server.reuse_port)
    except BaseException:
        close_sockets(out)
        raise
    return out


def close_sockets(sockets: Mapping[str, Iterable[socket.socket]]) -> None:
    for socks in sockets.values():
        for sock in socks:
            sock.close()


def bound_port(sockets: Mapping[str, Sequence[socket.socket]], key: str = "server.listen") -> int | None:
    socks = sockets.get(key)
    if not socks:
        return None
    port: int = socks[0].getsockname()[1]
    return port


# -- metrics ----------------------------------------------------------------------------------------

_Key = tuple[str, tuple[tuple[str, str], ...]]


def _families(text: bytes) -> list[Metric]:
    return list(text_string_to_metric_families(text.decode("utf-8")))


_MERGED_TYPES = ("counter", "histogram", "summary", "gauge")


def _summed(family: Metric) -> bool:
    return family.name.startswith("gateway_") and family.type in ("counter", "histogram", "summary")


def _sample_key(sample: Any) -> _Key:
    return sample.name, tuple(sorted(sample.labels.items()))


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def merge_expositions(own: bytes, workers: Sequence[bytes], retired: Mapping[_Key, float]) -> bytes:
    """The supervisor's exposition with its workers' added up: ``gateway_*`` counters and
    histograms summed (plus ``retired``, the last figures of workers that died), ``gateway_*``
    gauges the largest value, everything else (``process_*``, ``gateway_build``) the supervisor's."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[_Key, Sample]] = {}
    for index, text in enumerate((own, *workers)):
        for family in _families(text):
            name = family.name
            if index > 0 and not (name.startswith("gateway_") and family.type in _MERGED_TYPES):
                continue
            if name not in families:
                families[name] = Metric(name, family.documentation, family.type, family.unit)
                values[name] = {}
            target, seen = families[name], values[name]
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue  # per process; a sum has no creation time of its own
                key = _sample_key(sample)
                have = seen.get(key)
                if have is None:
                    seen[key] = sample
                elif _summed(target):
                    seen[key] = have._replace(value=have.value + sample.value)
                elif target.type == "gauge" and name.startswith("gateway_"):
                    seen[key] = have._replace(value=max(have.value, sample.value))
    for key, value in retired.items():
        owner = next((n for n in families if _summed(families[n])
                      and key[0] in (n, f"{n}_total", f"{n}_bucket", f"{n}_count", f"{n}_sum")), None)
        if owner is None:
            continue
        have = values[owner].get(key)
        values[owner][key] = (have._replace(value=have.value + value) if have is not None
                             else Sample(key[0], dict(key[1]), value))
    for name, family in families.items():
        family.samples = list(values[name].values())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families.values())))
    return generate_latest(registry)


def counter_values(text: bytes) -> dict[_Key, float]:
    """The summed samples (``gateway_*`` counters and histograms) of one exposition."""
    out: dict[_Key, float] = {}
    for family in _families(text):
        if _summed(family):
            for sample in family.samples:
                if not sample.name.endswith("_created"):
                    out[_sample_key(sample)] = sample.value
    return out


# -- the supervisor's side ---------------------------------------------------------------------------

class WorkerProcess:
    """One ``python -m gateway worker`` child and its control channel."""

    def __init__(self, index: int, on_queued: Callable[[], None]) -> None:
        self.index = index
        self._on_queued = on_queued
        self.proc: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.failure: str | None = None
        self.started_at = 0.0
        self.metrics: bytes | None = None  # its latest exposition
        self._requests: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def spawn(self, config: GatewayConfig, sockets: Mapping[str, Sequence[socket.socket]]) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            args = [sys.executable, "-m", "gateway", "worker", "--index", str(self.index),
                    "--control-fd", str(child.fileno()), "--event-loop", config.server.event_loop]
            fds = [child.fileno()]
            for key, socks in sockets.items():
                args += ["--listen", f"{key}=" + ",".join(str(s.fileno()) for s in socks)]
                fds += [s.fileno() for s in socks]
            env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}  # READY is ours to say
            env[PARENT_PID_ENV] = str(os.getpid())
            self.proc = await asyncio.create_subprocess_exec(*args, pass_fds=fds, env=env,
                                                             stdin=asyncio.subprocess.DEVNULL)
        finally:
            child.close()
        self.started_at = time.monotonic()
        reader, self._writer = await asyncio.open_unix_connection(sock=parent, limit=_LINE_LIMIT)
        self._send({"config": json.loads(config.model_dump_json())})
        self._reading = asyncio.create_task(self._read(reader), name=f"worker-{self.index}-channel")
        log.info("worker_started", worker=self.index, pid=self.proc.pid)

    def _send(self, message: Mapping[str, Any]) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(json.dumps(message).encode() + b"\n")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                if line.startswith(b"q"):
                    self._on_queued()
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if "ready" in message:
                    self.ready.set()
                elif "failed" in message:
                    self.failure = str(message["failed"])
                elif "reply" in message:
                    future = self._requests.pop(int(message["reply"]), None)
                    if future is not None and not future.done():
                        future.set_result(message)
        for future in self._requests.values():
            if not future.done():
                future.set_exception(ConnectionError(f"worker {self.index} is gone"))
        self._requests.clear()

    async def request(self, message: Mapping[str, Any], timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        """Send one command and wait for its answer (``ConnectionError``/``TimeoutError`` otherwise)."""
        if not self.running:
            raise ConnectionError(f"worker {self.index} is not running")
        number = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._requests[number] = future
        self._send({**message, "id": number})
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._requests.pop(number, None)

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    async def wait(self) -> int:
        assert self.proc is not None
        code = await self.proc.wait()
        if self._reading is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
        if self._writer is not None:
            self._writer.close()
        return code


PARENT_PID_ENV = "GATEWAY_WORKER_PARENT_PID"


class Supervisor:
    """What ``gateway serve`` runs with more than one worker: a ``lifecycle.Servable``."""

    def __init__(self, config: GatewayConfig, *, config_path: Path | None = None,
                 accept_empty_spool: bool = False, workers: int | Literal["auto"] | None = None) -> None:
        from gateway.app import Gateway

        self._override = workers
        self.config = self._with_override(config)
        self.config_path = config_path
        self.count = self.config.server.worker_count
        self.gateway = Gateway(self.config, role="supervisor", config_path=config_path,
                               accept_empty_spool=accept_empty_spool)
        self.gateway.intake = self
        self.sockets: dict[str, list[socket.socket]] = {}
        self.workers: list[WorkerProcess] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self.restarts = 0
        self._retired: dict[_Key, float] = {}
        self._wake_pending = False
        metrics = self.gateway.metrics
        self._running_gauge = Gauge("gateway_workers", "Worker processes running (gateway/workers.py)",
                                    registry=metrics.registry)
        self._running_gauge.set_function(lambda: float(sum(w.running for w in self.workers)))
        self._restart_counter = Counter("gateway_worker_restarts", "Worker processes started again after they died",
                                        registry=metrics.registry)
        metrics.merge = self._merge_metrics

    def _with_override(self, config: GatewayConfig) -> GatewayConfig:
        if self._override is None:
            return config
        return config.model_copy(update={"server": config.server.model_copy(update={"workers": self._override})})

    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- Servable ---------------------------------------------------------------------------------
    @property
    def port(self) -> int | None:
        return bound_port(self.sockets)

    async def start(self) -> None:
        self.sockets = bind_listeners(self.config)
        for key, socks in self.sockets.items():
            for sock in socks:
                log.info("listening", address=sock.getsockname(), key=key, workers=self.count)
        await self.gateway.start()
        self.workers = [WorkerProcess(i, self._queued) for i in range(self.count)]
        for worker in self.workers:
            await worker.spawn(self.config, self.sockets)
        await self._wait_ready(self.workers)
        self._tasks = [asyncio.create_task(self._supervise(w), name=f"worker-{w.index}-supervise")
                       for w in self.workers]
        log.info("workers_ready", workers=self.count, pids=[w.pid for w in self.workers], port=self.port)

    async def _wait_ready(self, workers: Sequence[WorkerProcess]) -> None:
        async with asyncio.timeout(START_TIMEOUT):
            for worker in workers:
                assert worker.proc is not None
                ready = asyncio.create_task(worker.ready.wait())
                died = asyncio.create_task(worker.proc.wait())
                await asyncio.wait((ready, died), return_when=asyncio.FIRST_COMPLETED)
                ready.cancel()
                died.cancel()
                if not worker.ready.is_set():
                    await worker.wait()
                    raise WorkerStartFailed(f"worker {worker.index} did not start: "
                                            f"{worker.failure or f'exit status {worker.proc.returncode}'}")

    async def _supervise(self, worker: WorkerProcess) -> None:
        delay = RESTART_DELAY
        while True:
            code = await worker.wait()
            if self.stopping():
                return
            if worker.metrics is not None:
                for key, value in counter_values(worker.metrics).items():
                    self._retired[key] = self._retired.get(key, 0.0) + value
            ran = time.monotonic() - worker.started_at
            delay = RESTART_DELAY if ran >= STABLE_AFTER else min(delay * 2, MAX_RESTART_DELAY)
            self.restarts += 1
            self._restart_counter.inc()
            log.error("worker_died", worker=worker.index, pid=worker.pid, returncode=code,
                      ran_seconds=round(ran, 1), restart_in=delay, failure=worker.failure)
            await asyncio.sleep(delay)
            if self.stopping():
                return
            replacement = WorkerProcess(worker.index, self._queued)
            self.workers[worker.index] = replacement
            worker = replacement
            try:
                await worker.spawn(self.config, self.sockets)
            except OSError as exc:
                log.error("worker_spawn_failed", worker=worker.index, error=str(exc))

    def _queued(self) -> None:
        """A worker spooled a message: the one delivery service looks at the spool now (once per
        loop iteration, however many workers said so)."""
        if self._wake_pending:
            return
        self._wake_pending = True
        asyncio.get_running_loop().call_soon(self._wake_delivery)

    def _wake_delivery(self) -> None:
        self._wake_pending = False
        if self.gateway.delivery is not None:
            self.gateway.delivery.poll_soon()

    async def stop(self, grace: float = 30.0) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        live = [w for w in self.workers if w.proc is not None]
        for worker in live:
            worker.signal(signal.SIGTERM)
        if live:
            waits = [asyncio.create_task(w.wait()) for w in live]
            _done, pending = await asyncio.wait(waits, timeout=grace + STOP_MARGIN)
            if pending:
                for worker in live:
                    if worker.running:
                        log.error("worker_kill", worker=worker.index, pid=worker.pid)
                        worker.signal(signal.SIGKILL)
                await asyncio.wait(pending)
        close_sockets(self.sockets)
        await self.gateway.stop(grace)
        log.info("workers_stopped", restarts=self.restarts)

    async def reload(self) -> bool:
        try:
            config = self._with_override(load_config(self.config_path))
        except ConfigError as exc:
            log.error("reload_refused", source=exc.source, errors=exc.errors)
            return False
        if config.server.worker_count != self.count:
            log.warning("reload_needs_restart_for", settings=["server.workers"])
        if not await self.gateway.reload(config):
            return False
        self.config = self.gateway.config
        payload = {"reload": json.loads(self.config.model_dump_json())}
        results = await asyncio.gather(*(w.request(payload, timeout=START_TIMEOUT)
                                         for w in self.workers if w.running), return_exceptions=True)
        failed = [r for r in results if not (isinstance(r, dict) and r.get("ok"))]
        if failed:
            log.error("worker_reload_failed", workers=len(failed), errors=[str(r) for r in failed])
        return not failed

    # -- Intake (what the supervisor's Gateway asks) ----------------------------------------------
    def problems(self) -> list[str]:
        if self.stopping():
            return ["draining"]
        missing = [w.index for w in self.workers if not (w.running and w.ready.is_set())]
        if not self.workers or len(missing) == len(self.workers):
            return ["listener not serving (no worker ready)"]
        return []  # a worker being restarted: the others take the mail meanwhile

    async def refresh_metrics(self) -> None:
        async def ask(worker: WorkerProcess) -> None:
            try:
                reply = await worker.request({"metrics": True})
            except (ConnectionError, TimeoutError) as exc:
                log.warning("worker_metrics_unavailable", worker=worker.index, error=str(exc))
                return
            worker.metrics = str(reply.get("text", "")).encode()

        await asyncio.gather(*(ask(w) for w in self.workers if w.running and w.ready.is_set()))

    def _merge_metrics(self, own: bytes) -> bytes:
        texts = [w.metrics for w in self.workers if w.metrics is not None]
        return merge_expositions(own, texts, dict(self._retired))


# -- the worker's side ------------------------------------------------------------------------------

def parse_listen(values: Sequence[str]) -> dict[str, list[socket.socket]]:
    """``--listen KEY=FD,FD`` arguments: the inherited sockets."""
    out: dict[str, list[socket.socket]] = {}
    for value in values:
        key, _, fds = value.partition("=")
        out[key] = [socket.socket(fileno=int(fd)) for fd in fds.split(",") if fd]
    return out


class _Channel:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._queued = False

    def send(self, message: Mapping[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write(json.dumps(message).encode() + b"\n")

    def queued(self) -> None:
        """The pipeline queued a message: one line per loop iteration tells the supervisor."""
        if not self._queued:
            self._queued = True
            asyncio.get_running_loop().call_soon(self._say_queued)

    def _say_queued(self) -> None:
        self._queued = False
        if not self.writer.is_closing():
            self.writer.write(b"q\n")


async def run_worker(index: int, control_fd: int, listen: Sequence[str]) -> int:
    """A worker's main: serve on the inherited sockets until SIGTERM or the supervisor is gone."""
    from gateway.app import Gateway
    from gateway.deliverer import die_with_parent, parent_gone
    from gateway.log import configure_logging

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: log.warning(
        "worker_sighup_ignored", worker=index, hint="send SIGHUP to the supervisor (gateway reload)"))
    die_with_parent()
    expected = os.environ.get(PARENT_PID_ENV, "")
    if parent_gone(int(expected) if expected.isdigit() else None):
        return 1
    sockets = parse_listen(listen)
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=control_fd), limit=_LINE_LIMIT)
    channel = _Channel(writer)
    first = await reader.readline()
    if not first:
        return 1
    config = GatewayConfig.model_validate(json.loads(first)["config"])
    configure_logging(config.log.format, config.log.level)
    import structlog

    structlog.contextvars.bind_contextvars(worker=index)
    gateway = Gateway(config, role="worker", sockets=sockets, notify=channel.queued)
    starting = asyncio.create_task(gateway.start(), name="worker-start")
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait((starting, stopping), return_when=asyncio.FIRST_COMPLETED)
    if not starting.done() or starting.exception() is not None:
        failure = "stopped while starting" if not starting.done() else str(starting.exception())
        starting.cancel()
        with contextlib.suppress(BaseException):
            await starting
        log.error("worker_start_failed", worker=index, error=failure)
        channel.send({"failed": failure})
        with contextlib.suppress(Exception):
            await writer.drain()
            await gateway.stop(grace=5.0)
        return 2
    stopping.cancel()
    channel.send({"ready": os.getpid()})
    commands = asyncio.create_task(_commands(reader, channel, gateway, stop), name="worker-commands")
    try:
        await stop.wait()
        log.info("worker_draining", worker=index, pid=os.getpid())
    finally:
        commands.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await commands
        await gateway.stop()
        writer.close()
    return 0


async def _commands(reader: asyncio.StreamReader, channel: _Channel, gateway: Any, stop: asyncio.Event) -> None:
    try:
        while line := await reader.readline():
            message = json.loads(line)
            number = message.get("id")
            if "reload" in message:
                ok = await gateway.reload(GatewayConfig.model_validate(message["reload"]))
                channel.send({"reply": number, "ok": ok})
            elif "metrics" in message:
                text = await asyncio.to_thread(gateway.metrics.render)
                channel.send({"reply": number, "text": text.decode()})
    except (ConnectionError, ValueError) as exc:
        log.error("worker_channel_failed", error=str(exc))
    # End of file: the supervisor is gone (whatever way it died); drain and exit.
    stop.set()
