"""Bounce-backs into the opt-out registry: read, parse, correlate with what was relayed, record.

One service for the three ways notices arrive (SMTP to a bounce address, ``gateway bounce import``
of .eml files, mbox files and Maildir folders, the IMAP poller). Each message goes through two steps:

* ``prepare``: parse (in a worker thread: it is CPU work), correlate against relay records, keep
  the raw bytes as evidence in the store (content-addressed);
* ``commit``: record the notice and the alias statuses it establishes in one transaction; the
  same bytes seen twice (by this instance or another one sharing the store) are recorded once.

Batches (a file import, a mailbox poll) are read and counted by ``gateway.bounces.batch``.
Every notice belongs to one tenant's registry and is matched only against that tenant's relays.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gateway import replies
from gateway.bounces.correlate import DEAD_NOTICES, Correlation, Correlator
from gateway.bounces.parse import BounceReport, parse_bounce_read
from gateway.classify import Classifier
from gateway.config import GatewayConfig
from gateway.learning import (
    LEARNED_NOTICES,
    Learned,
    Learner,
    NoticeAbout,
    NoticeFacts,
    notice_facts_of,
)
from gateway.log import get_logger
from gateway.message.report import ReportContent
from gateway.orderids import order_ids_in_message
from gateway.store.base import AliasStatus, AliasUpdate, NoticeRow, Store
from gateway.transaction import Transaction

log = get_logger("gateway.bounces.ingest")

Outcome = Literal["matched", "unmatched", "unrelated", "unrecognised", "not-bounce", "duplicate"]

_UNSAFE = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True)
class Prepared:
    report: BounceReport
    source: str
    tenant: str
    correlation: Correlation | None
    notice: NoticeRow | None
    updates: tuple[AliasUpdate, ...]
    facts: NoticeFacts | None = None
    """A policy or restriction notice's date and reason, for gateway/learning.py."""


@dataclass(frozen=True)
class IngestResult:
    report: BounceReport
    outcome: Outcome
    correlation: Correlation | None = None
    notice_id: int | None = None
    evidence: str | None = None
    changes: tuple[tuple[str, AliasStatus | None, AliasStatus], ...] = ()
    """(alias, status before, status now) for every alias this notice set."""
    learned: Learned | None = None
    """What a policy or restriction notice taught (disagreements, a restriction)."""

    def summary(self) -> str:
        """One printable ASCII line, fit for an SMTP reply and a log."""
        report = self.report
        parts: list[str] = [report.kind if self.outcome != "unrecognised" else "unrecognised"]
        if report.notice and report.kind == "amazon-notice":
            parts.append(f"({report.notice})")
        if report.order_id:
            parts.append(f"order {report.order_id}")
        if self.outcome == "matched" and self.correlation is not None:
            done = [f"{t.alias} {t.status or 'no status change'}" for t in self.correlation.targets]
            parts.append(f"matched by {self.correlation.matched_by}: " + ", ".join(done))
        elif self.outcome == "unmatched":
            parts.append("unmatched, held for review")
        elif self.outcome == "unrecognised":
            parts.append("not understood, held for review")
        elif self.outcome == "unrelated":
            parts.append("no marketplace alias concerned")
        elif self.outcome == "duplicate":
            parts.append("already recorded")
        elif self.outcome == "not-bounce":
            parts = ["not a bounce, nothing recorded"]
        if self.notice_id is not None:
            parts.append(f"notice #{self.notice_id}")
        if self.learned is not None:
            parts += [f"disagreement #{d.id}" for d in self.learned.disagreements]
            if self.learned.restriction is not None:
                parts.append("tenant restricted")
        return _UNSAFE.sub("?", " ".join(parts))[:400]


_AMAZON_DOMAIN = re.compile(r"(^|\.)amazon\.[a-z.]+$")


def _amazon_order_ids(mail: ReportContent | None, raw: bytes) -> tuple[str, ...]:
    """The order ids of a message the parser did not understand but that an admin should see: mail
    from Amazon about an order (a notice in wording we do not know yet must not vanish); () for any
    other message."""
    if mail is None:
        return ()
    _name, address = email.utils.parseaddr(mail.header("From"))
    if not _AMAZON_DOMAIN.search(address.rpartition("@")[2].lower()):
        return ()
    return order_ids_in_message(raw)


