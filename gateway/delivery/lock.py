"""One delivery service per spool: an flock on ``spool/delivery.lock``, which names its holder.

Two services on one spool would send the same messages. A new delivery process may start while
the previous one is still finishing its in-flight attempts (a restart, or an orphan told to stop
when its parent died); it then waits for the lock up to ``wait`` seconds instead of failing.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

LOCK_NAME = "delivery.lock"
_POLL = 0.1


class DeliveryAlreadyRunning(RuntimeError):
    """Another DeliveryService holds this spool's delivery lock."""


def lock_holder(directory: Path) -> int | None:
    """The pid written by the lock's current (or last) holder, if any."""
    try:
        text = (directory / LOCK_NAME).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def lock_spool(directory: Path, wait: float = 0.0) -> int:
    """Take the delivery lock (waiting up to ``wait`` seconds); returns the fd that holds it."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                holder = lock_holder(directory)
                raise DeliveryAlreadyRunning(
                    f"another delivery service is running on {directory}"
                    + (f" (pid {holder})" if holder else "")
                    + (f"; waited {wait:g} s for it to finish" if wait else "")) from None
            time.sleep(_POLL)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
