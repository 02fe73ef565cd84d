"""Structured logging: JSON when not on a terminal (production), pretty on a terminal.

Our own events come through structlog. Libraries log through the standard ``logging`` module
(aiosmtpd's "mail.log", aiohttp's access log, asyncio's "Task exception was never retrieved"):
the root logger's one handler renders their records with the same processors, so every line on
stderr is one JSON object in production, whoever wrote it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}
# Marks the handler we install, so configuring again replaces it instead of adding a second one.
_HANDLER_NAME = "gateway-structlog"


class _CurrentStderr:
    """``sys.stderr`` as it is at each write, not as it was when logging was configured: a
    command run in-process by a test (whose captured stream is closed afterwards) must not leave
    every later log line writing into a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(fmt: Literal["auto", "json", "console"] = "auto", level: str = "info") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (structlog.processors.JSONRenderer() if use_json
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name,
                           structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    )
    handler = logging.StreamHandler(_CurrentStderr())
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME or _is_plain_stderr(h)]:
        root.removeHandler(old)
    root.addHandler(handler)
    # Libraries' own chatter stays at warnings unless the admin asks for debug.
    root.setLevel(logging.DEBUG if level == "debug" else max(logging.WARNING, _LEVELS[level]))
    # aiosmtpd logs every session through the stdlib "mail.log" logger; keep it to warnings.
    logging.getLogger("mail.log").setLevel(logging.WARNING)


def _is_plain_stderr(handler: logging.Handler) -> bool:
    """A handler logging.basicConfig put there (ours before, or a library's): plain text lines."""
    return (type(handler) is logging.StreamHandler and getattr(handler, "stream", None) in (sys.stderr, sys.__stderr__)
            and not isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
