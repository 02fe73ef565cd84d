"""One worker process as the supervisor sees it: its child process and control channel."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.config import GatewayConfig
from gateway.log import get_logger

log = get_logger("gateway.workers")

REQUEST_TIMEOUT = 10.0
LINE_LIMIT = 64 * 1024 * 1024
PARENT_PID_ENV = "GATEWAY_WORKER_PARENT_PID"


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
        reader, self._writer = await asyncio.open_unix_connection(sock=parent, limit=LINE_LIMIT)
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
