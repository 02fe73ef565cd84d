"""The gateway as a service process: SIGHUP reload via `gateway reload`, SIGTERM shutdown."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.e2e.test_tenants import mail, send
from tests.procutil import free_port, start_gateway, wait_listening
from tests.sink import Sink


def write_config(path: Path, port: int, sink_port: int, shadow: bool) -> None:
    path.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\n'
        f'[state]\ndirectory = "{path.parent / "state"}"\n'
        f'[upstream]\nhost = "127.0.0.1"\nport = {sink_port}\ntls = "none"\n'
        '[log]\nformat = "json"\nlevel = "warning"\n'
        '[[tenants]]\nid = "shop"\nsender_domains = ["shop.example"]\n'
        f'shadow = {"true" if shadow else "false"}\n'
        '[tenants.senders]\nde = ["orders@shop.example"]\n')


async def test_reload_command_switches_a_running_gateway_to_enforce(tmp_path: Path, sink: Sink) -> None:
    port = free_port()
    config = tmp_path / "gateway.toml"
    write_config(config, port, sink.port, shadow=True)
    proc = start_gateway(config)
    try:
        await wait_listening(port)
        unregistered = mail("news@shop.example")
        assert (await send(port, "orders@shop.example", unregistered))[0] == 250  # shadow: relayed
        write_config(config, port, sink.port, shadow=False)
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "gateway", "reload", "--config", str(config)],
            cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        code = 250
        async with asyncio.timeout(10):
            while code == 250:  # the reload is asynchronous; poll until it took effect
                await asyncio.sleep(0.1)
                code, text = await send(port, "orders@shop.example", mail("news@shop.example", subject="n"))
        assert code == 550 and "sender-not-registered" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    assert not (tmp_path / "state" / "gateway.pid").exists()


async def test_reload_without_running_gateway_fails_clearly(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    write_config(config, free_port(), 25, shadow=False)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "gateway", "reload", "--config", str(config)],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "no running gateway" in done.stderr