class BounceIngestService:
    """Parse, correlate and record bounce-backs; the ``bounces`` side of the MessageProcessor."""

    def __init__(self, store: Store, config: GatewayConfig) -> None:
        self.store = store
        self.reconfigure(config)

    def reconfigure(self, config: GatewayConfig) -> None:
        """A reloaded config (marketplaces, correlation window) for the next notice."""
        self.config = config
        classifier = Classifier(config.marketplace.tlds, config.marketplace.domain_prefix)
        self.correlator = Correlator(self.store, classifier, config.bounces.correlation_days)
        self.learner = Learner(self.store, config.learning, config.bounces.correlation_days)

    # -- the two steps ------------------------------------------------------------------------------
    async def prepare(self, raw: bytes, source: str, tenant: str = "") -> Prepared:
        """Parse, correlate against ``tenant``'s relays and keep the evidence."""
        report, mail = await asyncio.to_thread(parse_bounce_read, raw)
        if report.kind == "not-bounce":
            order_ids = await asyncio.to_thread(_amazon_order_ids, mail, raw)
            if not order_ids:
                return Prepared(report, source, tenant, None, None, ())
            reference, digest = await self.store.store_evidence(raw)
            notice = NoticeRow(kind="unrecognised", source=source, report=report.as_json(),
                               order_id=order_ids[0] if order_ids else None, evidence=reference,
                               sha256=digest, tenant=tenant)
            return Prepared(report, source, tenant, None, notice, ())

        correlation = await self.correlator.correlate(report, tenant=tenant)
        reference, digest = await self.store.store_evidence(raw)
        first = correlation.targets[0] if correlation.targets else None
        order_id = report.order_id
        marketplace = first.marketplace if first else report.marketplace
        notice = NoticeRow(
            kind=report.kind, source=source,
            report={**report.as_json(), "correlation": correlation.as_json()},
            order_id=order_id, marketplace=marketplace, alias=first.alias if first else None,
            matched_by=correlation.matched_by, evidence=reference, sha256=digest,
            resolved=correlation.matched or not correlation.about_alias, tenant=tenant)
        updates = tuple(AliasUpdate(t.alias, t.status, t.marketplace, order_id)
                        for t in correlation.targets if t.status is not None)
        facts = None
        if report.kind == "amazon-notice" and report.notice in LEARNED_NOTICES and mail is not None:
            facts = await asyncio.to_thread(notice_facts_of, mail, report.notice)
        return Prepared(report, source, tenant, correlation, notice, updates, facts)

    async def commit(self, prepared: Prepared) -> IngestResult:
        """Record the prepared notice."""
        report, correlation, notice = prepared.report, prepared.correlation, prepared.notice
        if notice is None:
            log.info("bounce_not_a_bounce", tenant=prepared.tenant, source=prepared.source,
                     subject=report.subject[:200])
            return IngestResult(report, "not-bounce")
        recorded = await self.store.record_bounce(notice, prepared.updates)
        if recorded is None:
            log.info("bounce_duplicate", tenant=prepared.tenant, source=prepared.source, kind=report.kind,
                     order_id=report.order_id, evidence=notice.evidence)
            return IngestResult(report, "duplicate", correlation, evidence=notice.evidence)
        outcome: Outcome
        if correlation is None:
            outcome = "unrecognised"
        elif correlation.matched:
            outcome = "matched"
        elif not correlation.about_alias:
            outcome = "unrelated"
        else:
            outcome = "unmatched"
        changes = tuple((u.alias, recorded.previous_status.get(u.alias), u.status)
                        for u in prepared.updates)
        log.info(
            "bounce_recorded", tenant=prepared.tenant, notice_id=recorded.notice_id, outcome=outcome,
            kind=notice.kind,
            notice=report.notice, order_id=report.order_id, marketplace=notice.marketplace,
            alias=notice.alias, matched_by=notice.matched_by, source=prepared.source,
            evidence=notice.evidence,
            candidates=list(correlation.candidates) if correlation else [],
            changes=[{"alias": a, "before": b, "now": n} for a, b, n in changes])
        if report.kind == "amazon-notice" and not prepared.updates:
            # Policy and restriction notices change no alias, but an admin must hear about them.
            log.warning("amazon_policy_notice", tenant=prepared.tenant, notice=report.notice, order_id=report.order_id,
                        alias=notice.alias, subject=report.subject[:200], notice_id=recorded.notice_id)
        for alias, before, now in changes:
            if before is not None and before != now:
                log.warning("alias_status_changed", tenant=prepared.tenant, alias=alias, before=before, now=now,
                            notice_id=recorded.notice_id)
        learned = await self._learn(prepared, recorded.notice_id)
        return IngestResult(report, outcome, correlation, recorded.notice_id, notice.evidence, changes, learned)

    async def _learn(self, prepared: Prepared, notice_id: int) -> Learned | None:
        """A policy notice becomes a disagreement, a restriction notice a restricted tenant
        (gateway/learning.py). The notice is recorded already: a failure here loses the lesson only."""
        report, correlation, facts = prepared.report, prepared.correlation, prepared.facts
        if facts is None or report.notice is None:
            return None
        aliases: tuple[str, ...] = ()
        if correlation is not None:
            aliases = tuple(t.alias for t in correlation.targets) or correlation.candidates
        about = NoticeAbout(kind=report.notice, notice_id=notice_id, tenant=prepared.tenant, order_id=report.order_id,
                            marketplace=prepared.notice.marketplace if prepared.notice else report.marketplace,
                            message_ids=report.message_ids, aliases=aliases,
                            matched_by=correlation.matched_by if correlation else None)
        try:
            return await self.learner.learn(about, facts)
        except Exception:
            log.exception("learning_failed", tenant=prepared.tenant, notice_id=notice_id, notice=report.notice)
            return None

    # -- entry points ---------------------------------------------------------------------------------
    async def ingest_result(self, raw: bytes, source: str, tenant: str = "") -> IngestResult:
        return await self.commit(await self.prepare(raw, source, tenant))

    async def ingest(self, raw: bytes, source: str, tenant: str = "") -> str:
        """The SMTP path: record one forwarded bounce-back, return the summary for the 250 reply.

        Bounded like every end-of-DATA step: on timeout the client hears a 4xx and retries, and the
        retry is recognised as a duplicate if the first attempt did finish recording.
        """
        async with asyncio.timeout(self.config.server.data_timeout):
            return (await self.ingest_result(raw, source, tenant)).summary()


