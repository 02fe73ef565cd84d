"""Result types of bounce parsing: one report per message, one entry per failed recipient."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# Recipients read from one report at most: an SMTP transaction carries a few hundred (RFC 5321 asks
# servers to accept 100); past this the report is hostile or broken, and reading on costs time.
MAX_RECIPIENTS = 1000

Kind = Literal["amazon-optout", "amazon-notice", "dsn", "delay", "not-bounce"]
"""``delay``: a report whose every recipient is only delayed (still being retried): nothing failed."""


@dataclass(frozen=True, slots=True)
class BouncedRecipient:
    address: str
    reason: str
    """Sisimai's reason vocabulary: userunknown, mailboxfull, filtered, ... ("optout" for Amazon)."""
    status: str
    """RFC 3463 enhanced status code; a 5.0.9xx/4.0.9xx pseudo code when the bounce gives none."""
    diagnostic: str = ""
    action: str = "failed"
    original_recipient: str | None = None
    """The Original-Recipient of a DSN when it differs from the final one: what the gateway sent to."""

    def as_json(self) -> dict[str, Any]:
        return {"address": self.address, "reason": self.reason, "status": self.status,
                "action": self.action, "diagnostic": self.diagnostic,
                "original_recipient": self.original_recipient}


@dataclass(frozen=True, slots=True)
class BounceReport:
    kind: Kind
    recipients: tuple[BouncedRecipient, ...] = ()
    order_id: str | None = None
    marketplace: str | None = None
    alias: str | None = None
    notice: str | None = None
    """For Amazon notices: optout, policy, restriction or invalid-alias."""
    language: str | None = None
    wording_verified: bool | None = None
    """For Amazon notices: whether the matched wording was seen in a real notice (see amazon.toml)."""
    message_ids: tuple[str, ...] = ()
    """Message-IDs that correlate the bounce with what we relayed: In-Reply-To, References and the
    Message-ID of any quoted original, in that order, without angle brackets, de-duplicated."""
    subject: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "order_id": self.order_id,
            "marketplace": self.marketplace,
            "recipients": [r.as_json() for r in self.recipients],
            "notice": self.notice,
            "alias": self.alias,
            "language": self.language,
            "wording_verified": self.wording_verified,
            "message_ids": list(self.message_ids),
            "subject": self.subject,
        }
