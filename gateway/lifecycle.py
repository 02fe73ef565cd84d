"""The serving process around a ``Gateway``: its PID file, signals, and what it tells systemd.

- The PID file in the state folder is locked (``flock``) for as long as the gateway serves: a second
  gateway on the same state folder is refused, and ``gateway reload`` signals only a PID whose file
  is locked by a running gateway, never whatever process got the number of a dead one.
- SIGTERM/SIGINT are handled from the first moment, also while starting (as PID 1 in a container
  the kernel ignores a signal that has no handler): a stop during start-up abandons the start,
  closes what was opened, and exits.
- systemd: READY=1 once serving; RELOADING=1 ... READY=1 around a reload; STOPPING=1 on the way
  out; WATCHDOG=1 from the event loop at half of ``WatchdogSec`` when the unit sets one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import os
import signal
from pathlib import Path
from typing import Protocol

from gateway import sdnotify
from gateway.log import get_logger

log = get_logger("gateway.lifecycle")


class _Config(Protocol):
    @property
    def state_dir(self) -> Path: ...


class Servable(Protocol):
    """What serving needs of a gateway (gateway.app.Gateway): this module must not import it back."""

    @property
    def config(self) -> _Config: ...

    async def start(self) -> None: ...

    async def stop(self, grace: float = ...) -> None: ...

    async def reload(self) -> bool: ...

PID_FILE = "gateway.pid"


class AlreadyServing(Exception):
    """Another gateway holds this state folder's PID file lock."""


class NotServing(Exception):
    """No running gateway behind the PID file: missing, stale, or some other program's PID."""


class PidLock:
    """The state folder's PID file, locked while this process serves."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / PID_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise AlreadyServing(f"another gateway (pid {holder or '?'}) is serving from "
                                 f"{self.path.parent}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # Unlink first, while still holding the lock: a reader never sees an unlocked file of ours.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None


def running_gateway(state_dir: Path) -> int:
    """The PID of the gateway serving from ``state_dir``; ``NotServing`` (saying why) otherwise."""
    path = state_dir / PID_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotServing(f"no pid file {path}: no gateway is serving from {state_dir}") from None
    try:
        text = os.read(fd, 32).decode("ascii", "replace").strip()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # locked: a gateway serves
        else:
            raise NotServing(f"stale pid file {path} (pid {text or '?'} is not a serving gateway); "
                             f"nothing was signalled")
    finally:
        os.close(fd)
    if not text.isdigit():
        raise NotServing(f"pid file {path} holds no pid ({text!r})")
    pid = int(text)
    if not is_gateway_process(pid):
        raise NotServing(f"pid {pid} from {path} is not a gateway serve process; nothing was signalled")
    return pid


def is_gateway_process(pid: int) -> bool:
    """Whether ``pid`` runs ``gateway serve`` (console script or ``python -m gateway``)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode("utf-8", "replace") for a in argv if a]
    for i, arg in enumerate(args):
        is_script = os.path.basename(arg) == "gateway"
        is_module = arg == "gateway" and i > 0 and args[i - 1] == "-m"
        if (is_script or is_module) and "serve" in args[i + 1:]:
            return True
    return False


async def _watchdog(interval: float) -> None:
    # From the event loop: a loop that stops turning stops the pings, and systemd restarts us.
    while True:
        sdnotify.notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def settle_heap() -> None:
    """What is alive once the gateway serves (rule packs, engines, configuration, tables) lives as
    long as the process: it is moved out of the cycle collector's sight (``gc.freeze``), so a full
    collection no longer walks it every time (~0.1 s a pass with all packs loaded: a stall of
    every session). Called again after a reload: what the old configuration left is collected
    first (``gc.unfreeze``), then the new set frozen."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


async def serve(gateway: Servable) -> None:
    """Start ``gateway``, serve until SIGTERM/SIGINT, reload on SIGHUP, stop cleanly."""
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    # A SIGHUP while starting would end the process (default action): remember it, reload after.
    reload_pending = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, reload_pending.set)
    lock = PidLock(gateway.config.state_dir)
    gateway.config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock.acquire()
    log.info("gateway_starting", pid=os.getpid(), state=str(gateway.config.state_dir))
    try:
        starting = asyncio.create_task(gateway.start(), name="gateway-start")
        stopping = asyncio.create_task(stop_requested.wait(), name="stop-requested")
        await asyncio.wait((starting, stopping), return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            log.info("stop_during_startup")
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
            await _stop_quietly(gateway)
            return
        stopping.cancel()
        if starting.exception() is not None:
            await _stop_quietly(gateway)
            starting.result()  # raises: the caller turns it into one line and exit 2
        settle_heap()
        await _serving(gateway, stop_requested, reload_pending.is_set())
    finally:
        lock.release()


async def _stop_quietly(gateway: Servable) -> None:
    """Close whatever a failed or abandoned start opened; its own failure adds nothing."""
    with contextlib.suppress(Exception):
        await gateway.stop(grace=5.0)


async def _serving(gateway: Servable, stop_requested: asyncio.Event, reload_now: bool) -> None:
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        sdnotify.notify(sdnotify.reloading())
        try:
            if await gateway.reload():
                settle_heap()
        finally:
            sdnotify.notify("READY=1")

    def on_hup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    watchdog: asyncio.Task[None] | None = None
    interval = sdnotify.watchdog_interval()
    if interval is not None:
        watchdog = asyncio.create_task(_watchdog(interval), name="watchdog")
    sdnotify.notify("READY=1")
    if reload_now:
        on_hup()
    try:
        await stop_requested.wait()
    finally:
        sdnotify.notify("STOPPING=1")
        loop.remove_signal_handler(signal.SIGHUP)
        await gateway.stop()
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
