"""What Amazon said: policy and restriction notices matched to what the gateway relayed."""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass

from gateway.config import LearningConfig
from gateway.fingerprint import Fingerprint
from gateway.learning.kinds import MAX_REASON, NO_PACK, POLICY, RESTRICTION, UNKNOWN_PACK
from gateway.learning.state import learned_state
from gateway.log import get_logger
from gateway.message.report import ReportContent, read_report
from gateway.store.base import Disagreement, RelayedMessage, Store, TenantRestriction

log = get_logger("gateway.learning")


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    """What a policy or restriction notice says, beyond what the bounce parser reports."""

    date: float | None
    """The notice's Date header (epoch seconds); None when it has none that parses."""
    reason: str
    """Amazon's own words: the paragraph that says why."""
    from_amazon: bool = True
    """The notice (or the original it forwards) comes from an Amazon address. Anyone can write to
    the mailbox notices arrive in: a notice from elsewhere is recorded, but neither restricts the
    tenant nor holds a template by itself."""


_PARAGRAPHS = re.compile(r"\n\s*\n")
_AMAZON_SENDER = re.compile(r"@(?:[a-z0-9-]+\.)*amazon\.[a-z]{2,3}(?:\.[a-z]{2})?$")


def _is_amazon(header_value: str) -> bool:
    address = email.utils.parseaddr(header_value)[1].strip().lower()
    return bool(_AMAZON_SENDER.search(address))


def notice_facts(raw: bytes, kind: str) -> NoticeFacts:
    """The date and the reason paragraph of an Amazon notice of ``kind`` (CPU work)."""
    return notice_facts_of(read_report(raw), kind)


def notice_facts_of(mail: ReportContent, kind: str) -> NoticeFacts:
    """``notice_facts`` of a notice already read (the bounce parser's reading of it)."""
    from gateway.bounces.amazon import fold, rules

    date: float | None = None
    value = mail.headers.get("Date")
    if value:
        try:
            date = email.utils.parsedate_to_datetime(str(value)).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            date = None
    phrases = [p for w in rules().wordings if w.kind == kind for p in w.phrases]
    paragraphs = [" ".join(p.split()) for p in _PARAGRAPHS.split(mail.text.replace("\r\n", "\n"))]
    paragraphs = [p for p in paragraphs if p]
    reason = next((p for p in paragraphs if any(ph in fold(p) for ph in phrases)), "")
    if not reason:
        reason = mail.subject or (paragraphs[0] if paragraphs else "")
    if len(reason) > MAX_REASON:
        reason = reason[:MAX_REASON - 3].rstrip() + "..."
    from_amazon = _is_amazon(mail.from_) or (mail.original is not None and _is_amazon(mail.original.from_))
    return NoticeFacts(date, reason, from_amazon)


@dataclass(frozen=True, slots=True)
class Learned:
    """What a notice taught: the disagreements recorded, or the restriction."""

    disagreements: tuple[Disagreement, ...] = ()
    restriction: TenantRestriction | None = None
    agreed: tuple[str, ...] = ()
    """Queue ids of relayed messages the gateway would have refused too (shadow mode)."""


@dataclass(frozen=True, slots=True)
class NoticeAbout:
    """The parts of a recorded notice that learning reads (from the bounce report and its correlation)."""

    kind: str
    """The Amazon notice kind: policy or restriction."""
    notice_id: int
    tenant: str
    order_id: str | None
    marketplace: str | None
    message_ids: tuple[str, ...]
    aliases: tuple[str, ...]
    """The aliases the correlation matched (by alias, Message-ID or order)."""
    matched_by: str | None


