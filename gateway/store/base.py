"""What every state backend offers: the records it keeps and the ``Store`` interface.

Two backends implement it: ``SQLiteStore`` (the embedded default, one file in the state
directory) and ``PostgresStore`` (shared by several gateway instances). Callers hold a ``Store``
and await its methods; none of them knows which backend is behind it. The policy engine runs in
worker threads and reads state through ``Store.policy_state`` (a synchronous view).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

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


class StoreError(Exception):
    """The state backend cannot be used: unreachable, or its schema is not the one this code needs.
    Every backend raises its failures as this (or a subclass), with a message for an admin."""


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


class PolicyStateView(Protocol):
    """The policy engine's synchronous view of state (``gateway.policy.engine.PolicyState``)."""

    def review_requests(self, order_id: str) -> int: ...

    def alias_status(self, alias: str) -> AliasStatus | None: ...


class Store(Protocol):
    """The gateway's shared state. Every method is safe to call concurrently from the event loop."""

    backend: str
    """``sqlite`` or ``postgresql``: for logs, metrics and ``gateway db status``."""

    # -- lifecycle ----------------------------------------------------------------------------------
    async def open(self) -> Store: ...
    async def close(self) -> None: ...
    @property
    def is_open(self) -> bool: ...
    async def schema_version(self) -> int: ...
    async def policy_state(self, tenant: str = "", aliases: Sequence[str] = ()) -> PolicyStateView:
        """A view for the policy engine; call its methods from a worker thread, never the loop.

        ``aliases`` (the message's buyer aliases) may be read ahead, so the evaluating thread need
        not wait on the database for them.
        """
        ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Work that one instance sharing this store does at a time (e.g. polling one mailbox):
        yields True when this instance holds ``name`` for the block, False when another does."""
        ...

    # -- relays and counters ------------------------------------------------------------------------
    async def record_relay(self, queue_id: str, message_id: str, recipients: Sequence[tuple[str, str]],
                           order_ids: Sequence[str], tags: Iterable[str], counters: Sequence[str] = (),
                           *, tenant: str = "") -> None: ...
    async def order_counter(self, order_id: str, counter: str, tenant: str = "") -> int: ...
    async def relays_by_message_id(self, message_ids: Sequence[str],
                                   tenant: str = "") -> list[tuple[str, str]]: ...
    async def relays_by_order(self, order_id: str, marketplace: str | None, since: float,
                              tenant: str = "") -> list[tuple[str, str]]: ...

    # -- opt-out registry ---------------------------------------------------------------------------
    async def alias_status(self, alias: str, tenant: str = "") -> AliasStatus | None: ...
    async def alias_statuses(self, aliases: Sequence[str], tenant: str = "") -> dict[str, AliasStatus]:
        """The registered ones among ``aliases`` (lower-cased), in one read."""
        ...
    async def record_alias(self, alias: str, status: AliasStatus, *, marketplace: str | None,
                           order_id: str | None, evidence: str, source: str,
                           tenant: str = "") -> AliasRecord: ...
    async def get_alias(self, alias: str, tenant: str = "") -> AliasRecord | None: ...
    async def remove_alias(self, alias: str, tenant: str = "") -> bool: ...
    async def list_aliases(self, status: AliasStatus | None = None, search: str | None = None,
                           tenant: str | None = None) -> list[AliasRecord]: ...
    async def put_alias_record(self, record: AliasRecord) -> AliasRecord: ...

    # -- bounce notices -----------------------------------------------------------------------------
    async def store_evidence(self, raw: bytes) -> tuple[str, str]: ...
    async def read_evidence(self, reference: str) -> bytes | None: ...
    async def record_notice(self, kind: str, order_id: str | None, marketplace: str | None,
                            alias: str | None, matched_by: str | None, source: str,
                            report: dict[str, Any], tenant: str = "") -> int: ...
    async def record_bounce(self, notice: NoticeRow,
                            alias_updates: Sequence[AliasUpdate] = ()) -> RecordedBounce | None: ...
    async def notice(self, notice_id: int) -> dict[str, Any] | None: ...
    async def notices(self, alias: str | None = None, tenant: str | None = None,
                      limit: int = 1000) -> list[dict[str, Any]]: ...
    async def unmatched_notices(self, tenant: str | None = None) -> list[dict[str, Any]]: ...
    async def assign_notice(self, notice_id: int, alias: str) -> None: ...

    # -- decisions, audit and caps -------------------------------------------------------------------
    async def record_decision(self, ref: str, message_id: str, peer: str, mail_from: str,
                              rcpt_tos: Sequence[str], marketplace: str | None, action: str,
                              rules: Sequence[str], *, tenant: str = "", shadow: bool = False) -> None: ...
    async def decisions(self, since: float = 0.0, limit: int = 1000,
                        tenant: str | None = None) -> list[dict[str, Any]]: ...
    async def audit(self, actor: str, action: str, obj: str, reason: str) -> None: ...
    async def audit_log(self, limit: int = 200) -> list[dict[str, Any]]: ...
    async def reserve_send(self, tenant: str, marketplace: str, day: str, cap: int) -> bool: ...
    async def reserve_counter(self, order_id: str, counter: str, limit: int, tenant: str = "") -> bool:
        """Count one against ``order_id``'s ``counter`` if it is below ``limit``; False (and no
        count) when it is not. Atomic across instances."""
        ...
    async def release_counter(self, order_id: str, counter: str, tenant: str = "") -> None: ...
    async def release_send(self, tenant: str, marketplace: str, day: str) -> None: ...
    async def sends(self, tenant: str, marketplace: str, day: str) -> int: ...

    # -- quarantine ---------------------------------------------------------------------------------
    async def quarantine(self, data: bytes, *, peer: str, mail_from: str, rcpt_tos: Sequence[str],
                         message_id: str, subject: str, marketplace: str | None,
                         verdict: dict[str, Any], tenant: str = "") -> str: ...
    async def list_quarantine(self, status: str | None = "held",
                              tenant: str | None = None) -> list[QuarantineRecord]: ...
    async def get_quarantine(self, qid: str) -> QuarantineRecord | None: ...
    async def quarantined_bytes(self, qid: str) -> bytes | None: ...
    async def drop_quarantined_bytes(self, qid: str) -> None: ...
    async def claim_quarantine(self, qid: str, new_status: str, actor: str, reason: str,
                               instance: str = "") -> bool:
        """held -> ``new_status`` exactly once, with its audit record; a release remembers the
        ``instance`` that claimed it, until ``mark_release_spooled``."""
        ...
    async def mark_release_spooled(self, qid: str, queue_id: str) -> None: ...
    async def unspooled_releases(self, instance: str, claimed_before: float) -> list[QuarantineRecord]:
        """Releases ``instance`` claimed before ``claimed_before`` (epoch) and never marked spooled."""
        ...
    async def unclaim_quarantine(self, qid: str, actor: str, reason: str) -> bool: ...

    # -- reports ------------------------------------------------------------------------------------
    async def state_counts(self) -> tuple[int, dict[str, int]]:
        """(messages held in quarantine, bounce notices recorded by kind), for /metrics."""
        ...
    async def report(self, since: float = 0.0, top: int = 10,
                     tenant: str | None = None) -> dict[str, Any]: ...
    async def daily_counts(self, days: int = 14) -> list[dict[str, Any]]: ...

    # -- retention ----------------------------------------------------------------------------------
    async def prune(self, *, relays_before: float | None = None,
                    decisions_before: float | None = None) -> dict[str, int]:
        """Delete relay records (with their order links) sent before ``relays_before`` and
        decisions made before ``decisions_before`` (epoch seconds; None keeps all). Returns how
        many rows of each went. The registry, notices, quarantine and audit log are kept."""
        ...


class LoopPolicyState:
    """A ``PolicyStateView`` for a backend that is only reachable from the event loop.

    The engine evaluates in a worker thread; each question is handed to the loop and the thread
    waits for the answer (bounded by ``timeout``). Answers are cached for the one evaluation.
    """

    def __init__(self, store: Store, tenant: str, loop: asyncio.AbstractEventLoop,
                 timeout: float = 10.0, known: Mapping[str, AliasStatus | None] | None = None) -> None:
        self._store = store
        self.tenant = tenant
        self._loop = loop
        self._timeout = timeout
        self._reviews: dict[str, int] = {}
        self._aliases: dict[str, AliasStatus | None] = dict(known or {})

    @classmethod
    async def read_ahead(cls, store: Store, tenant: str, aliases: Sequence[str]) -> LoopPolicyState:
        """A view with ``aliases``' statuses already read (one query), on the running loop."""
        wanted = [a.lower() for a in aliases]
        found = await store.alias_statuses(wanted, tenant) if wanted else {}
        known: dict[str, AliasStatus | None] = {a: found.get(a) for a in wanted}
        return cls(store, tenant, asyncio.get_running_loop(), known=known)

    def review_requests(self, order_id: str) -> int:
        if order_id not in self._reviews:
            future = asyncio.run_coroutine_threadsafe(
                self._store.order_counter(order_id, REVIEW_COUNTER, self.tenant), self._loop)
            self._reviews[order_id] = future.result(self._timeout)
        return self._reviews[order_id]

    def alias_status(self, alias: str) -> AliasStatus | None:
        key = alias.lower()
        if key not in self._aliases:
            future = asyncio.run_coroutine_threadsafe(self._store.alias_status(key, self.tenant), self._loop)
            self._aliases[key] = future.result(self._timeout)
        return self._aliases[key]


