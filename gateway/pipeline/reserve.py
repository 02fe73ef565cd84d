"""The ``reserve`` stage: a relayed message takes its counts (daily caps per marketplace, per-order
counters a stateful rule limited) before it is stored, atomically in the store; ``check`` only
reads them."""

from __future__ import annotations

import dataclasses

from gateway.log import get_logger
from gateway.outcome import Cause, Disposition
from gateway.pipeline.entrances import Entrance
from gateway.pipeline.run import Run, Services
from gateway.policy.verdict import Action, Hit

log = get_logger("gateway.pipeline")


async def reserve(p: Services, run: Run) -> None:
    if not run.recipients or run.verdict.action not in (Action.RELAY, Action.REWRITE) or p.store is None:
        run.note("reserve", "skipped")
        return
    if not await _reserve_caps(p, run):
        return
    if not await _reserve_counters(p, run):
        await _release_caps(p, run)
        return
    detail = ", ".join([f"daily cap {m}" for m in run.caps] + [f"{t} {o}" for o, t in run.reserved])
    run.note("reserve", "passed", detail or "nothing to reserve")


async def _reserve_caps(p: Services, run: Run) -> bool:
    """Count a proactive message against each marketplace's daily cap (read only for check)."""
    store, tenant, verdict = p.store, run.tenant, run.verdict
    assert store is not None
    if verdict.reply or not tenant.daily_caps:
        return True
    shadow = run.shadow_of is not None
    for marketplace in dict.fromkeys(r.marketplace for r in run.recipients):
        cap = tenant.daily_cap(marketplace)
        if cap is None:
            continue
        if run.entrance is Entrance.CHECK:
            room = await store.sends(tenant.id, marketplace, run.day) < cap
        else:
            room = await store.reserve_send(tenant.id, marketplace, run.day, cap)
            if room:
                run.caps.append(marketplace)
        if room:
            continue
        log.warning("daily_cap_reached", tenant=tenant.id, marketplace=marketplace, cap=cap,
                    shadow=shadow, message_id=run.txn.message_id, entrance=str(run.entrance))
        if shadow:
            continue
        await _release_caps(p, run)
        run.finish(Disposition.DEFERRED, Cause.DAILY_CAP, "reserve", f"daily cap {marketplace} ({cap}) reached",
                   facts={"marketplace": marketplace, "cap": str(cap)})
        return False
    return True


async def _reserve_counters(p: Services, run: Run) -> bool:
    """Take the per-order counts a stateful rule limited (one review request per order), atomically
    in the store: of two messages for one order evaluated at the same moment (on two instances,
    or two sessions) only one gets the count. Which counts, and their limits, are data on the
    verdict (``counter_limits``, set by the rule that checked them)."""
    store, verdict = p.store, run.verdict
    assert store is not None
    if run.shadow_of is not None:
        return True
    rules = dict(verdict.counter_rules)
    for tag, limit in verdict.counter_limits:
        if tag not in verdict.tags:
            continue
        for order_id in verdict.order_ids:
            if run.entrance is Entrance.CHECK:
                if await store.order_counter(order_id, tag, run.tenant.id) < limit:
                    continue
            elif await store.reserve_counter(order_id, tag, limit, run.tenant.id):
                run.reserved.append((order_id, tag))
                continue
            await _release_counters(p, run)
            hit = Hit(rule=rules.get(tag, f"{tag}-limit"), action=Action.REJECT,
                      reason=f"Order {order_id} already had its {tag} (at most {limit}); "
                             "another message for it was relayed meanwhile",
                      evidence=order_id)
            run.verdict = dataclasses.replace(verdict, action=Action.REJECT, hits=(*verdict.hits, hit),
                                              smtp_code=None, enhanced_status=None)
            run.finish(Disposition.REFUSED, Cause.ORDER_COUNTER, "reserve", f"{tag} limit {limit} for {order_id}",
                       facts={"order_id": order_id, "counter": tag})
            return False
    return True


async def _release_caps(p: Services, run: Run) -> None:
    assert p.store is not None
    for marketplace in run.caps:
        await p.store.release_send(run.tenant.id, marketplace, run.day)
    run.caps.clear()


async def _release_counters(p: Services, run: Run) -> None:
    assert p.store is not None
    for order_id, tag in run.reserved:
        await p.store.release_counter(order_id, tag, run.tenant.id)
    run.reserved.clear()


async def release_reservations(p: Services, run: Run) -> None:
    """Give back what ``reserve`` took, when the message was not stored after all."""
    await _release_caps(p, run)
    await _release_counters(p, run)
