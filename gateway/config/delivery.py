"""The relaying side: ``[upstream]`` (the next hop) and ``[delivery]`` (the queue runner)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from gateway.config.base import PositiveFloat, PositiveInt, Section


class UpstreamConfig(Section):
    # No host: deliver into the Maildir outbox under the state directory (a quick local trial).
    host: str | None = None
    port: Annotated[int, Field(gt=0, le=65535)] = 25
    tls: Literal["none", "opportunistic", "starttls", "implicit"] = "opportunistic"
    verify_certificate: bool = True
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    password_file: Path | None = None
    helo_name: str | None = None
    connect_timeout: PositiveFloat = 30.0
    command_timeout: PositiveFloat = 60.0
    # The wait for the reply to DATA and to the final dot: RFC 5321 4.5.3.2.6 suggests 10 minutes,
    # since an upstream may store (and scan) the message first; giving up earlier makes resends.
    data_timeout: PositiveFloat = 600.0
    pool_size: PositiveInt = 4
    # Pooled connections idle longer than this are closed rather than reused (servers drop them).
    pool_idle_timeout: PositiveFloat = 30.0
    maildir: Path | None = None

    @model_validator(mode="after")
    def _credentials(self) -> UpstreamConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        if (self.password is not None or self.password_file is not None) and not self.username:
            raise ValueError("a password needs a username")
        return self

    def resolved_password(self) -> str | None:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return self.password


class DeliveryConfig(Section):
    workers: PositiveInt = 4
    retry_initial: PositiveFloat = 60.0
    retry_max: PositiveFloat = 3600.0
    retry_factor: Annotated[float, Field(ge=1.0)] = 2.0
    give_up_after: PositiveFloat = 5 * 24 * 3600.0
    send_dsn: bool = True
    poll_interval: PositiveFloat = 1.0
    # Finished spool entries (per-recipient results, no message bytes) are kept this long.
    keep_finished: PositiveFloat = 7 * 24 * 3600.0
    # "separate": delivery runs in a child process on the same spool (like Postfix's smtp next to
    # smtpd), so listening and policy get one core and relaying the other. The child polls the
    # spool every poll_interval seconds.
    process: Literal["inline", "separate"] = "inline"
    # An attempt still running after this many seconds (a stalled upstream) stops occupying its
    # worker and pool slot, so the rest of the queue flows past it.
    stall_after: PositiveFloat = 15.0
    # How long a new delivery process waits for the previous one to release the spool's lock.
    lock_wait: Annotated[float, Field(ge=0)] = 60.0

