"""Room on the state file system: delivery must never be stuck for want of a few pages.

Recording a delivery result writes a little (recipient states, a DSN now and then). If new mail
may fill the disk, delivery stops for good on a full disk: each result waits for space that each
new message takes first. So, like Postfix's ``queue_minfree``:

- new mail is refused (452 4.3.1) while free space is below ``[state] min_free_bytes``, or while
  the spool is within a reserve of its size cap; results are always written;
- everything committed sits in the WAL until a checkpoint copies it into the database file, and
  that copy needs room of its own. So the WAL is checkpointed after at most a quarter of the
  reserve (SQLite's 1000 pages, 4 MB, when the reserve is 16 MB or more), and on "disk full" the
  writer first checkpoints and truncates it;
- a *ballast* file of up to 8 MiB is kept beside the spool. When the disk fills anyway (another
  program's logs, a spool from before this reserve existed), the ballast is deleted at the first
  "disk full" on a result or at start-up, which gives delivery room to drain the spool. It is laid
  down again once there is room.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from gateway.log import get_logger
from gateway.spool.errors import SpoolFull

log = get_logger("gateway.spool")

BALLAST_NAME = "reserve.ballast"
BALLAST_MAX = 8 * 1024 * 1024
RESTORE_EVERY = 30.0  # seconds between attempts to lay the ballast down again


def wal_checkpoint_pages(min_free_bytes: int, page_size: int) -> int:
    """WAL pages between automatic checkpoints: a quarter of the reserve, within 64..1000."""
    return max(64, min(1000, min_free_bytes // (4 * page_size)))


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def ballast_size(min_free_bytes: int) -> int:
    return min(BALLAST_MAX, min_free_bytes // 2)


def release_ballast(directory: Path) -> bool:
    """Delete the ballast file (if any), freeing its space for delivery. True if it was there."""
    path = directory / BALLAST_NAME
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return False
    log.warning("spool.ballast_released", directory=str(directory), freed_bytes=size,
                free_bytes=free_bytes(directory))
    return True


def prepare_for_start(directory: Path, min_free_bytes: int) -> None:
    """Before anything writes at start-up: on a (nearly) full disk, free the ballast, so the
    gateway can open its state and drain the spool instead of failing with "disk is full"."""
    if directory.is_dir() and free_bytes(directory) < max(ballast_size(min_free_bytes), 1024 * 1024):
        release_ballast(directory)


class SpaceGuard:
    """Asked by the spool's writer before each batch of puts; runs on the writer thread."""

    def __init__(self, directory: Path, min_free_bytes: int, max_size_bytes: int | None) -> None:
        self.directory = directory
        self.min_free_bytes = min_free_bytes
        self.max_size_bytes = max_size_bytes
        self._ballast = ballast_size(min_free_bytes)
        self._next_restore = 0.0

    def refusal(self, conn: sqlite3.Connection) -> SpoolFull | None:
        """Why new mail cannot be taken now, or None."""
        free = free_bytes(self.directory)
        if free < self.min_free_bytes:
            return SpoolFull(f"only {free} bytes free on the state file system, below [state] "
                             f"min_free_bytes = {self.min_free_bytes}, which is kept for delivery")
        if self.max_size_bytes is not None:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            used = (conn.execute("PRAGMA page_count").fetchone()[0]
                    - conn.execute("PRAGMA freelist_count").fetchone()[0]) * page_size
            # A tenth of the cap (at most min_free_bytes) stays for results and DSNs.
            reserve = min(self.max_size_bytes // 10, self.min_free_bytes or self.max_size_bytes // 10)
            if used > self.max_size_bytes - reserve:
                return SpoolFull(f"the spool holds {used} bytes, at its cap ([state] spool_max_bytes = "
                                 f"{self.max_size_bytes}) less what is kept for delivery")
        self._maybe_restore(free)
        return None

    def on_disk_full(self) -> bool:
        """A write failed for lack of space: free the ballast if the disk really is the problem."""
        try:
            if free_bytes(self.directory) >= self._ballast + 1024 * 1024:
                return False  # room on the disk: it is the size cap, which the ballast cannot help
            self._next_restore = time.monotonic() + RESTORE_EVERY
            return release_ballast(self.directory)
        except OSError as exc:  # the directory itself is unreachable: no room to be found there
            log.error("spool.space_unknown", directory=str(self.directory), error=str(exc))
            return False

    def _maybe_restore(self, free: int) -> None:
        if not self._ballast or time.monotonic() < self._next_restore:
            return
        self._next_restore = time.monotonic() + RESTORE_EVERY
        path = self.directory / BALLAST_NAME
        if path.exists() or free < self.min_free_bytes + self._ballast:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        try:
            os.posix_fallocate(fd, 0, self._ballast)  # real blocks, not a sparse file
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            return
        os.close(fd)
