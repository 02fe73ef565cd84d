"""What the pipeline did with a message: a plain value, the same for every entrance.

An ``Outcome`` says whether the message was queued for delivery, held for review, refused or
deferred (try again later), why (``Cause``), with the decision that explains it (a ``Verdict`` with
its hits) and a trace of the stages it went through. ``gateway.replies.smtp_reply`` turns it into
the SMTP reply; the admin layer (``gateway.quarantine``) into an HTTP status; ``gateway check``
prints it as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gateway.policy.verdict import Verdict


class Disposition(StrEnum):
    QUEUED = "queued"
    """In the spool, durably: delivery will relay it."""
    HELD = "held"
    """In the quarantine for an admin's review."""
    REFUSED = "refused"
    """Not accepted, for good (a 5xx): the decision refuses it."""
    DEFERRED = "deferred"
    """Not accepted now (a 4xx): a cap, a timeout or storage; the sender retries later."""


class Cause(StrEnum):
    ACCEPTED = "accepted"
    POLICY = "policy"
    """The verdict (rule packs, registered-sender check) decided."""
    ORDER_COUNTER = "order-counter"
    """A per-order limit (one review request per order) was taken by another message meanwhile."""
    DAILY_CAP = "daily-cap"
    TIMEOUT = "timeout"
    """Policy evaluation did not finish in time."""
    STORAGE = "storage"
    """The spool or the quarantine could not take the message."""
    STATE = "state-unavailable"
    """The state database (opt-outs, per-order counters, caps) could not be read or written, so
    no decision could be taken (PostgreSQL down, a hung server, a damaged gateway.db)."""
    NOT_HELD = "not-held"
    """A release whose message another admin released or deleted first."""
    NO_POLICY = "no-policy"
    """A release that must be re-checked, without a policy engine to do it."""


@dataclass(frozen=True, slots=True)
class StageResult:
    """What one stage did: ``passed`` (let the message through as it was), ``changed`` (changed the
    decision), ``decided`` (ended the run with the outcome) or ``skipped``."""

    stage: str
    result: str
    detail: str = ""

    @property
    def decided(self) -> bool:
        return self.result in ("changed", "decided")

    def as_json(self) -> dict[str, str]:
        return {"stage": self.stage, "result": self.result, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Outcome:
    disposition: Disposition
    cause: Cause
    verdict: Verdict
    """The decision: in shadow mode, what would have happened (the message was queued as it came)."""
    stages: tuple[StageResult, ...] = ()
    queue_id: str = ""
    quarantine_id: str = ""
    shadow: bool = False
    detail: dict[str, str] = field(default_factory=dict)
    """Facts for the reply: ``marketplace`` and ``cap`` of a full daily cap, ``order_id`` of a counter."""
    data: bytes = b""
    """The bytes the message would be relayed as (repaired, subject rewritten, signed), when queued."""

    @property
    def accepted(self) -> bool:
        return self.disposition in (Disposition.QUEUED, Disposition.HELD)

    @property
    def decided_by(self) -> tuple[str, ...]:
        """The stages that changed the decision or ended the run."""
        return tuple(dict.fromkeys(s.stage for s in self.stages if s.decided))

    def as_json(self) -> dict[str, Any]:
        return {"outcome": str(self.disposition), "cause": str(self.cause), "shadow": self.shadow,
                "decided_by": list(self.decided_by), "stages": [s.as_json() for s in self.stages],
                "queue_id": self.queue_id or None, "quarantine_id": self.quarantine_id or None}
