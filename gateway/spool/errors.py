"""The spool's exception tree: what went wrong, the SMTP reply it means, and how to recover.

    SpoolError             storage cannot take or give the message now       452 4.3.1
    ├── SpoolFull          below the free-space reserve, at the size cap    452 4.3.1
    ├── SpoolCorrupt       the database failed its integrity check          451 4.3.0
    └── SpoolMissing       the spool file vanished or was truncated         (start-up only)

``gateway serve`` catches SpoolError at start-up and prints ``str(exc)`` (which includes the
recovery command, if any) as one line.
"""

from __future__ import annotations

from gateway import replies
from gateway.errors import GatewayError


class SpoolError(GatewayError):
    """The storage cannot take the message (disk full, read-only, closed spool)."""

    smtp_reply = replies.STORAGE_FAILED

    def __init__(self, message: str, *, recovery: str | None = None) -> None:
        self.recovery = recovery
        super().__init__(message + (f"; to recover: {recovery}" if recovery else ""))


class SpoolFull(SpoolError):
    """Free space is below ``[state] min_free_bytes`` (kept for delivery), or the size cap is reached."""


class SpoolCorrupt(SpoolError):
    """The spool database is damaged: nothing more is accepted into it until it is salvaged."""

    smtp_reply = replies.SPOOL_BROKEN


class SpoolMissing(SpoolError):
    """The state directory says a spool existed here, but its database is gone or empty."""
