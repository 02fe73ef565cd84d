"""What every state backend offers: the ``Store`` interface (all the roles of
gateway/store/roles.py), with the records (gateway/store/records.py) and helpers they share.

Two backends implement it: ``SQLiteStore`` (the embedded default, one file in the state
directory) and ``PostgresStore`` (shared by several gateway instances). Callers hold a ``Store``
and await its methods; none of them knows which backend is behind it. The policy engine runs in
worker threads and reads state through ``Store.policy_state`` (a synchronous view).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from gateway.errors import StoreError
from gateway.store.records import (
    ALIAS_STATUSES,
    EVIDENCE_DIR,
    REVIEW_COUNTER,
    AliasRecord,
    AliasStatus,
    AliasUpdate,
    AuditEntry,
    DecisionRecord,
    Disagreement,
    HitRecord,
    NoticeRecord,
    NoticeRow,
    QuarantineRecord,
    RecordedBounce,
    RelayedMessage,
    TenantRestriction,
    evidence_digest,
    evidence_reference,
)
from gateway.store.roles import (
    Audit,
    Counters,
    Decisions,
    Disagreements,
    Notices,
    PolicyStateView,
    Quarantine,
    Registry,
    Relays,
    StoreLifecycle,
)

# Callers import the records and the error from here: one place for the store's vocabulary.
__all__ = ["ALIAS_STATUSES", "EVIDENCE_DIR", "REVIEW_COUNTER", "AliasRecord", "AliasStatus", "AliasUpdate",
           "AuditEntry", "DecisionRecord", "Disagreement", "HitRecord", "LoopPolicyState", "NoticeRecord",
           "NoticeRow", "PolicyStateView", "QuarantineRecord", "RecordedBounce", "RelayedMessage", "Store",
           "StoreError", "TenantRestriction", "daily_from_rows", "evidence_digest", "evidence_reference",
           "report_from_rows"]


class Store(StoreLifecycle, Relays, Counters, Registry, Notices, Decisions, Audit, Quarantine, Disagreements,
            Protocol):
    """The gateway's shared state: every role (gateway/store/roles.py) in one backend."""

    async def open(self) -> Store: ...



class LoopPolicyState:
    """A ``PolicyState`` view for a backend that is only reachable from the event loop.

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
