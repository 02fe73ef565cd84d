"""A worker's own side: serve on the inherited sockets, answer the supervisor's requests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.config import GatewayConfig
from gateway.lifecycle import settle_heap
from gateway.log import get_logger
from gateway.workers.process import LINE_LIMIT, PARENT_PID_ENV
from gateway.workers.sockets import parse_listen

log = get_logger("gateway.workers")


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
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=control_fd), limit=LINE_LIMIT)
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
    settle_heap()
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
                if ok:
                    settle_heap()
                channel.send({"reply": number, "ok": ok})
            elif "metrics" in message:
                text = await asyncio.to_thread(gateway.metrics.render)
                channel.send({"reply": number, "text": text.decode()})
    except (ConnectionError, ValueError) as exc:
        log.error("worker_channel_failed", error=str(exc))
    # End of file: the supervisor is gone (whatever way it died); drain and exit.
    stop.set()