class TenantResolver(Protocol):
    def tenant_for(self, *, auth_user: str | None, peer: str, mail_from: str) -> str | None: ...


class BounceOnlyProcessor:
    """The processor of the separate bounce listener (``bounces.listen``): every message there is a
    forwarded bounce-back, whatever its envelope says; nothing is ever relayed from it. Sessions
    map to tenants as on the main listener, and a notice goes to its tenant's registry."""

    def __init__(self, service: BounceIngestService, tenants: TenantResolver) -> None:
        self.service = service
        self._tenants = tenants

    def tenant_for(self, *, auth_user: str | None, peer: str, mail_from: str) -> str | None:
        return self._tenants.tenant_for(auth_user=auth_user, peer=peer, mail_from=mail_from)

    async def process(self, txn: Transaction) -> str:
        summary = await self.service.ingest(txn.data, source=f"smtp-bounce:{txn.peer}", tenant=txn.tenant)
        log.info("bounce_ingested", tenant=txn.tenant, peer=txn.peer, mail_from=txn.mail_from,
                 rcpt_tos=txn.rcpt_tos, message_id=txn.message_id, summary=summary)
        return replies.BOUNCE_RECORDED.format(summary=summary)


async def assign_notice(store: Store, notice_id: int, alias: str, actor: str) -> AliasStatus | None:
    """An admin matches a notice from the review list to an alias; the notice's status applies.

    Returns the status now recorded for the alias (None: the notice changes no status).
    """
    notice = await store.notice(notice_id)
    if notice is None:
        raise KeyError(notice_id)
    report: dict[str, Any] = notice.report
    status: AliasStatus | None = None
    if notice.kind == "amazon-optout":
        status = "optout"
    elif notice.kind == "amazon-notice" and str(report.get("notice") or "").lower() in DEAD_NOTICES:
        status = "dead"
    await store.assign_notice(notice_id, alias)
    if status is not None:
        await store.record_alias(alias, status, marketplace=notice.marketplace,
                                order_id=notice.order_id, evidence=notice.evidence or "",
                                source=f"admin:{actor}", tenant=notice.tenant)
    await store.audit(actor, "assign-notice", f"notice:{notice_id}", f"{alias} {status or '-'}")
    return status
