"""Delivery in a process of its own: `gateway deliver`, supervised by `gateway serve`.

With ``[delivery] process = "separate"`` the serving process only accepts, checks and spools; a
child process runs the DeliveryService on the same spool directory (SQLite's locking and the
spool's delivery lock make that safe). The child gets the exact configuration as JSON on stdin,
so it needs no file of its own, and is restarted if it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from gateway.config import GatewayConfig
from gateway.delivery import DeliveryService
from gateway.log import get_logger
from gateway.routing import upstream_routes
from gateway.spool import Spool

log = get_logger("gateway.deliverer")

RESTART_DELAY = 1.0


async def run_delivery(config: GatewayConfig) -> None:
    """The child's main: deliver until SIGTERM, then finish in-flight attempts."""
    spool = await Spool.open(config.state_dir / "spool")
    service = DeliveryService(spool, config.upstream, config.delivery, outbox=config.outbox_dir,
                              hostname=config.server.hostname, routes=upstream_routes(config))
    await service.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await service.stop()
        await spool.close()


class DeliveryProcess:
    """Starts, watches and stops the `gateway deliver` child."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self._proc: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self.restarts = 0

    async def _spawn(self) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "deliver", "--config-stdin",
            stdin=asyncio.subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write(self.config.model_dump_json().encode())
        proc.stdin.close()
        log.info("delivery_process_started", pid=proc.pid)
        return proc

    async def start(self) -> None:
        self._stopping = False
        self._proc = await self._spawn()
        self._watch = asyncio.create_task(self._supervise())

    async def _supervise(self) -> None:
        while True:
            assert self._proc is not None
            code = await self._proc.wait()
            if self.stopping:
                return
            self.restarts += 1
            log.error("delivery_process_died", pid=self._proc.pid, returncode=code, restarts=self.restarts)
            await asyncio.sleep(RESTART_DELAY)
            self._proc = await self._spawn()

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def restart(self, config: GatewayConfig) -> None:
        """After a reload: a graceful stop of the old child, then one with the new config."""
        await self.stop()
        self.config = config
        await self.start()

    async def stop(self, timeout: float = 30.0) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            log.error("delivery_process_kill", pid=proc.pid)
            proc.kill()
            await proc.wait()
