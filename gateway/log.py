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
from structlog._config import _CONFIG as _STRUCTLOG_CONFIG  # the live configuration (see _Logger)

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
        # WriteLogger writes each line with its newline in one call (PrintLogger's print() writes
        # them separately): prefork workers share the supervisor's stderr, and two workers' lines
        # must never interleave into one.
        logger_factory=structlog.WriteLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
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


class _Logger:
    """``structlog.get_logger(name)``, assembled once per structlog configuration.

    structlog's lazy proxy assembles a new bound logger (context, processors, wrapper) on every
    call unless ``cache_logger_on_first_use`` is set, and with that set a logger never sees a later
    ``configure`` (tests' ``capture_logs``, a second ``configure_logging``). This one keeps the
    assembled logger while the configuration is the same objects, and assembles it again when
    any of them was replaced: a filtered debug call costs an attribute lookup, an info line
    no assembly."""

    __slots__ = ("_bound", "_key", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._key: tuple[Any, ...] = ()
        self._bound: Any = None

    def _logger(self) -> Any:
        cfg = _STRUCTLOG_CONFIG
        key = self._key
        if not key or not (key[0] is cfg.default_processors and key[1] is cfg.default_wrapper_class
                           and key[2] is cfg.logger_factory and key[3] is cfg.default_context_class):
            self._bound = structlog.get_logger(self._name).bind()
            self._key = (cfg.default_processors, cfg.default_wrapper_class, cfg.logger_factory,
                         cfg.default_context_class)
        return self._bound

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger(), name)


def get_logger(name: str) -> Any:
    return _Logger(name)
