"""One path for every message, whichever way it enters: SMTP, a quarantine release, release
recovery, or ``gateway check``.

A table of stages, in the spirit of Mailman 3's chains and Haraka's hook stages::

    classify -> evaluate -> shadow -> reserve -> store -> record -> notify

Each stage reads and changes one ``Run`` (the message, its tenant, the verdict so far) and may
end it with an ``Outcome``; ``record`` also runs after a decision (every decision is logged and
recorded). Which stages an entrance runs is data in ``STAGES``:

- ``smtp``: all of them.
- ``release``: no shadow (an admin's release is never a dry run); ``store`` claims the quarantined
  message exactly once before spooling it. ``force`` overrides the engine's verdict, never its
  rewrite (a held keyword misuse is relayed without the keyword), and never the registered-sender
  check, the daily caps or the per-order counters: Amazon enforces those whatever we decide.
- ``recovery``: a release claimed earlier and never spooled (the process died in between); the
  release was approved then, so it runs as a forced release. Its reservations were taken by the
  run that died, so ``reserve`` does not take them again (per-order counts are still recorded).
- ``check``: ``gateway check``; caps and counters are read, not reserved, nothing is stored.

The verdict is made by the engine and the registered-sender check (``evaluate``), may be turned
into "relay as it came" by shadow mode, and becomes an effect only in ``store``: "defer, then
decide".
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import getaddresses
from enum import StrEnum
from typing import Any

from gateway.classify import Classifier, MarketplaceRecipient
from gateway.config import GatewayConfig
from gateway.errors import StoreError
from gateway.evaluation import evaluate_policy
from gateway.log import get_logger
from gateway.metrics import GatewayMetrics
from gateway.orderids import order_ids_in_message
from gateway.outcome import Cause, Disposition, Outcome, StageResult
from gateway.policy.verdict import Action, Hit, Verdict, most_severe
from gateway.repair import RepairOptions, repair
from gateway.signing import DkimSigner
from gateway.spool import Spool, SpoolCorrupt, SpoolError
from gateway.store.base import AliasStatus, PolicyStateView, Store
from gateway.tenants import PolicyEvaluator, Tenant
from gateway.transaction import Transaction

log = get_logger("gateway.pipeline")

SENDER_NOT_REGISTERED = "sender-not-registered"


class Entrance(StrEnum):
    SMTP = "smtp"
    RELEASE = "release"
    RECOVERY = "recovery"
    CHECK = "check"


@dataclass(frozen=True)
class Release:
    """A quarantined message on its way out: who releases it, why, and what it was held with."""

    quarantine_id: str
    actor: str
    reason: str
    force: bool = False
    instance: str = ""
    """The instance claiming it (see ``Store.claim_quarantine``)."""
    held_verdict: Mapping[str, Any] = field(default_factory=dict)
    """The verdict it was held with (its ``subject`` is the rewrite, for a release without an engine)."""


@dataclass
class Run:
    """One message's way through the stages."""

    txn: Transaction
    tenant: Tenant
    entrance: Entrance
    release: Release | None = None
    verdict: Verdict = field(default_factory=lambda: Verdict(action=Action.RELAY))
    shadow_of: Verdict | None = None
    """In shadow mode: the decision that was not applied."""
    data: bytes = b""
    """The bytes to store (after any subject rewrite)."""
    day: str = ""
    caps: list[str] = field(default_factory=list)
    """Marketplaces whose daily cap this message took a count of."""
    reserved: list[tuple[str, str]] = field(default_factory=list)
    """(order id, tag) counts reserved for it."""
    stages: list[StageResult] = field(default_factory=list)
    outcome: Outcome | None = None
    order_ids_read: bool = False
    """The verdict's order_ids are the message's (an engine that ``reads_order_ids`` made it): an
    empty tuple means none, and the message is not read again for them."""

    @property
    def recipients(self) -> list[MarketplaceRecipient]:
        return self.txn.marketplace_recipients

    def note(self, stage: str, result: str, detail: str = "") -> None:
        self.stages.append(StageResult(stage, result, detail))

    def finish(self, disposition: Disposition, cause: Cause, stage: str, detail: str = "", *,
               queue_id: str = "", quarantine_id: str = "", facts: dict[str, str] | None = None) -> None:
        result = "passed" if disposition is Disposition.QUEUED and cause is Cause.ACCEPTED else "decided"
        self.note(stage, result, detail)
        self.outcome = Outcome(disposition, cause, self.shadow_of or self.verdict, queue_id=queue_id,
                               quarantine_id=quarantine_id, shadow=self.shadow_of is not None,
                               detail=facts or {}, data=self.data if disposition is Disposition.QUEUED else b"")


