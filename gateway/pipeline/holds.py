"""Two pipeline stages that apply what Amazon's verdicts taught (gateway/learning.py).

* ``restriction`` (after evaluate): while Amazon restricts the tenant's proactive messaging, a
  proactive message is refused with 550 5.7.1 naming the restriction and its date; replies in a
  buyer-initiated thread pass (Amazon allows them in that state), and order-critical mail only
  with ``[learning] restricted_allow_critical``. Amazon enforces a restriction whatever we decide,
  so it applies to an admin's release too, forced or not.
* ``template-hold`` (after repair): a message that would be relayed and whose template matches a
  message Amazon refused (a held disagreement) is held for review with the rule
  ``template-disagreed``, until an admin marks the template fixed. A message the rules hold or
  refuse by themselves is left to them (a rule covers it). An admin's release is never held again.

What is held or restricted is read from the store at most every ``[learning] state_seconds`` per
tenant (one small query; nothing at all is computed for a tenant with no holds).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from gateway.fingerprint import Fingerprint
from gateway.learning import learned_state
from gateway.pipeline.run import Run, Services
from gateway.policy.verdict import Action, Hit, most_severe
from gateway.store.base import Disagreement

TEMPLATE_DISAGREED = "template-disagreed"
TENANT_RESTRICTED = "tenant-restricted"


def _day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


async def restriction(pipeline: Services, run: Run) -> None:
    store = pipeline.store
    if not run.recipients or store is None:
        return
    state = await learned_state(store).of(run.tenant.id, pipeline.config.learning.state_seconds)
    restriction = state.restriction
    if restriction is None:
        return
    verdict = run.verdict
    if run.tenant.policy is None or not pipeline.config.policy.enabled:
        # Without the engine a reply cannot be told from proactive mail: refusing replies (which
        # Amazon still delivers) would be the worse error.
        run.note("restriction", "skipped", "tenant restricted, but no policy engine tells replies apart")
        return
    if verdict.reply:
        run.note("restriction", "passed", f"tenant restricted since {_day(restriction.since)}; a reply may be sent")
        return
    if verdict.critical and pipeline.config.learning.restricted_allow_critical:
        run.note("restriction", "passed", f"tenant restricted since {_day(restriction.since)}; critical mail allowed")
        return
    notice = f" (notice #{restriction.notice_id})" if restriction.notice_id is not None else ""
    hit = Hit(rule=TENANT_RESTRICTED, action=Action.REJECT,
              reason=f"Amazon restricted this seller account's proactive messaging on {_day(restriction.since)}"
                     f"{notice}; only replies to buyers' messages can be sent until an admin clears the"
                     " restriction",
              evidence=restriction.reason[:300])
    run.verdict = dataclasses.replace(verdict, action=Action.REJECT, hits=(*verdict.hits, hit), smtp_code=550,
                                      enhanced_status="5.7.1")
    run.note("restriction", "changed", f"{TENANT_RESTRICTED} since {_day(restriction.since)}")


async def template_hold(pipeline: Services, run: Run) -> None:
    store, learning = pipeline.store, pipeline.config.learning
    if not run.recipients or store is None or not learning.hold_templates:
        return
    state = await learned_state(store).of(run.tenant.id, learning.state_seconds)
    if not state.held:
        return
    verdict = run.verdict
    if verdict.action not in (Action.RELAY, Action.REWRITE):
        run.note("template-hold", "skipped", f"the rules decided {verdict.action} already")
        return
    if not verdict.fingerprint:
        run.note("template-hold", "skipped", "no template fingerprint (made by the policy engine)")
        return
    mine = Fingerprint.decode(verdict.fingerprint)
    # ~20 µs a comparison: a long list of held templates is compared off the event loop.
    scores = ([mine.similarity(h.fingerprint) for h in state.held] if len(state.held) <= 16 else
              await asyncio.to_thread(lambda: [mine.similarity(h.fingerprint) for h in state.held]))
    best: tuple[float, Disagreement] | None = None
    for score, held in zip(scores, state.held, strict=True):
        if score >= learning.template_similarity and (best is None or score > best[0]):
            best = (score, held.disagreement)
    if best is None:
        run.note("template-hold", "passed", f"no match among {len(state.held)} held template(s)")
        return
    score, disagreement = best
    hit = Hit(rule=TEMPLATE_DISAGREED, action=Action.QUARANTINE,
              reason=f"Amazon refused a message of this template on {_day(disagreement.notice_date)}"
                     f" (disagreement #{disagreement.id}: {disagreement.reason[:160]}); held until an admin"
                     " marks the template fixed",
              evidence=f"similarity {score:.2f} to {disagreement.relayed.queue_id if disagreement.relayed else '?'}")
    hits = (*verdict.hits, hit)
    run.verdict = dataclasses.replace(verdict, action=most_severe([h.action for h in hits]), hits=hits)
    run.note("template-hold", "changed", f"{TEMPLATE_DISAGREED}: disagreement #{disagreement.id} ({score:.2f})")
