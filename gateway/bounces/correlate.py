"""Which buyer alias a bounce-back is about, and what it says about that alias.

Amazon's opt-out notice often names only the order, not the alias: "We were unable to deliver the
message you sent for order 302-... because the buyer has chosen to opt out". So a notice is matched
to the alias we relayed to by, in this order:

1. the alias itself, when the notice or DSN names it;
2. the Message-ID of what we relayed (In-Reply-To, References, a quoted original);
3. the order id (and marketplace) against relays of the last ``correlation_days``.

A step that finds more than one alias does not guess: the notice goes to the admins' review list
with the candidates. Reads only (reader connections): safe in any worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gateway.bounces.reasons import says_no_such_mailbox
from gateway.bounces.report import BouncedRecipient, BounceReport
from gateway.classify import Classifier
from gateway.store.base import AliasStatus, Store

MatchedBy = Literal["alias", "message-id", "order"]

# Amazon notice kinds that say the alias itself no longer exists.
DEAD_NOTICES = frozenset({"invalid-alias", "invalid", "unknown-alias", "dead-alias"})
# DSN reasons and RFC 3463 codes that say the address does not exist (5.1.7/5.1.8 are about the
# *sender's* address and must not kill a buyer's alias).
DEAD_REASONS = frozenset({"userunknown", "hostunknown"})
DEAD_STATUSES = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10"})


@dataclass(frozen=True, slots=True)
class Target:
    """One alias a bounce is about, and the status it establishes (None: recorded, no change)."""

    alias: str
    marketplace: str | None
    status: AliasStatus | None
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"alias": self.alias, "marketplace": self.marketplace, "status": self.status,
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Correlation:
    targets: tuple[Target, ...] = ()
    matched_by: MatchedBy | None = None
    candidates: tuple[str, ...] = ()
    """Aliases that fit equally well when the match was ambiguous (for the review list)."""
    about_alias: bool = True
    """False for a DSN about ordinary addresses only: nothing for the registry or the admins."""

    @property
    def matched(self) -> bool:
        return bool(self.targets)

    def as_json(self) -> dict[str, Any]:
        return {"matched_by": self.matched_by, "targets": [t.as_json() for t in self.targets],
                "candidates": list(self.candidates), "about_alias": self.about_alias}


def normalize_marketplace(value: str | None, classifier: Classifier) -> str | None:
    """``de``, ``amazon.de``, ``www.amazon.co.uk``, ``Amazon.de`` -> the tld relays are keyed by."""
    if not value:
        return None
    text = value.strip().lower().rstrip(".")
    for prefix in ("www.", "marketplace.", "amazon."):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if classifier.marketplace_of(f"marketplace.amazon.{text}") is not None:
        return text
    return None


def status_for_notice(report: BounceReport) -> AliasStatus | None:
    if report.kind == "amazon-optout":
        return "optout"
    if report.kind == "amazon-notice" and (report.notice or "").lower() in DEAD_NOTICES:
        return "dead"
    return None


def status_for_recipient(recipient: BouncedRecipient) -> AliasStatus | None:
    """A DSN recipient: dead only on a permanent failure that says the address does not exist."""
    if recipient.action.lower() not in ("failed", ""):
        return None
    if not recipient.status.startswith("5."):
        return None
    if recipient.reason.lower() in DEAD_REASONS or recipient.status in DEAD_STATUSES:
        return "dead"
    if (recipient.reason.lower() == "filtered" and _names_no_cause(recipient.status)
            and says_no_such_mailbox(recipient.diagnostic)):
        # "<alias>: user unknown" with no status code and no SMTP command: Sisimai's vocabulary
        # says filtered (it cannot tell a filter's "user unknown" after DATA apart), the words
        # say the address does not exist.
        return "dead"
    return None


def _names_no_cause(status: str) -> bool:
    """5.0.0, or a 5.0.9xx code the parser made up because the bounce gave none."""
    return status == "5.0.0" or (len(status) == 7 and status.startswith("5.0.9"))


class Correlator:
    def __init__(self, store: Store, classifier: Classifier, correlation_days: int) -> None:
        self.store = store
        self.classifier = classifier
        self.window = correlation_days * 86400.0

    def alias_of(self, address: str | None, marketplace: str | None = None) -> tuple[str, str] | None:
        """(alias, marketplace) for a buyer alias address (``+token`` dropped), else None."""
        if not address:
            return None
        address = address.strip().strip("<>").strip()
        if "@" not in address and marketplace:
            # A notice that gives only the alias's local part.
            address = f"{address}@marketplace.amazon.{marketplace}"
        found = self.classifier.classify(address)
        return (found.alias, found.marketplace) if found else None

    async def correlate(self, report: BounceReport, now: float | None = None, tenant: str = "") -> Correlation:
        """Match ``report`` against ``tenant``'s relays (each merchant's registry is its own)."""
        if report.kind in ("dsn", "delay"):
            # (a delay's recipients are "delayed": status_for_recipient records none of them)
            return await self._correlate_dsn(report, now, tenant)
        return await self._correlate_notice(report, now, tenant)

    # -- Amazon notices ---------------------------------------------------------------------------
    async def _correlate_notice(self, report: BounceReport, now: float | None, tenant: str) -> Correlation:
        marketplace = normalize_marketplace(report.marketplace, self.classifier)
        status = status_for_notice(report)
        reason = report.notice or report.kind

        def targets(found: Iterable[tuple[str, str]]) -> tuple[Target, ...]:
            return tuple(Target(a, m, status, reason) for a, m in found)

        named = self.alias_of(report.alias, marketplace)
        if named is None:
            # Some notices quote the alias only as a recipient of the blocked message.
            for r in report.recipients:
                named = self.alias_of(r.original_recipient) or self.alias_of(r.address)
                if named:
                    break
        if named is not None:
            return Correlation(targets((named,)), "alias")

        by_order: list[tuple[str, str]] | None = None
        if report.order_id:
            since = (time.time() if now is None else now) - self.window
            by_order = _distinct(await self.store.relays_by_order(report.order_id, marketplace, since, tenant))
            if not by_order and marketplace is not None:
                # The notice's marketplace is a guess from its sender (Amazon also writes from
                # amazon.com about other marketplaces); an order id is unique across marketplaces.
                by_order = _distinct(await self.store.relays_by_order(report.order_id, None, since, tenant))

        by_message = _distinct(await self.store.relays_by_message_id(report.message_ids, tenant))
        if len(by_message) > 1 and by_order:
            # A message to several aliases: the order narrows it down.
            by_message = [m for m in by_message if m in by_order]
        if len(by_message) == 1:
            return Correlation(targets(by_message), "message-id")
        if len(by_message) > 1:
            return Correlation(candidates=tuple(a for a, _ in by_message))

        if by_order is not None and len(by_order) == 1:
            return Correlation(targets(by_order), "order")
        return Correlation(candidates=tuple(a for a, _ in by_order or ()))

    # -- DSNs ---------------------------------------------------------------------------------------
    async def _correlate_dsn(self, report: BounceReport, now: float | None, tenant: str) -> Correlation:
        found: dict[str, Target] = {}
        for r in report.recipients:
            named = self.alias_of(r.original_recipient) or self.alias_of(r.address)
            if named is None:
                continue
            alias, marketplace = named
            status = status_for_recipient(r)
            previous = found.get(alias)
            # Several lines for one alias (e.g. alias+token and alias): the firmest one counts.
            if previous is None or (previous.status is None and status is not None):
                found[alias] = Target(alias, marketplace, status, f"{r.reason} {r.status}".strip())
        if found:
            return Correlation(tuple(found.values()), "alias")

        # A DSN that names no alias (e.g. from the buyer's real mailbox behind Amazon's relay) but
        # refers to a message we relayed: record it against that alias, without a status change.
        relayed = _distinct(await self.store.relays_by_message_id(report.message_ids, tenant))
        if len(relayed) == 1:
            alias, marketplace = relayed[0]
            reasons = ", ".join(sorted({r.reason for r in report.recipients})) or "dsn"
            return Correlation((Target(alias, marketplace, None, reasons),), "message-id")
        if len(relayed) > 1:
            return Correlation(candidates=tuple(a for a, _ in relayed))
        return Correlation(about_alias=False)


def _distinct(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((a.lower(), m) for a, m in pairs))
