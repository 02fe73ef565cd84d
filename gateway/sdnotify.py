"""systemd's sd_notify protocol: one datagram to $NOTIFY_SOCKET (READY=1, RELOADING=1, STOPPING=1,
WATCHDOG=1).

The protocol is a single datagram on a Unix socket; a dependency for it would be larger than it.
Outside systemd (no NOTIFY_SOCKET) every call is a no-op, and so is a socket that went away:
telling systemd is never a reason for the gateway to fail.
"""

from __future__ import annotations

import os
import socket
import time


def notify(state: str) -> bool:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError:
        return False
    return True


def reloading() -> str:
    """RELOADING=1 with the CLOCK_MONOTONIC time systemd (Type=notify-reload) wants beside it."""
    return f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None when no watchdog is set for us."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (we were started by one that has it)
    return int(usec) / 1_000_000 / 2
