"""The SMTP listener's sections: ``[server]``, ``[tls]`` and ``[auth]``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import field_validator, model_validator

from gateway.config.base import (
    PositiveFloat,
    PositiveInt,
    Section,
    optional_hostport,
    parse_hostport,
    validate_networks,
)


class ServerConfig(Section):
    listen: str = "127.0.0.1:2525"
    implicit_tls_listen: str | None = None
    hostname: str = "localhost"
    max_message_size: PositiveInt = 20 * 1024 * 1024
    max_recipients: PositiveInt = 100
    max_sessions: PositiveInt = 200
    command_timeout: PositiveFloat = 300.0
    # Seconds for a whole DATA phase: the transfer plus the checks before the reply. aiosmtpd's
    # command timeout would otherwise cover it, too short for big messages on slow links.
    data_timeout: PositiveFloat = 600.0
    allowed_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    trusted_proxies: tuple[str, ...] = ()
    proxy_protocol_timeout: PositiveFloat = 5.0
    # aiosmtpd holds a message in memory while it is read and checked (about 3x its size at the
    # peak): at most this many bytes of message data are in flight in the listener at once. A session
    # reserves its declared SIZE (or 64 KiB when it declared none) before DATA, and up to
    # max_message_size once more arrives; when the budget is spent it waits up to data_budget_wait
    # seconds (not reading from the client meanwhile), then hears 452 4.3.1 (or 421 4.3.1 mid-DATA).
    data_memory_budget: PositiveInt = 24 * 1024 * 1024
    data_budget_wait: PositiveFloat = 60.0
    # Several gateway processes may share the listening port (SO_REUSEPORT; the kernel spreads new
    # connections over them). Each process needs its own state directory (its own spool).
    reuse_port: bool = False
    # Worker processes that share these listening sockets (gateway/workers/): an int, or "auto"
    # for one per CPU (os.cpu_count()). 1 serves in the one process. `gateway serve --workers N`
    # overrides it. More than one: a supervisor binds the sockets, starts the workers, and runs
    # delivery, the admin server and the IMAP pollers once for all of them.
    workers: PositiveInt | Literal["auto"] = 1
    # The asyncio event loop: "uvloop" (the `fast` extra) or the standard one ("asyncio"). "auto"
    # takes uvloop where it is installed (docs/spool-and-delivery.md, "Event loop").
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    # A bare LF or CR in message data: "normalize" takes it as a line ending (Postfix 3.9's
    # smtpd_forbid_bare_newline default), "reject" refuses the message (550 5.6.0). Either way
    # only <CRLF>.<CRLF> ends the data.
    bare_line_endings: Literal["normalize", "reject"] = "normalize"
    # Message-ID and Date for messages that arrive without them (Postfix adds them for its own
    # submission clients); the Received header is always added.
    add_missing_headers: bool = True
    # Name the AUTH user in the Received header (Postfix's smtpd_sasl_authenticated_header).
    received_auth_user: bool = False
    # Look up the client's verified reverse-DNS name for the Received header ("unknown" otherwise).
    reverse_dns: bool = True

    _check_listen = field_validator("listen", "implicit_tls_listen")(optional_hostport("listen address"))

    _check_networks = field_validator("allowed_networks", "trusted_proxies")(validate_networks)

    @property
    def listen_address(self) -> tuple[str, int]:
        return parse_hostport(self.listen, "listen")

    @property
    def worker_count(self) -> int:
        """How many worker processes ``workers`` asks for ("auto": one per CPU)."""
        if self.workers == "auto":
            return max(1, os.cpu_count() or 1)
        return self.workers

    @property
    def implicit_tls_address(self) -> tuple[str, int] | None:
        if self.implicit_tls_listen is None:
            return None
        return parse_hostport(self.implicit_tls_listen, "implicit_tls_listen")


class TLSConfig(Section):
    cert_file: Path | None = None
    key_file: Path | None = None
    # Refuse MAIL until the client did STARTTLS (loopback clients are exempt when false).
    require_starttls: bool = False

    @model_validator(mode="after")
    def _pair(self) -> TLSConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be set together")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class AuthConfig(Section):
    # A file of "user:argon2-hash" lines, written by `gateway auth add-user`.
    credentials_file: Path | None = None
    # Failed logins within failure_window seconds before a lock: per (client address, user), per
    # client address (a client trying many user names) and over all clients together.
    max_failures: PositiveInt = 5
    max_failures_per_peer: PositiveInt = 20
    max_failures_total: PositiveInt = 1000
    failure_window: PositiveFloat = 300.0

