"""Decisions are plain values: a Verdict with the hits that explain it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    RELAY = "relay"
    REWRITE = "rewrite"
    STRIP = "strip"
    """Remove what the rule found (gateway/repair.py) and relay the rest, if the repaired message
    then passes; otherwise the message is held."""
    QUARANTINE = "quarantine"
    REJECT = "reject"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Action.RELAY: 0, Action.REWRITE: 1, Action.STRIP: 2, Action.QUARANTINE: 3, Action.REJECT: 4}


def most_severe(actions: list[Action] | tuple[Action, ...]) -> Action:
    return max(actions, key=lambda a: a.severity, default=Action.RELAY)


@dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    action: Action
    reason: str
    evidence: str = ""
    repair: str = ""
    """What the rule's ``strip`` action removes (a gateway.repair kind), if it has one."""

    def as_json(self) -> dict[str, str]:
        out = {"rule": self.rule, "action": str(self.action), "reason": self.reason, "evidence": self.evidence}
        if self.repair:
            out["repair"] = self.repair
        return out


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    hits: tuple[Hit, ...] = ()
    misses: tuple[str, ...] = ()
    """Ids of the rules that ran and did not hit (recorded, as Mailman does)."""
    subject: str = ""
    """The subject after any rewrite (the original when nothing was rewritten)."""
    critical: bool = False
    reply: bool = False
    marketplace: str | None = None
    order_ids: tuple[str, ...] = ()
    tags: frozenset[str] = field(default_factory=frozenset)
    """Facts found on the way that the store keeps count of, e.g. ``review-request``."""
    counter_limits: tuple[tuple[str, int], ...] = ()
    """(tag, limit) for counted tags whose limit a stateful rule checked, e.g. one review request
    per order: the server reserves the count atomically before it relays, so two instances that
    both read "none yet" cannot both send."""
    counter_rules: tuple[tuple[str, str], ...] = ()
    """(tag, rule id): the rule that set each counter limit, named when the limit is enforced at
    reservation (another message for the order took the last count meanwhile)."""
    smtp_code: int | None = None
    """An SMTP code other than the action's default (e.g. 550 5.1.1 for a dead alias)."""
    enhanced_status: str | None = None
    language: str | None = None
    """The language of the seller's own text (ISO 639-1), None when it cannot be told."""
    purpose: str | None = None
    """What the message is about (invoice, shipping-confirmation, ...), from the purpose evidence."""
    purpose_scores: tuple[tuple[str, float], ...] = ()
    original_subject: str | None = None
    """The subject as sent, when the rules changed it (``subject`` is what to relay)."""
    subject_rewrites: tuple[str, ...] = ()
    """What the rules did to the subject (e.g. ``add-keyword [Wichtig]``); applied whenever the
    message is relayed, also on a release from quarantine."""
    repairs: tuple[tuple[str, str, str], ...] = ()
    """(kind, what, where) for each element the ``strip`` action removed before relaying."""
    fingerprint: str = ""
    """The message's template fingerprint (``gateway.fingerprint``, encoded), made from the text the
    engine read: the template hold and the disagreement records compare it (gateway/learning.py)."""

    @property
    def subject_changed(self) -> bool:
        return self.original_subject is not None and self.original_subject != self.subject

    def as_json(self) -> dict[str, Any]:
        """The `gateway check --json` contract."""
        return {
            "action": str(self.action),
            "subject": self.subject,
            "critical": self.critical,
            "reply": self.reply,
            "marketplace": self.marketplace,
            "hits": [h.as_json() for h in self.hits],
            "language": self.language,
            "purpose": self.purpose,
            "repairs": [{"kind": k, "what": w, "where": where} for k, w, where in self.repairs],
        }

    def as_log(self) -> dict[str, Any]:
        """Fields for the structured log line every verdict gets (hits in full, misses counted)."""
        return {
            "action": str(self.action),
            "marketplace": self.marketplace,
            "reply": self.reply,
            "critical": self.critical,
            "order_ids": list(self.order_ids),
            "tags": sorted(self.tags),
            "hits": [h.as_json() for h in self.hits],
            "misses": len(self.misses),
            "smtp": f"{self.smtp_code} {self.enhanced_status}" if self.smtp_code else None,
            "language": self.language,
            "purpose": self.purpose,
            "repairs": [k for k, _, _ in self.repairs],
        }


RELAY = Verdict(action=Action.RELAY)
