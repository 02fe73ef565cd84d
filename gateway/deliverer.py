"""Delivery in a process of its own: `gateway deliver`, supervised by `gateway serve`.

With ``[delivery] process = "separate"`` the serving process only accepts, checks and spools; a
child process runs the DeliveryService on the same spool directory (SQLite's locking and the
spool's delivery lock make that safe). The child gets the exact configuration as JSON on stdin,
so it needs no file of its own, and is restarted if it dies.

The child dies with its parent: the kernel sends it SIGTERM when the parent goes
(``PR_SET_PDEATHSIG``), and it also watches its stdin, which the parent keeps open and the kernel
closes when the parent dies however it dies. A child started while the previous one is still
finishing its in-flight attempts waits for the spool's delivery lock (``[delivery] lock_wait``)
instead of failing and being restarted over and over.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import threading
from typing import BinaryIO

from gateway.config import GatewayConfig
from gateway.delivery import DeliveryService
from gateway.log import get_logger
from gateway.routing import upstream_routes
from gateway.spool.configured import open_spool

log = get_logger("gateway.deliverer")

RESTART_DELAY = 1.0
PARENT_PID_ENV = "GATEWAY_DELIVERY_PARENT_PID"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> bool:
    """Ask the kernel for SIGTERM when the parent process ends (Linux); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def parent_gone(expected: int | None) -> bool:
    """The parent died before the death signal was armed: we have been re-parented already."""
    return expected is not None and os.getppid() != expected


def _watch_pipe(pipe: BinaryIO, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Block until the parent's end of the pipe closes (EOF), then stop."""
    with contextlib.suppress(OSError, ValueError):
        while pipe.read(65536):
            pass
    with contextlib.suppress(RuntimeError):  # the loop already closed: we are exiting anyway
        loop.call_soon_threadsafe(stop.set)


async def run_delivery(config: GatewayConfig, parent_pipe: BinaryIO | None = None) -> None:
    """The child's main: deliver until SIGTERM (or the parent is gone), then finish in-flight attempts."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if parent_pipe is not None:
        die_with_parent()
        expected = os.environ.get(PARENT_PID_ENV, "")
        if parent_gone(int(expected) if expected.isdigit() else None):
            log.error("delivery_process_orphaned_at_start", parent=expected)
            return
        threading.Thread(target=_watch_pipe, args=(parent_pipe, loop, stop), name="parent-watch",
                         daemon=True).start()
    spool = await open_spool(config)
    service = DeliveryService(spool, config.upstream, config.delivery, outbox=config.outbox_dir,
                              hostname=config.server.hostname, routes=upstream_routes(config))
    try:
        # A previous child may still be finishing (it got SIGTERM when its parent died).
        await service.start(lock_wait=config.delivery.lock_wait)
    except BaseException:
        await spool.close()
        raise
    try:
        await stop.wait()
        log.info("delivery_process_stopping", parent_pid=os.getppid())
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
        # stdin carries the configuration (one line of JSON) and then stays open: its end of file
        # tells the child that this process is gone.
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "deliver", "--config-stdin", "--watch-parent",
            stdin=asyncio.subprocess.PIPE, env={**os.environ, PARENT_PID_ENV: str(os.getpid())})
        assert proc.stdin is not None
        proc.stdin.write(self.config.model_dump_json().encode() + b"\n")
        await proc.stdin.drain()
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
            self._close_pipe()
            log.error("delivery_process_died", pid=self._proc.pid, returncode=code, restarts=self.restarts)
            # 75: another delivery process kept the lock for all of lock_wait; no point in hurrying.
            await asyncio.sleep(RESTART_DELAY if code != 75 else max(RESTART_DELAY, 10.0))
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
            self._close_pipe()
            return
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            log.error("delivery_process_kill", pid=proc.pid)
            proc.kill()
            await proc.wait()
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            self._proc.stdin.close()
