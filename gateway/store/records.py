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


# -- learning from Amazon's verdicts (gateway/learning.py) -----------------------------------------

TemplateState = Literal["held", "fixed", "none"]
"""A disagreement's template: further messages of it are ``held`` for review, the admin marked it
``fixed``, or it has no template to hold (no fingerprint, or holding is switched off)."""


@dataclass(frozen=True)
class HitRecord:
    """One rule hit as it was recorded with a relayed message."""

    rule: str
    action: str
    reason: str
    evidence: str = ""
    pack: str = ""
    """The rule pack the rule came from ("gateway" for the gateway's own checks)."""

    def as_json(self) -> dict[str, str]:
        return {"rule": self.rule, "action": self.action, "reason": self.reason, "evidence": self.evidence,
                "pack": self.pack}


@dataclass(frozen=True)
class RelayedMessage:
    """What the gateway relayed to marketplace buyers, kept (as long as relay records) so that a
    notice from Amazon refusing it can be set beside the gateway's own judgement."""

    queue_id: str
    message_id: str
    subject: str
    action: str
    """The verdict's action (relay, rewrite; ``would-...`` in shadow mode)."""
    hits: tuple[HitRecord, ...] = ()
    packs: tuple[tuple[str, str], ...] = ()
    """(pack, version) of every rule pack the verdict was made with; a version is a digest of the
    pack file, so a rule author sees whether the pack changed since."""
    fingerprint: str = ""
    """The message's template fingerprint (``gateway.fingerprint.Fingerprint.encode``)."""
    order_ids: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    tenant: str = ""
    sent_at: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {"queue_id": self.queue_id, "message_id": self.message_id, "subject": self.subject,
                "action": self.action, "hits": [h.as_json() for h in self.hits],
                "packs": dict(self.packs), "fingerprint": self.fingerprint, "order_ids": list(self.order_ids),
                "aliases": list(self.aliases), "tenant": self.tenant, "sent_at": self.sent_at}


@dataclass(frozen=True)
class Disagreement:
    """The gateway relayed a message, Amazon refused it for a policy reason: both sides together."""

    tenant: str
    alias: str
    marketplace: str | None
    order_id: str | None
    matched_by: str
    """How the notice was matched to the relayed message: message-id, order or alias."""
    notice_id: int | None
    notice_date: float
    """When Amazon wrote the notice (its Date header; when it was recorded if it has none)."""
    reason: str
    """Amazon's reason, as the notice words it."""
    relayed: RelayedMessage | None
    """What the gateway relayed; None for a relay recorded before relayed messages were kept."""
    hit_packs: tuple[str, ...] = ()
    """The packs of the rules that hit the relayed message ("none" when no rule did): the counts
    per pack of the admin view and of gateway_disagreements_total."""
    template: TemplateState = "none"
    id: int = 0
    at: float = 0.0
    fixed_by: str = ""
    fixed_at: float | None = None
    fixed_reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "tenant": self.tenant, "alias": self.alias,
                "marketplace": self.marketplace, "order_id": self.order_id, "matched_by": self.matched_by,
                "notice_id": self.notice_id, "notice_date": self.notice_date, "reason": self.reason,
                "relayed": self.relayed.as_json() if self.relayed is not None else None,
                "hit_packs": list(self.hit_packs), "template": self.template, "fixed_by": self.fixed_by,
                "fixed_at": self.fixed_at, "fixed_reason": self.fixed_reason}


@dataclass(frozen=True)
class TenantRestriction:
    """Amazon restricted a seller account's proactive messaging: only replies in buyer-initiated
    threads may be sent until an admin clears it."""

    tenant: str
    since: float
    """The restriction notice's date."""
    reason: str
    notice_id: int | None = None
    marketplace: str | None = None
    id: int = 0
    recorded_at: float = 0.0
    cleared_at: float | None = None
    cleared_by: str = ""
    clear_reason: str = ""

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "since": self.since, "reason": self.reason,
                "notice_id": self.notice_id, "marketplace": self.marketplace, "recorded_at": self.recorded_at,
                "active": self.active, "cleared_at": self.cleared_at, "cleared_by": self.cleared_by,
                "clear_reason": self.clear_reason}


@dataclass(frozen=True)
class LearningCounts:
    """What /metrics and ``gateway report`` count of the learning state."""

    disagreements: dict[tuple[str, str], int]
    """(tenant, pack) -> disagreements whose hits name the pack ("none": no rule hit)."""
    held_templates: dict[str, int]
    """tenant -> disagreements whose template is held."""
    restricted: tuple[str, ...]
    """Tenants with an active restriction."""


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
