"""The separate delivery process dies with its parent, and a new one takes the lock over cleanly.

Issue 16.7: SIGKILLing only the serving process left its delivery child running (old config,
holding delivery.lock), and the next gateway's child crash-looped on DeliveryAlreadyRunning.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.delivery import DeliveryAlreadyRunning, DeliveryService
from gateway.delivery.lock import LOCK_NAME, lock_holder
from gateway.spool import Spool
from tests.procutil import free_port, start_gateway, wait_listening
from tests.sink import Sink
from tests.test_delivery import fast_delivery, upstream_for

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as dead)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


async def until(predicate: object, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def test_delivery_child_dies_when_its_parent_is_killed(tmp_path: Path, sink: Sink) -> None:
    port = free_port()
    state = tmp_path / "state"
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\n[state]\ndirectory = "{state}"\n'
        f'[upstream]\nhost = "127.0.0.1"\nport = {sink.port}\ntls = "none"\n'
        '[policy]\nenabled = false\n[delivery]\nprocess = "separate"\npoll_interval = 0.1\n'
        '[admin]\nlisten = "127.0.0.1:0"\n[log]\nformat = "json"\nlevel = "error"\n')
    parent = start_gateway(config)
    try:
        await wait_listening(port)
        await until(lambda: (lock_holder(state / "spool") or parent.pid) != parent.pid, 20)
        child = lock_holder(state / "spool")
        assert child is not None and alive(child)
        parent.kill()
        parent.wait()
        await until(lambda: not alive(child), 15)  # used to live on, delivering with the old config
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_lock(path: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Another process holding the delivery lock: a previous delivery child still finishing."""
    return subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path), str(seconds)],
                            stdout=subprocess.PIPE)


async def test_a_new_delivery_service_waits_for_the_previous_one_to_finish(tmp_path: Path, sink: Sink) -> None:
    spool = await Spool.open(tmp_path / "spool")
    previous = hold_lock(tmp_path / "spool" / LOCK_NAME, 1.5)
    try:
        assert previous.stdout is not None
        assert previous.stdout.readline().strip() == b"locked"
        impatient = DeliveryService(spool, upstream_for(sink), fast_delivery(), outbox=tmp_path / "o",
                                    hostname="gw.test")
        with pytest.raises(DeliveryAlreadyRunning):
            await impatient.start()
        service = DeliveryService(spool, upstream_for(sink), fast_delivery(), outbox=tmp_path / "o",
                                  hostname="gw.test")
        started = time.monotonic()
        await service.start(lock_wait=30.0)  # used to fail at once, and the supervisor looped
        try:
            assert time.monotonic() - started >= 0.5  # it waited for the holder's 1.5 s
            assert lock_holder(tmp_path / "spool") == os.getpid()
        finally:
            await service.stop()
    finally:
        if previous.poll() is None:
            previous.send_signal(signal.SIGKILL)
        previous.wait()
        if previous.stdout is not None:
            previous.stdout.close()
        await spool.close()
