"""The gateway as a service process: SIGHUP reload via `gateway reload`, SIGTERM shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT
from tests.e2e.test_tenants import mail, send
from tests.procutil import free_port, start_gateway, wait_listening
from tests.sink import Sink


def write_config(path: Path, port: int, sink_port: int, shadow: bool, level: str = "warning") -> None:
    path.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\n'
        f'[state]\ndirectory = "{path.parent / "state"}"\n'
        f'[upstream]\nhost = "127.0.0.1"\nport = {sink_port}\ntls = "none"\n'
        f'[log]\nformat = "json"\nlevel = "{level}"\n'
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


async def test_reload_applies_a_new_log_level(tmp_path: Path, sink: Sink) -> None:
    """An admin raises the level to `info` to see decisions, and SIGHUP is enough (no restart)."""
    port = free_port()
    config = tmp_path / "gateway.toml"
    log_path = tmp_path / "stderr.log"
    write_config(config, port, sink.port, shadow=False, level="warning")
    proc = start_gateway(config, stderr=log_path)
    try:
        await wait_listening(port)
        assert (await send(port, "orders@shop.example", mail("orders@shop.example", subject="a")))[0] == 250
        write_config(config, port, sink.port, shadow=False, level="info")
        proc.send_signal(signal.SIGHUP)
        async with asyncio.timeout(20):
            while '"reloaded"' not in log_path.read_text():
                await asyncio.sleep(0.1)
        assert (await send(port, "orders@shop.example", mail("orders@shop.example", subject="b")))[0] == 250
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    events = [json.loads(line) for line in log_path.read_text().splitlines()]
    decisions = [e for e in events if e.get("event") == "decision"]
    assert len(decisions) == 1, decisions  # the second message only: the first was at warning
    assert any(e.get("event") == "reloaded" for e in events)


async def test_reload_without_running_gateway_fails_clearly(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    write_config(config, free_port(), 25, shadow=False)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "gateway", "reload", "--config", str(config)],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "no running gateway" in done.stderr


async def test_delivery_in_a_separate_process(gateway_factory: Any, sink: Sink) -> None:
    gw = await gateway_factory(delivery={"process": "separate", "poll_interval": 0.1})
    assert gw.delivery is None and gw.delivery_process is not None
    child = gw.delivery_process.pid
    assert child is not None and child != os.getpid()
    port = gw.listener.port
    for n in range(5):
        assert (await send(port, "seller@shop.example", mail("seller@shop.example", to="b@example.com",
                                                                subject=f"m{n}"), to="b@example.com"))[0] == 250
    received = await sink.handler.wait_for(5, timeout=20)
    assert len(received) == 5
    # A dead delivery process is restarted and picks up what waits in the spool.
    os.kill(child, signal.SIGKILL)
    await asyncio.sleep(0.1)
    assert (await send(port, "seller@shop.example", mail("seller@shop.example", to="b@example.com",
                                                            subject="after"), to="b@example.com"))[0] == 250
    assert len(await sink.handler.wait_for(6, timeout=20)) >= 6
    assert gw.delivery_process.restarts == 1
