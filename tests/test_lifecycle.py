"""The serving process (gateway/lifecycle.py) as systemd and an admin see it: a real `gateway serve`.

systemd notifications (READY, RELOADING + MONOTONIC_USEC, READY, WATCHDOG, STOPPING) on a real
datagram socket; the locked PID file (a second gateway on the same state folder is refused;
`gateway reload` never signals a PID that is not a serving gateway); SIGTERM during start-up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO_ROOT


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[server]\nlisten = "127.0.0.1:0"\n[state]\ndirectory = "{tmp_path / "state"}"\n'
                      '[policy]\nenabled = false\n[admin]\nenabled = false\n'
                      f'[log]\nformat = "json"\nlevel = "info"\n{extra}')
    return config


def serve(config: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)], cwd=REPO_ROOT,
                            env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_for_event(proc: subprocess.Popen[str], name: str, timeout: float = 60) -> list[dict[str, object]]:
    """Read the JSON log until ``name`` appears; every line must be JSON."""
    assert proc.stderr is not None
    seen: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(json.loads(line))
        if seen[-1]["event"] == name:
            return seen
    raise AssertionError(f"no {name} event; saw {seen}")


def gateway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


def stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr is not None:
            proc.stderr.close()


def test_systemd_hears_ready_reloading_watchdog_and_stopping(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(30)

        def next_state(*, watchdog: bool = False) -> str:
            while True:
                message = sock.recv(256).decode()
                if message != "WATCHDOG=1" or watchdog:
                    return message

        # WatchdogSec=1: the gateway pings every 0.5 s from its event loop.
        proc = serve(write_config(tmp_path), NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="1000000")
        try:
            assert next_state() == "READY=1"
            assert next_state(watchdog=True) == "WATCHDOG=1"
            assert next_state(watchdog=True) == "WATCHDOG=1"
            proc.send_signal(signal.SIGHUP)
            reloading = next_state().split("\n")
            assert reloading[0] == "RELOADING=1"
            assert reloading[1].startswith("MONOTONIC_USEC=") and int(reloading[1].split("=")[1]) > 0
            assert next_state() == "READY=1"
            proc.send_signal(signal.SIGTERM)
            assert next_state() == "STOPPING=1"
            assert proc.wait(timeout=60) == 0
        finally:
            stop(proc)


def test_watchdog_meant_for_another_process_is_ignored(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(30)
        proc = serve(write_config(tmp_path), NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="200000",
                     WATCHDOG_PID="1")
        try:
            assert sock.recv(256) == b"READY=1"
            proc.send_signal(signal.SIGTERM)
            assert sock.recv(256) == b"STOPPING=1"  # no WATCHDOG=1 in between
        finally:
            assert stop(proc) == 0


def test_pid_file_is_locked_and_reload_checks_the_process(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    first = serve(config)
    try:
        wait_for_event(first, "gateway_started")
        pid_file = tmp_path / "state" / "gateway.pid"
        assert pid_file.read_text().strip() == str(first.pid)
        # A second gateway on the same state folder: refused in one line, the first untouched.
        second = gateway("serve", "--config", str(config))
        assert second.returncode == 2
        refused = [json.loads(line) for line in second.stderr.splitlines()]
        assert [e["key"] for e in refused if e["event"] == "startup_refused"] == ["state.directory"]
        assert pid_file.read_text().strip() == str(first.pid)
        done = gateway("reload", "--config", str(config))
        assert done.returncode == 0, done.stderr
        wait_for_event(first, "reloaded")
    finally:
        assert stop(first) == 0
    assert not pid_file.exists()


def test_reload_never_signals_a_stale_pid(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "state").mkdir()
    # The pid file of a gateway that died, whose number now belongs to an unrelated process.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (tmp_path / "state" / "gateway.pid").write_text(f"{bystander.pid}\n")
        done = gateway("reload", "--config", str(config))
        assert done.returncode == 1
        assert "stale pid file" in done.stderr and "nothing was signalled" in done.stderr
        time.sleep(0.5)
        assert bystander.poll() is None  # still alive: no SIGHUP was sent
    finally:
        bystander.kill()
        bystander.wait()


def test_sigterm_during_startup_ends_the_start(tmp_path: Path) -> None:
    """As PID 1 in a container, SIGTERM without a handler is ignored: the gateway must handle it
    while still starting. The start is held up by a database that accepts and never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        config = write_config(tmp_path, "").read_text().replace(
            "[state]\n", f'[state]\ndatabase = "postgresql://nobody@127.0.0.1:{port}/gateway"\n')
        (tmp_path / "gateway.toml").write_text(config)
        proc = serve(tmp_path / "gateway.toml")
        try:
            wait_for_event(proc, "gateway_starting")
            time.sleep(0.5)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            events = wait_for_event(proc, "stop_during_startup", timeout=30)
            assert proc.wait(timeout=30) == 0
            assert time.monotonic() - started < 8  # well before the database's 10 s connect timeout
            assert not any(e["event"] == "gateway_started" for e in events)
        finally:
            stop(proc)


async def test_reload_says_which_changes_need_a_restart(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    from gateway.app import Gateway
    from gateway.config import load_config

    path = write_config(tmp_path)
    gw = Gateway(load_config(path), policy=None, config_path=path)
    await gw.start()
    try:
        path.write_text(path.read_text().replace("[admin]\nenabled = false\n",
                                                 '[admin]\nenabled = false\nlisten = "127.0.0.1:0"\n'))
        text = path.read_text().replace('listen = "127.0.0.1:0"\n[state]', 'listen = "127.0.0.1:2599"\n[state]', 1)
        path.write_text(text)
        with capture_logs() as logs:
            assert await gw.reload()
        reloaded = next(e for e in logs if e["event"] == "reloaded")
        assert reloaded["needs_restart"] == ["listen", "admin"]
    finally:
        await gw.stop(grace=2.0)


def test_sighup_during_startup_does_not_kill_the_gateway(tmp_path: Path) -> None:
    """SIGHUP's default action ends a process: while starting it is remembered instead. Here the
    start then fails on its own (a database that never answers): exit 2 in one line, not death
    by SIGHUP."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        config = write_config(tmp_path).read_text().replace(
            "[state]\n", f'[state]\ndatabase = "postgresql://nobody@127.0.0.1:{port}/gateway"\n')
        (tmp_path / "gateway.toml").write_text(config)
        proc = serve(tmp_path / "gateway.toml")
        try:
            wait_for_event(proc, "gateway_starting")
            proc.send_signal(signal.SIGHUP)
            events = wait_for_event(proc, "startup_refused", timeout=60)
            assert events[-1]["key"] == "state.database"
            assert proc.wait(timeout=30) == 2
        finally:
            stop(proc)
