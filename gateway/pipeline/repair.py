"""The stages that may change a verdict before it takes effect: ``repair`` (strip what the rules
found, then decide again) and ``shadow`` (record what would have happened, relay as it came)."""

from __future__ import annotations

import asyncio
import dataclasses

from gateway.pipeline.entrances import Entrance
from gateway.pipeline.evaluate import engine_verdict
from gateway.pipeline.run import Run, Services
from gateway.policy.verdict import Action, Hit, Verdict, most_severe
from gateway.repair import RepairOptions
from gateway.repair import repair as repair_message
from gateway.tenants import PolicyEvaluator


async def repair(p: Services, run: Run) -> None:
    """The ``strip`` action: remove what the rules found (a tracking pixel, a linked logo, ...),
    evaluate the repaired message again and relay it if it now passes; otherwise the verdict
    stands, with what could not be stripped held. Other rules' hits do not stop the attempt
    (a linked logo is also an external link), the re-evaluation decides."""
    verdict = run.verdict
    strip_hits = [h for h in verdict.hits if h.action is Action.STRIP]
    if not strip_hits:
        run.note("repair", "skipped")
        return
    kinds = frozenset(h.repair for h in strip_hits if h.repair)
    if run.tenant.shadow and run.entrance in (Entrance.SMTP, Entrance.CHECK):
        run.note("repair", "skipped", f"shadow mode: would strip {', '.join(sorted(kinds))}")
        return
    policy: PolicyEvaluator | None = run.tenant.policy
    allow = (*p.config.policy.link_allow_domains,
             *(f"amazon.{tld}" for tld in p.config.marketplace.tlds))
    repaired = await asyncio.to_thread(repair_message, run.txn.data, RepairOptions(kinds=kinds, allow_domains=allow))
    after: Verdict | None = None
    if repaired.changed and policy is not None:
        fixed_run = dataclasses.replace(run, txn=dataclasses.replace(run.txn, data=repaired.raw), stages=[])
        after = await engine_verdict(p, fixed_run, policy)
        if after is None:  # the re-check timed out: that run already decided (deferred)
            run.outcome, run.stages = fixed_run.outcome, [*run.stages, *fixed_run.stages]
            return
    if after is not None and after.action in (Action.RELAY, Action.REWRITE):
        removed = tuple((r.kind, r.what, r.where) for r in repaired.removals)
        recorded = tuple(Hit(h.rule, Action.STRIP, f"{h.reason}: removed before relaying", h.evidence, h.repair)
                         for h in strip_hits)
        run.txn = dataclasses.replace(run.txn, data=repaired.raw)
        run.data = repaired.raw
        run.verdict = dataclasses.replace(after, hits=(*recorded, *after.hits), repairs=removed)
        run.note("repair", "changed", f"removed {', '.join(repaired.kinds)}; the repaired message passes")
        return
    # Not repairable here: the message is held for an admin, with the rules' reasons.
    held = tuple(dataclasses.replace(h, action=Action.QUARANTINE, reason=f"{h.reason} (could not be repaired)")
                 if h.action is Action.STRIP else h for h in verdict.hits)
    run.verdict = dataclasses.replace(verdict, hits=held, action=most_severe([h.action for h in held]))
    run.note("repair", "changed", "could not be repaired: " + (
        f"still {after.action} after removing {', '.join(repaired.kinds)}" if after is not None
        else "nothing removable found"))


async def shadow(p: Services, run: Run) -> None:
    """Shadow mode: record what would have happened, relay the message as it came."""
    if not run.tenant.shadow or run.verdict.action is Action.RELAY:
        run.note("shadow", "skipped", "" if run.tenant.shadow else "tenant not in shadow mode")
        return
    run.shadow_of = run.verdict
    run.verdict = dataclasses.replace(run.verdict, action=Action.RELAY, subject="")
    run.note("shadow", "changed", f"would {run.shadow_of.action}; relayed as it came")
