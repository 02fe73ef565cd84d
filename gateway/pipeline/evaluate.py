"""The deciding stages: ``classify`` (which recipients are marketplace aliases) and ``evaluate``
(the engine's verdict, a forced release's override, the registered-sender check)."""

from __future__ import annotations

import asyncio
import dataclasses
from email.utils import getaddresses

from gateway.evaluation import evaluate_policy
from gateway.log import get_logger
from gateway.outcome import Cause, Disposition
from gateway.pipeline.entrances import Entrance, Release
from gateway.pipeline.run import Run, Services
from gateway.policy.state import InMemoryPolicyState, PolicyState
from gateway.policy.verdict import Action, Hit, Verdict, most_severe
from gateway.tenants import PolicyEvaluator
from gateway.transaction import Transaction

log = get_logger("gateway.pipeline")

SENDER_NOT_REGISTERED = "sender-not-registered"


async def classify(p: Services, run: Run) -> None:
    run.txn.marketplace_recipients = p.classifier.marketplace_recipients(run.txn.rcpt_tos)
    markets = sorted({r.marketplace for r in run.recipients})
    run.note("classify", "passed", f"marketplace recipients: {len(run.recipients)}"
             + (f" ({', '.join(markets)})" if markets else ""))


async def evaluate(p: Services, run: Run) -> None:
    policy: PolicyEvaluator | None = run.tenant.policy
    if not run.recipients:
        run.note("evaluate", "skipped", "no marketplace recipient")
        return
    release = run.release
    forced = release is not None and (release.force or run.entrance is Entrance.RECOVERY)
    if policy is None or not p.config.policy.enabled:
        if release is not None and not forced:
            run.finish(Disposition.REFUSED, Cause.NO_POLICY, "evaluate",
                       "no policy engine to re-check with; release with force and a reason")
            return
        if release is not None:
            run.verdict = _held_rewrite(release, run.txn, run.recipients[0].marketplace)
        run.note("evaluate", "skipped", "no policy engine")
    else:
        verdict = await engine_verdict(p, run, policy)
        if verdict is None:
            return
        run.verdict = verdict
        run.order_ids_read = getattr(policy, "reads_order_ids", False) is True
        detail = f"{verdict.action}" + (f": {', '.join(h.rule for h in verdict.hits)}" if verdict.hits else "")
        run.note("evaluate", "changed" if verdict.action is not Action.RELAY else "passed", detail)
        if forced and verdict.action in (Action.QUARANTINE, Action.REJECT):
            await _force(run, policy)
    _check_registered_sender(run)


async def engine_verdict(p: Services, run: Run, policy: PolicyEvaluator) -> Verdict | None:
    """The engine's verdict on ``run``'s message, or None when it timed out (``run`` is then decided:
    deferred)."""
    aliases = [r.alias for r in run.recipients]
    # Without a store (``gateway check`` without --config) nothing is recorded yet.
    state: PolicyState = (InMemoryPolicyState() if p.store is None
                          else await p.store.policy_state(run.tenant.id, aliases))
    try:
        # Policy work is CPU-bound: a worker process, ended when the client must hear back.
        async with asyncio.timeout(p.config.policy.evaluation_timeout):
            return await evaluate_policy(policy, run.txn.data, run.recipients, state,
                                         p.config.policy.evaluation_isolation)
    except TimeoutError:
        log.error("policy_timeout", tenant=run.tenant.id, peer=run.txn.peer, message_id=run.txn.message_id,
                  rcpt_tos=run.txn.rcpt_tos, size=run.txn.size, entrance=str(run.entrance))
        run.finish(Disposition.DEFERRED, Cause.TIMEOUT, "evaluate", "policy evaluation timed out")
        return None


async def _force(run: Run, policy: PolicyEvaluator) -> None:
    """A forced release: the verdict's action is overridden, its subject rewrite is kept."""
    verdict = run.verdict
    rewritten = await asyncio.to_thread(policy.apply, run.txn.data,
                                        dataclasses.replace(verdict, action=Action.REWRITE))
    action = Action.REWRITE if rewritten != run.txn.data else Action.RELAY
    run.verdict = dataclasses.replace(verdict, action=action, smtp_code=None, enhanced_status=None)
    who = run.release.actor if run.release is not None else ""
    run.note("evaluate", "changed", f"forced by {who}: {verdict.action} overridden, relayed as {action}")


def _check_registered_sender(run: Run) -> None:
    """Amazon rejects mail from a From address not registered for the marketplace: so do we."""
    txn = run.txn
    sender: str | None = None  # the From header is read only where a marketplace lists senders
    hits = []
    for marketplace in dict.fromkeys(r.marketplace for r in run.recipients):
        registered = run.tenant.registered_senders(marketplace)
        if registered is None:
            continue
        if sender is None:
            from_addresses = [a.lower() for _, a in getaddresses([txn.header("From")]) if a]
            sender = from_addresses[0] if from_addresses else txn.mail_from.lower()
        if sender not in registered:
            hits.append(Hit(
                rule=SENDER_NOT_REGISTERED, action=Action.REJECT,
                reason=f"From address is not registered with marketplace {marketplace}; "
                       "Amazon rejects mail from unregistered sender addresses",
                evidence=sender))
    if not hits:
        return
    all_hits = (*run.verdict.hits, *hits)
    run.verdict = dataclasses.replace(run.verdict, hits=all_hits,
                                      action=most_severe([h.action for h in all_hits]))
    run.note("evaluate", "changed", f"{SENDER_NOT_REGISTERED}: {sender}")


def _held_rewrite(release: Release, txn: Transaction, marketplace: str) -> Verdict:
    """Without an engine, a release keeps the subject rewrite the message was held with."""
    from gateway.policy.content import decode_header_value

    subject = release.held_verdict.get("subject")
    if isinstance(subject, str) and subject and subject != decode_header_value(txn.header("Subject")):
        return Verdict(action=Action.REWRITE, subject=subject, marketplace=marketplace)
    return Verdict(action=Action.RELAY, marketplace=marketplace)