def report_from_rows(rows: Iterable[tuple[str, str | None, str, str, Any]], since: float, top: int,
                     tenant: str | None) -> dict[str, Any]:
    """``Store.report`` from (mail_from, marketplace, action, rules, shadow) decision rows.

    Shadow-mode decisions count as ``would-<action>`` (the mail was relayed), as in the log.
    """
    by_action: dict[str, int] = {}
    by_rule: dict[str, int] = {}
    by_marketplace: dict[str, int] = {}
    senders: dict[str, dict[str, int]] = {}
    total = 0
    for mail_from, marketplace, action, rules, shadow in rows:
        total += 1
        action = f"would-{action}" if shadow else action
        by_action[action] = by_action.get(action, 0) + 1
        market = marketplace or "none"
        by_marketplace[market] = by_marketplace.get(market, 0) + 1
        rule_list = rules.split() if rules else []
        for rule in rule_list:
            by_rule[rule] = by_rule.get(rule, 0) + 1
        # A violation is mail held or rejected (or that would have been, in shadow mode): hits on
        # relayed mail (informational rules such as critical-content) do not make a sender a violator.
        if rule_list and action.removeprefix("would-") in ("quarantine", "reject"):
            entry = senders.setdefault(mail_from, {"messages": 0, "hits": 0})
            entry["messages"] += 1
            entry["hits"] += len(rule_list)

    def ordered(counts: dict[str, int]) -> dict[str, int]:
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    top_senders = sorted(senders.items(), key=lambda kv: (-kv[1]["messages"], -kv[1]["hits"], kv[0]))[:top]
    return {"since": since, "tenant": tenant, "total": total, "by_action": ordered(by_action),
            "by_rule": ordered(by_rule), "by_marketplace": ordered(by_marketplace),
            "top_senders": [{"mail_from": m, **c} for m, c in top_senders]}


def daily_from_rows(rows: Iterable[tuple[str, str, str, Any]]) -> list[dict[str, Any]]:
    """``Store.daily_counts`` from (day, action, rules, shadow) decision rows, newest day first."""
    out: dict[str, dict[str, Any]] = {}
    for day, action, rules, shadow in rows:
        entry = out.setdefault(day, {"day": day, "actions": {}, "rules": {}})
        action = f"would-{action}" if shadow else action
        entry["actions"][action] = entry["actions"].get(action, 0) + 1
        for rule in (rules.split() if rules else []):
            entry["rules"][rule] = entry["rules"].get(rule, 0) + 1
    return [out[d] for d in sorted(out, reverse=True)]
