"""Run the gateway as a real process (`python -m gateway serve`) for process-level tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_gateway(config: Path, stderr: Path | None = None) -> subprocess.Popen[bytes]:
    """`gateway serve`; its log goes to the file ``stderr`` when given, else nowhere."""
    with contextlib.nullcontext(subprocess.DEVNULL) if stderr is None else stderr.open("wb") as err:
        return subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)],
                                cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=err)


async def wait_listening(port: int, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return
