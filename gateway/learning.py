"""Learning from Amazon's verdicts: where the gateway relayed and Amazon refused.

Amazon tells the seller when it did not deliver a relayed message for a policy reason ("did not
meet the Buyer-Seller Messaging communication guidelines") and when it restricted the account's
proactive messaging. Bounce ingestion (gateway/bounces/ingest.py) hands such notices here:

* a ``policy`` notice is matched to the message the gateway relayed (by Message-ID, else by the
  order and the alias, else by the alias: the same correlation the opt-out registry uses) and
  recorded as a ``Disagreement`` beside what the gateway decided (verdict, hits, pack versions,
  template fingerprint). With ``[learning] hold_templates`` further messages of that template are
  held for review (gateway/pipeline/holds.py) until an admin marks the template fixed;
* a ``restriction`` notice puts the tenant into the restricted state: proactive mail is refused
  until an admin clears it, replies in buyer-initiated threads keep flowing.

What the gateway decided is kept for every relayed marketplace message (``relayed_message``,
called by the pipeline's record stage) as long as its relay records are.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gateway.config import LearningConfig
from gateway.fingerprint import Fingerprint
from gateway.log import get_logger
from gateway.message.report import ReportContent, read_report
from gateway.policy.verdict import Verdict
from gateway.store.base import Disagreement, HitRecord, RelayedMessage, Store, TenantRestriction
from gateway.store.records import LearningCounts

log = get_logger("gateway.learning")

POLICY = "policy"
RESTRICTION = "restriction"
LEARNED_NOTICES = frozenset({POLICY, RESTRICTION})
NO_PACK = "none"
UNKNOWN_PACK = "unknown"
_MAX_REASON = 600


# -- what was relayed ---------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _file_version(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def pack_version(path: Path) -> str:
    """A pack file's version: the start of its SHA-256 (the same file always has the same one)."""
    try:
        stat = path.stat()
        return _file_version(path, stat.st_mtime_ns, stat.st_size)
    except OSError:
        return "unreadable"


@dataclass(frozen=True, slots=True)
class PackIndex:
    """Which pack each rule of an engine comes from, and the packs' versions."""

    rule_pack: dict[str, str]
    versions: tuple[tuple[str, str], ...]

    def pack_of(self, rule: str) -> str:
        """The pack of ``rule``; the gateway's own checks (sender-not-registered, template-disagreed,
        tenant-restricted, score-threshold) belong to no pack: "gateway"."""
        return self.rule_pack.get(rule, "gateway")


_EMPTY = PackIndex({}, ())


_INDEXES: dict[int, tuple[object, PackIndex]] = {}


def pack_index(policy: object) -> PackIndex:
    """The packs of a policy engine (``PolicyEngine.rules``; anything else has none), read once per
    engine: a reload builds a new engine, whose packs are read (and versioned) again."""
    cached = _INDEXES.get(id(policy))
    if cached is not None and cached[0] is policy:
        return cached[1]
    index = _pack_index(policy)
    if len(_INDEXES) >= 32:
        _INDEXES.pop(next(iter(_INDEXES)))
    _INDEXES[id(policy)] = (policy, index)  # (keeps the id from being reused meanwhile)
    return index


def _pack_index(policy: object) -> PackIndex:
    rules = getattr(policy, "rules", None)
    if not rules:
        return _EMPTY
    rule_pack: dict[str, str] = {}
    files: dict[str, Path] = {}
    for rule in rules:
        file = getattr(rule, "file", None)
        rule_id = getattr(rule, "id", None)
        if isinstance(file, Path) and isinstance(rule_id, str):
            rule_pack[rule_id] = file.stem
            files.setdefault(file.stem, file)
    return PackIndex(rule_pack, tuple(sorted((name, pack_version(path)) for name, path in files.items())))


async def record_relayed(store: Store, *, queue_id: str, message_id: str, tenant: str, verdict: Verdict,
                         shadow: bool, aliases: Sequence[str], order_ids: Sequence[str], policy: object) -> None:
    """Keep what the gateway decided about a relayed message (the pipeline's record stage)."""
    await store.record_relayed(relayed_message(queue_id=queue_id, message_id=message_id, tenant=tenant,
                                               verdict=verdict, shadow=shadow, aliases=aliases,
                                               order_ids=order_ids, policy=policy))


def relayed_message(*, queue_id: str, message_id: str, tenant: str, verdict: Verdict, shadow: bool,
                    aliases: Sequence[str], order_ids: Sequence[str], policy: object) -> RelayedMessage:
    """The record of a relayed message. Its template fingerprint is the one the policy engine made
    (``Verdict.fingerprint``; none without an engine); cheap: no message is read again here."""
    packs = pack_index(policy)
    action = f"would-{verdict.action}" if shadow else str(verdict.action)
    return RelayedMessage(
        queue_id=queue_id, message_id=message_id, subject=verdict.subject, action=action,
        hits=tuple(HitRecord(h.rule, str(h.action), h.reason, h.evidence, packs.pack_of(h.rule))
                   for h in verdict.hits),
        packs=packs.versions, fingerprint=verdict.fingerprint, order_ids=tuple(order_ids), aliases=tuple(aliases),
        tenant=tenant)


# -- what Amazon said ---------------------------------------------------------------------------------

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
    if len(reason) > _MAX_REASON:
        reason = reason[:_MAX_REASON - 3].rstrip() + "..."
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


