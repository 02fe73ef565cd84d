"""Entry point of bounce parsing.

``parse_bounce`` is pure and CPU-only: the server calls it in a worker thread, the ``bounce`` command
calls it per file. It never raises; unreadable input becomes a ``not-bounce`` report. The result
types live in ``gateway.bounces.report`` and are re-exported here for callers.
"""

from __future__ import annotations

import gateway.bounces.analyse as analyse
from gateway.bounces.report import BouncedRecipient, BounceReport, Kind
from gateway.log import get_logger
from gateway.message.report import ReportContent

__all__ = ["BounceReport", "BouncedRecipient", "Kind", "parse_bounce", "parse_bounce_read"]

_log = get_logger(__name__)


def parse_bounce(raw: bytes) -> BounceReport:
    """Parse one message (bytes as received). Never raises."""
    return parse_bounce_read(raw)[0]


def parse_bounce_read(raw: bytes) -> tuple[BounceReport, ReportContent | None]:
    """``parse_bounce``, and the message as the parser read it (None when the parser failed), so that
    a caller reads what else it needs (sender, Date, the notice's text) without a second parse."""
    try:
        return analyse.analyse_read(raw)
    except Exception as exc:  # a parser bug must not lose the message or crash the caller
        _log.warning("bounce-parse-failed", error=repr(exc))
        return BounceReport(kind="not-bounce"), None
