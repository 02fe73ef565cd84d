"""The state backends' interface by role: one small Protocol for each thing the gateway keeps.

A caller names the role it uses (the pipeline: relays, counters, decisions, quarantine; bounce
ingestion: the registry and notices; the admin pages: quarantine, audit, reports); ``Store``
(gateway/store/base.py) is all of them together, which each backend implements. Every method is
safe to call concurrently from the event loop; failures arrive as ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from gateway.policy.state import PolicyState
from gateway.store.records import (
    AliasRecord,
    AliasStatus,
    AliasUpdate,
    AuditEntry,
    DecisionRecord,
    Disagreement,
    NoticeRecord,
    NoticeRow,
    QuarantineRecord,
    RecordedBounce,
    RelayedMessage,
    TemplateState,
    TenantRestriction,
)

PolicyStateView = PolicyState
"""The policy engine's view of state (one type: ``gateway.policy.state.PolicyState``)."""


class StoreLifecycle(Protocol):
    backend: str
    """``sqlite`` or ``postgresql``: for logs, metrics and ``gateway db status``."""

    async def close(self) -> None: ...
    @property
    def is_open(self) -> bool: ...
    async def schema_version(self) -> int: ...
    async def policy_state(self, tenant: str = "", aliases: Sequence[str] = ()) -> PolicyState:
        """A view for the policy engine; call its methods from a worker thread, never the loop.

        ``aliases`` (the message's buyer aliases) may be read ahead, so the evaluating thread need
        not wait on the database for them.
        """
        ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Work that one instance sharing this store does at a time (e.g. polling one mailbox):
        yields True when this instance holds ``name`` for the block, False when another does."""
        ...


class Relays(Protocol):
    """What was relayed to which buyer alias, for which orders: bounce correlation reads it."""

    async def record_relay(self, queue_id: str, message_id: str, recipients: Sequence[tuple[str, str]],
                           order_ids: Sequence[str], tags: Iterable[str], counters: Sequence[str] = (),
                           *, tenant: str = "") -> None:
        """Record a relayed message, and count each of ``counters`` once for each of its orders."""
        ...
    async def relays_by_message_id(self, message_ids: Sequence[str],
                                   tenant: str = "") -> list[tuple[str, str]]: ...
    async def relays_by_order(self, order_id: str, marketplace: str | None, since: float,
                              tenant: str = "") -> list[tuple[str, str]]: ...
    async def prune(self, *, relays_before: float | None = None,
                    decisions_before: float | None = None) -> dict[str, int]:
        """Delete relay records (with their order links) sent before ``relays_before`` and
        decisions made before ``decisions_before`` (epoch seconds; None keeps all). Returns how
        many rows of each went (relayed messages go with their relays). The registry, notices,
        quarantine, audit log and disagreements are kept."""
        ...


class Counters(Protocol):
    """Per-order counts (one review request per order) and per-day sending caps."""

    async def order_counter(self, order_id: str, counter: str, tenant: str = "") -> int: ...
    async def reserve_counter(self, order_id: str, counter: str, limit: int, tenant: str = "") -> bool:
        """Count one against ``order_id``'s ``counter`` if it is below ``limit``; False (and no
        count) when it is not. Atomic across instances."""
        ...
    async def release_counter(self, order_id: str, counter: str, tenant: str = "") -> None: ...
    async def reserve_send(self, tenant: str, marketplace: str, day: str, cap: int) -> bool: ...
    async def release_send(self, tenant: str, marketplace: str, day: str) -> None: ...
    async def sends(self, tenant: str, marketplace: str, day: str) -> int: ...


class Registry(Protocol):
    """The opt-out registry: buyer aliases that opted out or are dead, per tenant."""

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


class Notices(Protocol):
    """Bounce notices as recorded, with their raw bytes (evidence)."""

    async def store_evidence(self, raw: bytes) -> tuple[str, str]: ...
    async def read_evidence(self, reference: str) -> bytes | None: ...
    async def record_notice(self, kind: str, order_id: str | None, marketplace: str | None,
                            alias: str | None, matched_by: str | None, source: str,
                            report: dict[str, Any], tenant: str = "") -> int: ...
    async def record_bounce(self, notice: NoticeRow,
                            alias_updates: Sequence[AliasUpdate] = ()) -> RecordedBounce | None: ...
    async def notice(self, notice_id: int) -> NoticeRecord | None: ...
    async def notices(self, alias: str | None = None, tenant: str | None = None,
                      limit: int = 1000) -> list[NoticeRecord]: ...
    async def unmatched_notices(self, tenant: str | None = None) -> list[NoticeRecord]: ...
    async def assign_notice(self, notice_id: int, alias: str) -> None: ...


class Decisions(Protocol):
    """Every decision about a marketplace message, and the reports made of them."""

    async def record_decision(self, ref: str, message_id: str, peer: str, mail_from: str,
                              rcpt_tos: Sequence[str], marketplace: str | None, action: str,
                              rules: Sequence[str], *, tenant: str = "", shadow: bool = False) -> None: ...
    async def decisions(self, since: float = 0.0, limit: int = 1000,
                        tenant: str | None = None) -> list[DecisionRecord]: ...
    async def report(self, since: float = 0.0, top: int = 10,
                     tenant: str | None = None) -> dict[str, Any]: ...
    async def daily_counts(self, days: int = 14) -> list[dict[str, Any]]: ...
    async def state_counts(self) -> tuple[int, dict[str, int]]:
        """(messages held in quarantine, bounce notices recorded by kind), for /metrics."""
        ...


class Audit(Protocol):
    """Who did what to which object, and why (admins' actions)."""

    async def audit(self, actor: str, action: str, obj: str, reason: str) -> None: ...
    async def audit_log(self, limit: int = 200) -> list[AuditEntry]: ...


class Quarantine(Protocol):
    """Messages held for review, and their exactly-once release."""

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


class Disagreements(Protocol):
    """Learning from Amazon's verdicts (gateway/learning.py): relayed messages as judged, the
    disagreements found when Amazon refuses one, template holds, restricted tenants."""

    async def record_relayed(self, message: RelayedMessage) -> None:
        """Keep what the gateway decided about a relayed message (beside its relay records)."""
        ...
    async def relayed_messages(self, tenant: str = "", *, message_ids: Sequence[str] = (),
                               order_id: str | None = None, alias: str | None = None, since: float = 0.0,
                               limit: int = 20) -> list[RelayedMessage]:
        """Relayed messages (newest first) matching all the criteria given: one of the Message-IDs,
        the order, the alias; sent at or after ``since``. A relay recorded without its details
        gives only its queue id, Message-ID and aliases. No criterion: an empty list."""
        ...
    async def record_disagreement(self, found: Disagreement) -> Disagreement | None: ...
    async def disagreement(self, disagreement_id: int) -> Disagreement | None: ...
    async def disagreements(self, tenant: str | None = None, since: float = 0.0, limit: int = 500,
                            template: TemplateState | None = None) -> list[Disagreement]: ...
    async def held_templates(self, tenant: str = "") -> list[Disagreement]: ...
    async def fix_templates(self, disagreement_ids: Sequence[int], actor: str, reason: str) -> list[int]: ...
    async def disagreement_counts(self, since: float = 0.0) -> dict[tuple[str, str], int]: ...
    async def restrict_tenant(self, restriction: TenantRestriction) -> TenantRestriction: ...
    async def tenant_restriction(self, tenant: str = "") -> TenantRestriction | None: ...
    async def restrictions(self, tenant: str | None = None,
                           active: bool | None = None) -> list[TenantRestriction]: ...
    async def clear_restriction(self, tenant: str, actor: str, reason: str) -> int: ...
