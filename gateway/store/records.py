"""The records the state backends keep, as plain values (the same on every backend)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

AliasStatus = Literal["optout", "dead"]
ALIAS_STATUSES: tuple[AliasStatus, ...] = ("optout", "dead")

EVIDENCE_DIR = "evidence"
REVIEW_COUNTER = "review-request"


def evidence_reference(digest: str) -> str:
    """The reference a notice's raw bytes are stored under: the same on every backend."""
    return f"{EVIDENCE_DIR}/{digest}.eml"


def evidence_digest(reference: str) -> str | None:
    """The sha256 in an evidence reference, or None when it is not one."""
    if not reference.startswith(f"{EVIDENCE_DIR}/") or not reference.endswith(".eml"):
        return None
    digest = reference[len(EVIDENCE_DIR) + 1:-len(".eml")]
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return None
    return digest


@dataclass(frozen=True)
class NoticeRow:
    """A bounce notice as recorded: what it was, what it was matched to, where its bytes are."""

    kind: str
    source: str
    report: dict[str, Any]
    order_id: str | None = None
    marketplace: str | None = None
    alias: str | None = None
    matched_by: str | None = None
    evidence: str | None = None
    sha256: str | None = None
    resolved: bool = False
    """True when nothing is left for an admin to review (matched, or not about a buyer alias)."""
    tenant: str = ""


@dataclass(frozen=True)
class AliasUpdate:
    alias: str
    status: AliasStatus
    marketplace: str | None
    order_id: str | None


@dataclass(frozen=True)
class RecordedBounce:
    notice_id: int
    previous_status: dict[str, AliasStatus | None]
    """Each updated alias's status before this notice."""


@dataclass(frozen=True)
class AliasRecord:
    alias: str
    status: AliasStatus
    marketplace: str | None
    order_id: str | None
    first_seen: float
    last_seen: float
    evidence: str
    source: str
    tenant: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"alias": self.alias, "status": self.status, "marketplace": self.marketplace,
                "order_id": self.order_id, "first_seen": self.first_seen,
                "last_seen": self.last_seen, "evidence": self.evidence, "source": self.source,
                "tenant": self.tenant}


@dataclass(frozen=True)
class QuarantineRecord:
    id: str
    held_at: float
    peer: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message_id: str
    subject: str
    marketplace: str | None
    verdict: dict[str, Any]
    size: int
    path: Path | None
    """Where the bytes are on disk (SQLite); None where the backend keeps them itself."""
    status: str
    tenant: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "held_at": self.held_at, "peer": self.peer,
                "mail_from": self.mail_from, "rcpt_tos": list(self.rcpt_tos),
                "message_id": self.message_id, "subject": self.subject,
                "marketplace": self.marketplace, "verdict": self.verdict, "size": self.size,
                "status": self.status, "tenant": self.tenant}


@dataclass(frozen=True)
class NoticeRecord:
    """A bounce notice as read back: what it was, what it was matched to, where its bytes are."""

    id: int
    at: float
    kind: str
    order_id: str | None
    marketplace: str | None
    alias: str | None
    """The buyer alias it was matched to; None while it waits for an admin."""
    matched_by: str | None
    source: str
    report: dict[str, Any]
    resolved: bool
    evidence: str | None
    tenant: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "kind": self.kind, "order_id": self.order_id,
                "marketplace": self.marketplace, "alias": self.alias, "matched_by": self.matched_by,
                "source": self.source, "report": self.report, "resolved": self.resolved,
                "evidence": self.evidence, "tenant": self.tenant}

    def as_review_json(self) -> dict[str, Any]:
        """The review list's shape (``GET /api/bounces/unmatched``, ``gateway optouts review --json``):
        an unmatched notice has no alias, match or resolution to show."""
        return {"id": self.id, "at": self.at, "kind": self.kind, "order_id": self.order_id,
                "marketplace": self.marketplace, "source": self.source, "report": self.report,
                "tenant": self.tenant}


@dataclass(frozen=True)
class DecisionRecord:
    """One decision about a marketplace message; with ``shadow`` the action is what would have
    happened (the message was relayed as it came)."""

    at: float
    ref: str
    """The queue id (relayed) or quarantine id (held); empty for a refusal."""
    message_id: str
    peer: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    marketplace: str | None
    action: str
    rules: tuple[str, ...]
    """The rules that hit."""
    tenant: str = ""
    shadow: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "ref": self.ref, "message_id": self.message_id, "peer": self.peer,
                "mail_from": self.mail_from, "rcpt_tos": list(self.rcpt_tos), "marketplace": self.marketplace,
                "action": self.action, "rules": list(self.rules), "tenant": self.tenant, "shadow": self.shadow}


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which object, and why."""

    id: int
    at: float
    actor: str
    action: str
    object: str
    """What it was done to: a quarantine id, ``notice:<id>``, an alias, a file."""
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "actor": self.actor, "action": self.action, "object": self.object,
                "reason": self.reason}


@dataclass(frozen=True)
class RelayRecord:
    """One buyer alias a relayed message went to, with the orders it named (the message trail)."""

    at: float
    queue_id: str
    message_id: str
    alias: str
    marketplace: str | None
    order_ids: tuple[str, ...]
    tenant: str = ""