# -- what the pipeline reads (gateway/pipeline/holds.py) ----------------------------------------------

@dataclass(frozen=True, slots=True)
class HeldTemplate:
    disagreement: Disagreement
    fingerprint: Fingerprint


@dataclass(slots=True)
class TenantState:
    read_at: float
    restriction: TenantRestriction | None
    held: tuple[HeldTemplate, ...]


class LearnedState:
    """Per store: each tenant's active restriction and held templates, read at most every
    ``max_age`` seconds. ``forget`` drops what was read (after this instance changed it)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._tenants: dict[str, TenantState] = {}
        self._lock = asyncio.Lock()

    async def of(self, tenant: str, max_age: float) -> TenantState:
        state = self._tenants.get(tenant)
        now = time.monotonic()
        if state is not None and now - state.read_at <= max_age:
            return state
        async with self._lock:
            state = self._tenants.get(tenant)
            if state is not None and time.monotonic() - state.read_at <= max_age:
                return state
            restriction = await self.store.tenant_restriction(tenant)
            held = tuple(HeldTemplate(d, Fingerprint.decode(d.relayed.fingerprint))
                         for d in await self.store.held_templates(tenant)
                         if d.relayed is not None and d.relayed.fingerprint)
            state = TenantState(time.monotonic(), restriction, held)
            self._tenants[tenant] = state
            return state

    def forget(self, tenant: str | None = None) -> None:
        if tenant is None:
            self._tenants.clear()
        else:
            self._tenants.pop(tenant, None)


_STATES: dict[int, LearnedState] = {}


def learned_state(store: Store) -> LearnedState:
    """The one ``LearnedState`` of ``store`` in this process."""
    state = _STATES.get(id(store))
    if state is None or state.store is not store:
        state = _STATES[id(store)] = LearnedState(store)
    return state


# -- admins' actions ----------------------------------------------------------------------------------

async def fix_template(store: Store, disagreement_id: int, actor: str, reason: str,
                       similarity: float) -> list[int]:
    """Mark a disagreement's template fixed: it and every held disagreement of the same tenant
    whose template is the same. Returns the disagreement ids released from the hold."""
    target = await store.disagreement(disagreement_id)
    if target is None:
        raise KeyError(disagreement_id)
    ids = [target.id]
    if target.relayed is not None and target.relayed.fingerprint:
        mine = Fingerprint.decode(target.relayed.fingerprint)
        for other in await store.held_templates(target.tenant):
            if other.relayed is not None and other.relayed.fingerprint and mine.same_template(
                    Fingerprint.decode(other.relayed.fingerprint), similarity):
                ids.append(other.id)
    fixed = await store.fix_templates(ids, actor, reason)
    learned_state(store).forget(target.tenant)
    if fixed:
        await store.audit(actor, "template-fixed", f"disagreement:{disagreement_id}",
                          f"{reason} (released {', '.join(f'#{i}' for i in fixed)})")
    log.info("template_fixed", actor=actor, disagreement_id=disagreement_id, released=fixed, reason=reason)
    return fixed


async def clear_restriction(store: Store, tenant: str, actor: str, reason: str) -> int:
    """Clear the tenant's restriction (Amazon lifted it); returns how many were active."""
    cleared = await store.clear_restriction(tenant, actor, reason)
    learned_state(store).forget(tenant)
    if cleared:
        await store.audit(actor, "restriction-cleared", f"tenant:{tenant}", reason)
    log.info("restriction_cleared", actor=actor, tenant=tenant, cleared=cleared, reason=reason)
    return cleared


async def learning_counts(store: Store, since: float = 0.0) -> LearningCounts:
    """Disagreements per tenant and pack since ``since``, held templates and restricted tenants now."""
    held: dict[str, int] = {}
    for d in await store.disagreements(template="held", limit=100_000):
        held[d.tenant] = held.get(d.tenant, 0) + 1
    restricted = tuple(sorted({r.tenant for r in await store.restrictions(active=True)}))
    return LearningCounts(await store.disagreement_counts(since), held, restricted)


async def disagreement_report(store: Store, since: float = 0.0, tenant: str | None = None,
                              limit: int = 50) -> dict[str, Any]:
    """The ``disagreements`` section of ``gateway report``: counts per pack and per tenant, what is
    held or restricted now, and the latest disagreements with both sides."""
    found = await store.disagreements(tenant, since=since, limit=limit)
    counts = await learning_counts(store, since)
    by_pack: dict[str, int] = {}
    by_tenant: dict[str, int] = {}
    total = 0
    for (t, pack), count in counts.disagreements.items():
        if tenant is not None and t != tenant:
            continue
        by_pack[pack] = by_pack.get(pack, 0) + count
    for d in await store.disagreements(tenant, since=since, limit=100_000):
        total += 1
        by_tenant[d.tenant] = by_tenant.get(d.tenant, 0) + 1
    restricted = [r.as_json() for r in await store.restrictions(tenant, active=True)]

    def ordered(values: dict[str, int]) -> dict[str, int]:
        return dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))

    held = {t: n for t, n in counts.held_templates.items() if tenant is None or t == tenant}
    return {"total": total, "by_pack": ordered(by_pack), "by_tenant": ordered(by_tenant),
            "held_templates": sum(held.values()), "restricted_tenants": restricted,
            "latest": [d.as_json() for d in found]}
