"""``[bounces]``: where bounce-backs arrive (addresses, a listener, polled IMAP mailboxes)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.base import PositiveFloat, PositiveInt, Section, optional_hostport


class ImapConfig(Section):
    """A mailbox the seller's Amazon notices are forwarded to, polled for bounce-backs."""

    host: str
    port: Annotated[int, Field(gt=0, le=65535)] | None = None
    """Default: 993 with ``tls = "implicit"``, 143 otherwise."""
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    verify_certificate: bool = True
    ca_file: Path | None = None
    username: str
    password: str | None = Field(default=None, repr=False)
    password_file: Path | None = None
    folder: str = "INBOX"
    # What happens to a message once it is recorded: moved to ``processed_folder`` or flagged
    # with ``processed_flag`` (and left where it is).
    processed_action: Literal["move", "flag"] = "move"
    processed_folder: str = "Processed"
    processed_flag: str = "$GatewayProcessed"
    poll_interval: PositiveFloat = 60.0
    timeout: PositiveFloat = 30.0
    max_messages_per_poll: PositiveInt = 500
    # Whose opt-out registry the notices in this mailbox belong to ("" without [[tenants]]).
    tenant: str = ""

    @model_validator(mode="after")
    def _credentials(self) -> ImapConfig:
        if (self.password is None) == (self.password_file is None):
            raise ValueError("set exactly one of password or password_file")
        if self.processed_action == "flag" and not re.fullmatch(r"(?:\\|\$)?[A-Za-z0-9_.-]+", self.processed_flag):
            raise ValueError(f"processed_flag is not an IMAP keyword: {self.processed_flag!r}")
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 993 if self.tls == "implicit" else 143

    def resolved_password(self) -> str:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        assert self.password is not None
        return self.password


class BounceConfig(Section):
    # Envelope recipients on the main listener whose mail is a forwarded bounce-back to parse.
    addresses: tuple[str, ...] = ()
    # A listener of its own where every message is a bounce-back (same access control as the main one).
    listen: str | None = None
    # How far back a notice that names only the order is matched against relays.
    correlation_days: PositiveInt = 60
    # Mailboxes to poll: [bounces.imap] for one, [[bounces.imap]] for several (one per tenant).
    imap: tuple[ImapConfig, ...] = ()
    # The bounce wording (amazon.toml, markers.toml, reasons.toml, vendors.toml); None: the shipped
    # one (the installed package's copy of policies/bounces). Copy that folder to adapt it.
    wording_dir: Path | None = None

    @field_validator("imap", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, dict) else value

    _check_listen = field_validator("listen")(optional_hostport("bounces.listen"))

