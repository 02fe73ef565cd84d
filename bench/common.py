"""Shared pieces of the benchmarks: a counting sink process, gateway processes, a raw SMTP client.

Every benchmark runs real processes over loopback: the gateway as ``python -m gateway serve`` with a
config written to a temporary folder, and a bare aiosmtpd sink that counts what it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent

SINK_CODE = r"""
import asyncio, sys
from aiosmtpd.smtp import SMTP
class H:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        H.count += 1
        envelope.content = envelope.original_content = None  # keep the sink itself small
        return "250 2.0.0 OK"
async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: SMTP(H(), hostname="sink", enable_SMTPUTF8=True,
                                                data_size_limit=None), "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    async def report(reader, writer):
        writer.write(f"{H.count}\n".encode()); await writer.drain(); writer.close()
    ctl = await asyncio.start_server(report, "127.0.0.1", 0)
    print(ctl.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def machine() -> str:
    """One line naming the machine a figure came from."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, "
            f"Python {sys.version.split()[0]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SinkProcess:
    """A bare aiosmtpd sink in its own process; ``count()`` asks how many messages it took."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SINK_CODE], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.ctl_port = int(self.proc.stdout.readline())

    async def count(self) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.ctl_port)
        line = await reader.readline()
        writer.close()
        return int(line)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def gateway_config(directory: Path, port: int, sink_port: int, *, policy: bool = True,
                   reuse_port: bool = False, extra: str = "", database: str | None = None,
                   log_level: str = "warning", admin: str = "127.0.0.1:0", admin_token: str | None = None) -> Path:
    """A gateway config for a benchmark; ``extra`` goes into ``[server]``. The admin server listens
    on ``admin`` (an ephemeral port unless given: another gateway on the machine may hold 8025)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "gateway.toml"
    config.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\nmax_sessions = 1000\n'
        f'reuse_port = {"true" if reuse_port else "false"}\n{extra}'
        f'[state]\ndirectory = "{directory}/state"\n'
        + (f'database = "{database}"\n' if database else "") +
        f'[upstream]\nhost = "127.0.0.1"\nport = {sink_port}\ntls = "none"\npool_size = 4\n'
        f'[policy]\nenabled = {"true" if policy else "false"}\n'
        f'[log]\nformat = "json"\nlevel = "{log_level}"\n'
        f'[admin]\nlisten = "{admin}"\n' + (f'token = "{admin_token}"\n' if admin_token else ""))
    return config


def start_gateway(config: Path, env: dict[str, str] | None = None,
                  stderr: int | IO[bytes] = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """``gateway serve`` in its own process; its log (stderr) is dropped unless ``stderr`` says where."""
    return subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)],
                            cwd=REPO, stderr=stderr, env={**os.environ, **(env or {})})


async def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident set size (VmRSS) or its peak (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Reply:
    code: int
    text: str


class RawClient:
    """A minimal SMTP client that streams a shared body without copying it (for large messages)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> tuple[RawClient, Reply]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        return client, await client.reply()

    async def reply(self) -> Reply:
        lines = []
        while True:
            raw = await self.reader.readline()
            if not raw:
                return Reply(0, "connection closed")
            line = raw.decode("utf-8", "replace").rstrip()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return Reply(int(line[:3]), "\n".join(lines))

    async def cmd(self, line: str) -> Reply:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()
        return await self.reply()

    async def send_message(self, sender: str, recipients: Sequence[str], body: bytes | memoryview,
                           *, declare_size: bool = True, chunk: int = 65536) -> Reply:
        """MAIL/RCPT/DATA with ``body`` (already dot-stuffed, CRLF, without the final dot)."""
        size = f" SIZE={len(body)}" if declare_size else ""
        r = await self.cmd(f"MAIL FROM:<{sender}>{size}")
        if r.code != 250:
            return r
        for rcpt in recipients:
            r = await self.cmd(f"RCPT TO:<{rcpt}>")
            if r.code != 250:
                await self.cmd("RSET")
                return r
        r = await self.cmd("DATA")
        if r.code != 354:
            return r
        view = memoryview(body)
        for start in range(0, len(view), chunk):
            self.writer.write(view[start:start + chunk])
            await self.writer.drain()
        self.writer.write(b".\r\n")
        await self.writer.drain()
        return await self.reply()

    async def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.cmd("QUIT"), 5)
        with contextlib.suppress(OSError):
            self.writer.close()