class Learner:
    """Records what Amazon's policy and restriction notices say (bounce ingestion calls ``learn``)."""

    def __init__(self, store: Store, config: LearningConfig, correlation_days: int) -> None:
        self.store = store
        self.config = config
        self.window = correlation_days * 86400.0

    async def learn(self, about: NoticeAbout, facts: NoticeFacts) -> Learned:
        if about.kind == RESTRICTION:
            if not facts.from_amazon:
                log.warning("restriction_notice_not_from_amazon", tenant=about.tenant, notice_id=about.notice_id,
                            reason=facts.reason[:200],
                            hint="not applied; if Amazon did restrict the account: gateway restriction add")
                return Learned()
            return Learned(restriction=await self._restrict(about, facts))
        if about.kind != POLICY:
            return Learned()
        relayed, matched_by = await self._relayed(about, facts)
        if not relayed:
            log.warning("amazon_policy_notice_unmatched", tenant=about.tenant, notice_id=about.notice_id,
                        order_id=about.order_id, aliases=list(about.aliases))
            return Learned()
        found: list[Disagreement] = []
        agreed: list[str] = []
        for message in relayed:
            if message.action in ("would-quarantine", "would-reject"):
                agreed.append(message.queue_id)  # shadow mode: the gateway would have refused it too
                log.info("amazon_agrees", tenant=about.tenant, notice_id=about.notice_id, queue_id=message.queue_id,
                         action=message.action)
                continue
            recorded = await self.store.record_disagreement(self._disagreement(about, facts, message, matched_by))
            if recorded is None:
                continue
            found.append(recorded)
            learned_state(self.store).forget(about.tenant)
            log.warning("disagreement_recorded", tenant=about.tenant, disagreement_id=recorded.id,
                        notice_id=about.notice_id, queue_id=message.queue_id, message_id=message.message_id,
                        alias=recorded.alias, order_id=recorded.order_id, action=message.action,
                        hits=[h.rule for h in message.hits], packs=list(recorded.hit_packs),
                        template=recorded.template, reason=facts.reason[:200])
        return Learned(disagreements=tuple(found), agreed=tuple(agreed))

    async def _relayed(self, about: NoticeAbout, facts: NoticeFacts) -> tuple[list[RelayedMessage], str]:
        """The relayed message the notice is about: by Message-ID; else the newest for the order
        (and alias); else the newest to the alias sent before the notice. One message: Amazon's
        notice is about one."""
        before = facts.date if facts.date is not None else time.time()
        since = before - self.window
        store, tenant = self.store, about.tenant
        if about.message_ids:
            found = await store.relayed_messages(tenant, message_ids=about.message_ids)
            if found:
                return found[:1], "message-id"
        if about.order_id:
            for alias in (*about.aliases, None):
                found = await store.relayed_messages(tenant, order_id=about.order_id, alias=alias, since=since)
                if found:
                    return found[:1], "order"
        for alias in about.aliases:
            found = [m for m in await store.relayed_messages(tenant, alias=alias, since=since)
                     if m.sent_at <= before + 60]  # a notice is about mail sent before it was written
            if found:
                return found[:1], "alias"
        return [], ""

    def _disagreement(self, about: NoticeAbout, facts: NoticeFacts, message: RelayedMessage,
                      matched_by: str) -> Disagreement:
        if not message.action:  # relayed before what was decided was kept: its hits are unknown
            hit_packs: tuple[str, ...] = (UNKNOWN_PACK,)
        else:
            hit_packs = tuple(sorted({h.pack or "gateway" for h in message.hits})) or (NO_PACK,)
        hold = self.config.hold_templates and facts.from_amazon and bool(message.fingerprint) and bool(
            Fingerprint.decode(message.fingerprint).hashes)
        alias = about.aliases[0] if about.aliases else (message.aliases[0] if message.aliases else "")
        return Disagreement(
            tenant=about.tenant, alias=alias, marketplace=about.marketplace,
            order_id=about.order_id or (message.order_ids[0] if message.order_ids else None), matched_by=matched_by,
            notice_id=about.notice_id, notice_date=facts.date if facts.date is not None else time.time(),
            reason=facts.reason, relayed=message, hit_packs=hit_packs, template="held" if hold else "none")

    async def _restrict(self, about: NoticeAbout, facts: NoticeFacts) -> TenantRestriction:
        restriction = await self.store.restrict_tenant(TenantRestriction(
            tenant=about.tenant, since=facts.date if facts.date is not None else time.time(), reason=facts.reason,
            notice_id=about.notice_id, marketplace=about.marketplace))
        learned_state(self.store).forget(about.tenant)
        log.warning("tenant_restricted", tenant=about.tenant, restriction_id=restriction.id,
                    notice_id=about.notice_id, since=restriction.since, reason=facts.reason[:200])
        return restriction
