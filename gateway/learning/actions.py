"""Admins' actions on what was learned, and the report of disagreements."""

from __future__ import annotations

from typing import Any

from gateway.fingerprint import Fingerprint
from gateway.learning.state import learned_state
from gateway.log import get_logger
from gateway.store.base import Store
from gateway.store.records import LearningCounts

log = get_logger("gateway.learning")


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
