"""The supervisor: starts, restarts, reloads and stops the workers; delivery and admin run here."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from prometheus_client import Counter, Gauge

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.log import get_logger
from gateway.workers.merged_metrics import MetricKey, counter_values, merge_expositions
from gateway.workers.process import WorkerProcess
from gateway.workers.sockets import bind_listeners, bound_port, close_sockets

log = get_logger("gateway.workers")

RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
# A worker that ran at least this long before it died is restarted after RESTART_DELAY again.
STABLE_AFTER = 10.0
START_TIMEOUT = 120.0
# A worker's grace to drain past the configured one: the DATA wait and the hang-up (gateway/server.py).
STOP_MARGIN = 15.0


class WorkerStartFailed(RuntimeError):
    """A worker process could not start (it says why); the supervisor does not start either."""


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
        self._retired: dict[MetricKey, float] = {}
        self._wake_pending = False
        metrics = self.gateway.metrics
        self._running_gauge = Gauge("gateway_workers", "Worker processes running (gateway/workers/)",
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