class _NoState:
    """The policy state where no store is open (``gateway check`` without ``--config``): nothing
    recorded yet."""

    def review_requests(self, order_id: str) -> int:
        return 0

    def alias_status(self, alias: str) -> AliasStatus | None:
        return None


def utc_day(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


StageFn = Callable[["Pipeline", Run], Awaitable[None]]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn
    entrances: frozenset[Entrance]
    after_decision: bool = False
    """Runs also when an earlier stage ended the run (``record``: every decision is recorded;
    ``notify``: delivery is told of what ``store`` queued)."""


class Pipeline:
    """Runs the stage table for one message. Shared by the SMTP processor, quarantine review and
    ``gateway check``; ``store`` and ``spool`` may be None for ``check`` (nothing is written)."""

    def __init__(self, config: GatewayConfig, store: Store | None, spool: Spool | None = None,
                 notify: Callable[[], None] | None = None, metrics: GatewayMetrics | None = None) -> None:
        self.store = store
        self.spool = spool
        self.notify = notify
        self.metrics = metrics
        self._pending_records: set[asyncio.Task[None]] = set()
        self.reconfigure(config)

    def reconfigure(self, config: GatewayConfig) -> None:
        """Swap in a new config; a DkimError (an unreadable key file) leaves the old one in place."""
        signer = DkimSigner.from_config(config.dkim)
        self.config = config
        self.signer = signer
        self.classifier = Classifier(config.marketplace.tlds, config.marketplace.domain_prefix)

    async def run(self, txn: Transaction, tenant: Tenant, entrance: Entrance = Entrance.SMTP,
                  release: Release | None = None) -> Outcome:
        run = Run(txn=txn, tenant=tenant, entrance=entrance, release=release, data=txn.data, day=utc_day())
        for stage in STAGES:
            if entrance not in stage.entrances:
                continue
            if run.outcome is not None and not stage.after_decision:
                continue
            await stage.run(self, run)
        assert run.outcome is not None, "the store stage always decides"
        return dataclasses.replace(run.outcome, stages=tuple(run.stages))

    async def drain(self) -> None:
        """Wait for relay records still being written (at shutdown)."""
        while self._pending_records:
            await asyncio.gather(*self._pending_records)

    # -- classify ---------------------------------------------------------------------------------
    async def _classify(self, run: Run) -> None:
        run.txn.marketplace_recipients = self.classifier.marketplace_recipients(run.txn.rcpt_tos)
        markets = sorted({r.marketplace for r in run.recipients})
        run.note("classify", "passed", f"marketplace recipients: {len(run.recipients)}"
                 + (f" ({', '.join(markets)})" if markets else ""))

    # -- evaluate ---------------------------------------------------------------------------------
    async def _evaluate(self, run: Run) -> None:
        policy: PolicyEvaluator | None = run.tenant.policy
        if not run.recipients:
            run.note("evaluate", "skipped", "no marketplace recipient")
            return
        release = run.release
        forced = release is not None and (release.force or run.entrance is Entrance.RECOVERY)
        if policy is None or not self.config.policy.enabled:
            if release is not None and not forced:
                run.finish(Disposition.REFUSED, Cause.NO_POLICY, "evaluate",
                           "no policy engine to re-check with; release with force and a reason")
                return
            if release is not None:
                run.verdict = _held_rewrite(release, run.txn, run.recipients[0].marketplace)
            run.note("evaluate", "skipped", "no policy engine")
        else:
            verdict = await self._engine_verdict(run, policy)
            if verdict is None:
                return
            run.verdict = verdict
            run.order_ids_read = getattr(policy, "reads_order_ids", False) is True
            detail = f"{verdict.action}" + (f": {', '.join(h.rule for h in verdict.hits)}" if verdict.hits else "")
            run.note("evaluate", "changed" if verdict.action is not Action.RELAY else "passed", detail)
            if forced and verdict.action in (Action.QUARANTINE, Action.REJECT):
                await self._force(run, policy)
        self._check_registered_sender(run)

    async def _engine_verdict(self, run: Run, policy: PolicyEvaluator) -> Verdict | None:
        aliases = [r.alias for r in run.recipients]
        state: PolicyStateView = (_NoState() if self.store is None
                                  else await self.store.policy_state(run.tenant.id, aliases))
        try:
            # Policy work is CPU-bound: a worker process, ended when the client must hear back.
            async with asyncio.timeout(self.config.policy.evaluation_timeout):
                return await evaluate_policy(policy, run.txn.data, run.recipients, state,
                                             self.config.policy.evaluation_isolation)
        except TimeoutError:
            log.error("policy_timeout", tenant=run.tenant.id, peer=run.txn.peer, message_id=run.txn.message_id,
                      rcpt_tos=run.txn.rcpt_tos, size=run.txn.size, entrance=str(run.entrance))
            run.finish(Disposition.DEFERRED, Cause.TIMEOUT, "evaluate", "policy evaluation timed out")
            return None

    async def _force(self, run: Run, policy: PolicyEvaluator) -> None:
        """A forced release: the verdict's action is overridden, its subject rewrite is kept."""
        verdict = run.verdict
        rewritten = await asyncio.to_thread(policy.apply, run.txn.data,
                                            dataclasses.replace(verdict, action=Action.REWRITE))
        action = Action.REWRITE if rewritten != run.txn.data else Action.RELAY
        run.verdict = dataclasses.replace(verdict, action=action, smtp_code=None, enhanced_status=None)
        who = run.release.actor if run.release is not None else ""
        run.note("evaluate", "changed", f"forced by {who}: {verdict.action} overridden, relayed as {action}")

    def _check_registered_sender(self, run: Run) -> None:
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

    # -- repair -----------------------------------------------------------------------------------
    async def _repair(self, run: Run) -> None:
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
        allow = (*self.config.policy.link_allow_domains,
                 *(f"amazon.{tld}" for tld in self.config.marketplace.tlds))
        repaired = await asyncio.to_thread(repair, run.txn.data, RepairOptions(kinds=kinds, allow_domains=allow))
        after: Verdict | None = None
        if repaired.changed and policy is not None:
            fixed_run = dataclasses.replace(run, txn=dataclasses.replace(run.txn, data=repaired.raw), stages=[])
            after = await self._engine_verdict(fixed_run, policy)
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

    # -- shadow -----------------------------------------------------------------------------------
    async def _shadow(self, run: Run) -> None:
        """Shadow mode: record what would have happened, relay the message as it came."""
        if not run.tenant.shadow or run.verdict.action is Action.RELAY:
            run.note("shadow", "skipped", "" if run.tenant.shadow else "tenant not in shadow mode")
            return
        run.shadow_of = run.verdict
        run.verdict = dataclasses.replace(run.verdict, action=Action.RELAY, subject="")
        run.note("shadow", "changed", f"would {run.shadow_of.action}; relayed as it came")

    # -- reserve ----------------------------------------------------------------------------------
    async def _reserve(self, run: Run) -> None:
        if not run.recipients or run.verdict.action not in (Action.RELAY, Action.REWRITE) or self.store is None:
            run.note("reserve", "skipped")
            return
        if not await self._reserve_caps(run):
            return
        if not await self._reserve_counters(run):
            await self._release_caps(run)
            return
        detail = ", ".join([f"daily cap {m}" for m in run.caps] + [f"{t} {o}" for o, t in run.reserved])
        run.note("reserve", "passed", detail or "nothing to reserve")

    async def _reserve_caps(self, run: Run) -> bool:
        """Count a proactive message against each marketplace's daily cap (read only for check)."""
        store, tenant, verdict = self.store, run.tenant, run.verdict
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
            await self._release_caps(run)
            run.finish(Disposition.DEFERRED, Cause.DAILY_CAP, "reserve", f"daily cap {marketplace} ({cap}) reached",
                       facts={"marketplace": marketplace, "cap": str(cap)})
            return False
        return True

    async def _reserve_counters(self, run: Run) -> bool:
        """Take the per-order counts a stateful rule limited (one review request per order), atomically
        in the store: of two messages for one order evaluated at the same moment (on two instances,
        or two sessions) only one gets the count. Which counts, and their limits, are data on the
        verdict (``counter_limits``, set by the rule that checked them)."""
        store, verdict = self.store, run.verdict
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
                await self._release_counters(run)
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

    async def _release_caps(self, run: Run) -> None:
        assert self.store is not None
        for marketplace in run.caps:
            await self.store.release_send(run.tenant.id, marketplace, run.day)
        run.caps.clear()

    async def _release_counters(self, run: Run) -> None:
        assert self.store is not None
        for order_id, tag in run.reserved:
            await self.store.release_counter(order_id, tag, run.tenant.id)
        run.reserved.clear()

    async def _release_reservations(self, run: Run) -> None:
        await self._release_caps(run)
        await self._release_counters(run)

    # -- store ------------------------------------------------------------------------------------
    async def _store(self, run: Run) -> None:
        action = run.verdict.action
        if action is Action.REJECT:
            run.finish(Disposition.REFUSED, Cause.POLICY, "store", "refused: not stored")
            return
        if action is Action.QUARANTINE and run.entrance is not Entrance.SMTP:
            if run.entrance is Entrance.CHECK:
                run.finish(Disposition.HELD, Cause.POLICY, "store", "would be held for review")
            else:  # a release the re-check still holds: it stays where it is
                run.finish(Disposition.REFUSED, Cause.POLICY, "store", "the re-check still holds it")
            return
        if action is Action.QUARANTINE:
            await self._quarantine(run)
            return
        if action is Action.REWRITE:
            policy: PolicyEvaluator | None = run.tenant.policy
            if policy is not None:
                run.data = await asyncio.to_thread(policy.apply, run.txn.data, run.verdict)
            elif run.release is not None:
                run.data = _replace_subject(run.txn.data, run.verdict.subject)
        if run.entrance is Entrance.CHECK:
            run.finish(Disposition.QUEUED, Cause.ACCEPTED, "store", "would be queued")
            return
        await self._spool(run)

    async def _quarantine(self, run: Run) -> None:
        txn, verdict = run.txn, run.verdict
        assert self.store is not None
        try:
            qid = await self.store.quarantine(
                txn.data, peer=txn.peer, mail_from=txn.mail_from, rcpt_tos=txn.rcpt_tos,
                message_id=txn.message_id, subject=txn.header("Subject"),
                marketplace=verdict.marketplace, verdict=verdict.as_json(), tenant=run.tenant.id)
        except (StoreError, OSError) as exc:
            log.error("quarantine_store_failed", error=str(exc), message_id=txn.message_id)
            run.finish(Disposition.DEFERRED, Cause.STORAGE, "store", f"quarantine failed: {exc}")
            return
        run.finish(Disposition.HELD, Cause.POLICY, "store", f"held as {qid}", quarantine_id=qid)

    async def _spool(self, run: Run) -> None:
        txn, verdict, release = run.txn, run.verdict, run.release
        assert self.spool is not None and self.store is not None
        meta = {"message_id": txn.message_id, "peer": txn.peer, "action": str(verdict.action),
                "marketplace": verdict.marketplace, "tenant": run.tenant.id}
        if release is not None:
            meta.update(action="release", quarantine_id=release.quarantine_id, released_by=release.actor)
        if run.entrance is Entrance.RELEASE:
            assert release is not None
            why = release.reason.strip() or "re-check passed"
            if release.force:
                why = f"forced: {why}"
            if not await self.store.claim_quarantine(release.quarantine_id, "released", release.actor, why,
                                                     instance=release.instance):
                await self._release_reservations(run)
                run.finish(Disposition.REFUSED, Cause.NOT_HELD, "store",
                           f"{release.quarantine_id} was released or deleted by someone else")
                return
        await self._sign(run)
        try:
            queue_id = await self.spool.put(txn.mail_from, txn.rcpt_tos, run.data, meta, queue_id=txn.queue_id)
        except (SpoolError, ValueError) as exc:
            log.error("spool_failed", error=str(exc), message_id=txn.message_id, peer=txn.peer,
                      entrance=str(run.entrance))
            await self._release_reservations(run)
            if run.entrance is Entrance.RELEASE:
                assert release is not None
                await self.store.unclaim_quarantine(release.quarantine_id, release.actor, f"spool refused: {exc}")
            damaged = {"spool_damaged": "yes"} if isinstance(exc, SpoolCorrupt) else {}
            run.finish(Disposition.DEFERRED, Cause.STORAGE, "store", f"spool refused: {exc}",
                       facts={"error": str(exc), **damaged})
            return
        if release is not None:
            # From here the spool has it: a crash before the next line is repaired by release
            # recovery finding the message in the spool, not by spooling it twice.
            await self.store.mark_release_spooled(release.quarantine_id, queue_id)
        run.finish(Disposition.QUEUED, Cause.ACCEPTED, "store", f"queued as {queue_id}", queue_id=queue_id)

    async def _sign(self, run: Run) -> None:
        """DKIM-sign what is relayed, for the From domain's key: a subject rewrite (or a repair)
        breaks a signature made before the gateway, so the gateway's replaces it."""
        signer = self.signer
        if signer is None or (self.config.dkim.sign == "changed" and run.data == run.txn.data):
            return
        signed = await asyncio.to_thread(signer.sign, run.data)
        if signed.domain is None:
            run.note("sign", "skipped", "no DKIM key for the From domain")
            return
        run.data = signed.raw
        run.note("sign", "changed", f"DKIM d={signed.domain}"
                 + (f", replaced {signed.replaced} earlier signature(s)" if signed.replaced else ""))

    # -- record -----------------------------------------------------------------------------------
    async def _record(self, run: Run) -> None:
        outcome = run.outcome
        assert outcome is not None
        if outcome.disposition is Disposition.DEFERRED or (
                run.release is not None and outcome.disposition is not Disposition.QUEUED):
            # Nothing happened to the message: the sender retries, or it stays held.
            return
        decided = run.shadow_of or run.verdict
        shadow = run.shadow_of is not None
        ref = outcome.queue_id or outcome.quarantine_id
        self._log_decision(run, decided, ref, shadow)
        if not run.recipients or self.store is None:
            return
        if outcome.disposition is not Disposition.QUEUED:
            await self._record_decision(run, decided, ref, shadow)
            return
        reserved_tags = {tag for _, tag in run.reserved}
        # Every tag is counted per order (the verdict's facts the store keeps count of), unless
        # the reservation counted it already.
        counters = sorted(t for t in run.verdict.tags if t not in reserved_tags)
        records = self._record_relay(run, decided, ref, counters, shadow)
        if counters:
            # A stateful rule reads this count: it is durable before the client hears 250.
            await records
        else:
            # Correlation records need not hold up the reply (the message itself is already
            # durable); drain() waits for them.
            task = asyncio.create_task(records)
            self._pending_records.add(task)
            task.add_done_callback(self._pending_records.discard)
        run.note("record", "passed", "decision and relay recorded" + (f", counted {', '.join(counters)}"
                                                                         if counters else ""))

    def _log_decision(self, run: Run, verdict: Verdict, ref: str, shadow: bool) -> None:
        txn = run.txn
        if self.metrics is not None:
            self.metrics.observe_decision(verdict, run.recipients[0].marketplace if run.recipients else None,
                                          shadow, run.tenant.id)
        # One name per id across the log: a held message's quarantine id, a spooled one's queue id
        # (as delivery.* and quarantine_* events call them); a refused message has neither.
        outcome = run.outcome
        held = outcome is not None and outcome.disposition is Disposition.HELD
        log.info(
            "decision", queue_id=None if held else (ref or None), quarantine_id=ref if held else None,
            tenant=run.tenant.id, shadow=shadow, entrance=str(run.entrance),
            message_id=txn.message_id, peer=txn.peer, auth_user=txn.auth_user, mail_from=txn.mail_from,
            rcpt_tos=txn.rcpt_tos, size=txn.size, marketplace=verdict.marketplace,
            action=f"would-{verdict.action}" if shadow else str(verdict.action), critical=verdict.critical,
            reply=verdict.reply, hits=[h.as_json() for h in verdict.hits],
            released_by=run.release.actor if run.release is not None else None)

    async def _record_decision(self, run: Run, verdict: Verdict, ref: str, shadow: bool) -> None:
        assert self.store is not None
        txn = run.txn
        await self.store.record_decision(ref, txn.message_id, txn.peer, txn.mail_from, txn.rcpt_tos,
                                         verdict.marketplace, str(verdict.action), [h.rule for h in verdict.hits],
                                         tenant=run.tenant.id, shadow=shadow)

    async def _record_relay(self, run: Run, decided: Verdict, queue_id: str, counters: list[str],
                            shadow: bool) -> None:
        """Recorded after the message is safe in the spool: a failure loses a correlation record,
        never the message."""
        assert self.store is not None
        txn = run.txn
        try:
            # The engine's order ids when it ran; without one, read them from the message
            # ourselves, so an opt-out notice that names only the order still finds the alias.
            order_ids = run.verdict.order_ids
            if not order_ids and not run.order_ids_read:
                order_ids = await asyncio.to_thread(order_ids_in_message, run.data)
            # Both land in the same group commit.
            await asyncio.gather(
                self.store.record_relay(queue_id, txn.message_id, [(r.alias, r.marketplace) for r in run.recipients],
                                        order_ids, run.verdict.tags, counters, tenant=run.tenant.id),
                self._record_decision(run, decided, queue_id, shadow))
        except Exception:
            log.exception("relay_record_failed", queue_id=queue_id, message_id=txn.message_id)

    # -- notify -----------------------------------------------------------------------------------
    async def _notify(self, run: Run) -> None:
        if run.outcome is not None and run.outcome.disposition is Disposition.QUEUED and self.notify is not None:
            self.notify()


def _held_rewrite(release: Release, txn: Transaction, marketplace: str) -> Verdict:
    """Without an engine, a release keeps the subject rewrite the message was held with."""
    from gateway.policy.content import decode_header_value

    subject = release.held_verdict.get("subject")
    if isinstance(subject, str) and subject and subject != decode_header_value(txn.header("Subject")):
        return Verdict(action=Action.REWRITE, subject=subject, marketplace=marketplace)
    return Verdict(action=Action.RELAY, marketplace=marketplace)


def _replace_subject(raw: bytes, subject: str) -> bytes:
    from gateway.message.mime import replace_subject

    return replace_subject(raw, subject)


_ALL = frozenset(Entrance)
_WRITING = frozenset({Entrance.SMTP, Entrance.RELEASE, Entrance.RECOVERY})

STAGES: tuple[Stage, ...] = (
    Stage("classify", Pipeline._classify, _ALL),
    Stage("evaluate", Pipeline._evaluate, _ALL),
    Stage("repair", Pipeline._repair, _ALL),
    Stage("shadow", Pipeline._shadow, frozenset({Entrance.SMTP, Entrance.CHECK})),
    Stage("reserve", Pipeline._reserve, frozenset({Entrance.SMTP, Entrance.RELEASE, Entrance.CHECK})),
    Stage("store", Pipeline._store, _ALL),
    Stage("record", Pipeline._record, _WRITING, after_decision=True),
    Stage("notify", Pipeline._notify, _WRITING, after_decision=True),
)
