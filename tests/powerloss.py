"""Mount tests/lazyfs.py for a test, and pull the plug on it (see tests/e2e/test_power_loss.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

LAZYFS = Path(__file__).resolve().parent / "lazyfs.py"


def unavailable() -> str | None:
    """Why a FUSE mount cannot be made here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if shutil.which("fusermount3") is None and shutil.which("fusermount") is None:
        return "fusermount3 not installed (Debian package fuse3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"mfusepy or libfuse3 missing: {exc}"
    return None


class LazyMount:
    """``backing`` seen through lazyfs at ``mountpoint``; ``power_cut()`` loses what was not fsync'd."""

    def __init__(self, backing: Path, mountpoint: Path) -> None:
        self.backing = backing
        self.mountpoint = mountpoint
        self.proc: subprocess.Popen[bytes] | None = None
        backing.mkdir(parents=True, exist_ok=True)
        mountpoint.mkdir(parents=True, exist_ok=True)

    def mount(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(LAZYFS), str(self.backing), str(self.mountpoint)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not os.path.ismount(self.mountpoint):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.unmount()
                pytest.skip(f"cannot mount a FUSE file system here: {err.strip()[-300:]}")
            time.sleep(0.05)

    def power_cut(self) -> None:
        """Everything held in lazyfs (written, not fsync'd) is lost; then mount again."""
        self.unmount(kill=True)
        self.mount()

    def unmount(self, kill: bool = False) -> None:
        if self.proc is not None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait()
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None
        tool = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount3"
        subprocess.run([tool, "-u", "-z", str(self.mountpoint)], capture_output=True, check=False)
        subprocess.run(["umount", "-l", str(self.mountpoint)], capture_output=True, check=False)
