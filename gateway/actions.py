"""What happens to a message at end of DATA: classify, decide, then reject, hold, rewrite or relay.

The flow is one way: transaction -> classify -> policy -> action -> store/spool. The decision is a
Verdict value; this module turns it into an effect and the SMTP reply, and logs every decision
with message id, recipients, action and rule hits. In shadow mode the decision is made, logged and
recorded as what *would* have happened, and the message is relayed unchanged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from email.utils import getaddresses
from typing import Protocol

from gateway import replies
from gateway.classify import Classifier, MarketplaceRecipient
from gateway.config import GatewayConfig
from gateway.evaluation import evaluate_policy
from gateway.log import get_logger
from gateway.metrics import GatewayMetrics
from gateway.orderids import order_ids_in_message
from gateway.policy.reply import smtp_reject_reply
from gateway.policy.verdict import Action, Hit, Verdict, most_severe
from gateway.spool import Spool, SpoolError
from gateway.store.base import REVIEW_COUNTER, PolicyStateView, Store
from gateway.tenants import Tenant, TenantDirectory
from gateway.transaction import Transaction

log = get_logger("gateway.actions")

SENDER_NOT_REGISTERED = "sender-not-registered"


class PolicyEvaluator(Protocol):
    def evaluate(self, raw: bytes, recipients: Sequence[MarketplaceRecipient],
                 state: PolicyStateView | None = None) -> Verdict: ...

    def apply(self, raw: bytes, verdict: Verdict) -> bytes: ...


class Notifier(Protocol):
    def notify(self) -> None: ...


class BounceIngest(Protocol):
    async def ingest(self, raw: bytes, source: str, tenant: str = "") -> str: ...


def utc_day(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


class MessageProcessor:
    """The listener's TransactionProcessor."""

    def __init__(self, config: GatewayConfig, spool: Spool, store: Store,
                 tenants: TenantDirectory, delivery: Notifier | None = None,
                 bounces: BounceIngest | None = None, metrics: GatewayMetrics | None = None) -> None:
        self.spool = spool
        self.store = store
        self.delivery = delivery
        self.bounces = bounces
        self.metrics = metrics
        self._pending_records: set[asyncio.Task[None]] = set()
        self.reconfigure(config, tenants)

    def reconfigure(self, config: GatewayConfig, tenants: TenantDirectory) -> None:
        """Swap in a new config and tenant directory; transactions already running keep theirs."""
        self.config = config
        self.tenants = tenants
        self.classifier = Classifier(config.marketplace.tlds, config.marketplace.domain_prefix)
        self._bounce_addresses = frozenset(a.lower() for a in config.bounces.addresses)

    # -- TransactionProcessor ---------------------------------------------------------------------
    def tenant_for(self, *, auth_user: str | None, peer: str, mail_from: str) -> str | None:
        tenant = self.tenants.resolve(auth_user=auth_user, peer=peer, mail_from=mail_from)
        return None if tenant is None else tenant.id

    async def process(self, txn: Transaction) -> str:
        started = time.perf_counter()
        reply = await self._process(txn)
        if self.metrics is not None:
            self.metrics.observe_reply(reply, time.perf_counter() - started)
        return reply

    async def _process(self, txn: Transaction) -> str:
        tenants = self.tenants  # one directory for the whole transaction, even across a reload
        tenant = tenants.get(txn.tenant)
        if self.bounces is not None and self._bounce_addresses and all(
                r.lower() in self._bounce_addresses for r in txn.rcpt_tos):
            await self.drain()  # a notice never overtakes the relay record it is matched against
            summary = await self.bounces.ingest(txn.data, source=f"smtp:{txn.peer}", tenant=tenant.id)
            log.info("bounce_ingested", tenant=tenant.id, peer=txn.peer, mail_from=txn.mail_from,
                     rcpt_tos=txn.rcpt_tos, message_id=txn.message_id, summary=summary)
            return replies.BOUNCE_RECORDED.format(summary=summary)

        txn.marketplace_recipients = self.classifier.marketplace_recipients(txn.rcpt_tos)
        verdict = await self._decide(txn, tenant)
        if verdict is None:
            return replies.PROCESSING_TIMEOUT
        verdict = self._check_registered_sender(txn, tenant, verdict)
        if tenant.shadow and verdict.action is not Action.RELAY:
            return await self._shadow(txn, tenant, verdict)
        return await self._act(txn, tenant, verdict)

    # -- deciding ------------------------------------------------------------------------------------
    async def _decide(self, txn: Transaction, tenant: Tenant) -> Verdict | None:
        policy: PolicyEvaluator | None = tenant.policy
        if not txn.marketplace_recipients or policy is None or not self.config.policy.enabled:
            return Verdict(action=Action.RELAY)
        state = await self.store.policy_state(tenant.id, [r.alias for r in txn.marketplace_recipients])
        try:
            # Policy work is CPU-bound: a worker process, ended when the client must hear back.
            async with asyncio.timeout(self.config.policy.evaluation_timeout):
                return await evaluate_policy(policy, txn.data, txn.marketplace_recipients, state,
                                             self.config.policy.evaluation_isolation)
        except TimeoutError:
            log.error("policy_timeout", tenant=tenant.id, peer=txn.peer, message_id=txn.message_id,
                      rcpt_tos=txn.rcpt_tos, size=txn.size)
            return None

    def _check_registered_sender(self, txn: Transaction, tenant: Tenant, verdict: Verdict) -> Verdict:
        """Amazon rejects mail from a From address not registered for the marketplace: so do we."""
        if not txn.marketplace_recipients:
            return verdict
        from_addresses = [a.lower() for _, a in getaddresses([txn.header("From")]) if a]
        sender = from_addresses[0] if from_addresses else txn.mail_from.lower()
        hits = []
        for marketplace in dict.fromkeys(r.marketplace for r in txn.marketplace_recipients):
            registered = tenant.registered_senders(marketplace)
            if registered is not None and sender not in registered:
                hits.append(Hit(
                    rule=SENDER_NOT_REGISTERED, action=Action.REJECT,
                    reason=f"From address is not registered with marketplace {marketplace}; "
                           "Amazon rejects mail from unregistered sender addresses",
                    evidence=sender))
        if not hits:
            return verdict
        all_hits = (*verdict.hits, *hits)
        return dataclasses.replace(verdict, hits=all_hits,
                                   action=most_severe([h.action for h in all_hits]))

    # -- logging and records ------------------------------------------------------------------------------
    def _log_decision(self, txn: Transaction, tenant: Tenant, verdict: Verdict, ref: str,
                      shadow: bool = False) -> None:
        if self.metrics is not None:
            recipients = txn.marketplace_recipients
            self.metrics.observe_decision(verdict, recipients[0].marketplace if recipients else None, shadow,
                                          tenant.id)
        log.info(
            "decision",
            ref=ref,
            tenant=tenant.id,
            shadow=shadow,
            message_id=txn.message_id,
            peer=txn.peer,
            auth_user=txn.auth_user,
            mail_from=txn.mail_from,
            rcpt_tos=txn.rcpt_tos,
            size=txn.size,
            marketplace=verdict.marketplace,
            action=f"would-{verdict.action}" if shadow else str(verdict.action),
            critical=verdict.critical,
            reply=verdict.reply,
            hits=[h.as_json() for h in verdict.hits],
        )

    async def _record_decision(self, txn: Transaction, tenant: Tenant, verdict: Verdict, ref: str,
                               shadow: bool = False) -> None:
        if not txn.marketplace_recipients:
            return
        await self.store.record_decision(ref, txn.message_id, txn.peer, txn.mail_from, txn.rcpt_tos,
                                         verdict.marketplace, str(verdict.action),
                                         [h.rule for h in verdict.hits], tenant=tenant.id, shadow=shadow)

    # -- acting -------------------------------------------------------------------------------------------
    async def _shadow(self, txn: Transaction, tenant: Tenant, verdict: Verdict) -> str:
        """Record what would have happened; relay the message as it came."""
        relayed = dataclasses.replace(verdict, action=Action.RELAY, subject="")
        reply = await self._spool(txn, tenant, relayed, txn.data, shadow_of=verdict)
        return reply

    async def _act(self, txn: Transaction, tenant: Tenant, verdict: Verdict) -> str:
        if verdict.action is Action.REJECT:
            self._log_decision(txn, tenant, verdict, ref="")
            await self._record_decision(txn, tenant, verdict, ref="")
            return smtp_reject_reply(verdict)

        if verdict.action is Action.QUARANTINE:
            try:
                qid = await self.store.quarantine(
                    txn.data, peer=txn.peer, mail_from=txn.mail_from, rcpt_tos=txn.rcpt_tos,
                    message_id=txn.message_id, subject=txn.header("Subject"),
                    marketplace=verdict.marketplace, verdict=verdict.as_json(), tenant=tenant.id)
            except OSError as exc:
                log.error("quarantine_store_failed", error=str(exc), message_id=txn.message_id)
                return replies.STORAGE_FAILED
            self._log_decision(txn, tenant, verdict, ref=qid)
            await self._record_decision(txn, tenant, verdict, ref=qid)
            return replies.QUARANTINED.format(quarantine_id=qid)

        data = txn.data
        policy: PolicyEvaluator | None = tenant.policy
        if verdict.action is Action.REWRITE and policy is not None:
            data = policy.apply(txn.data, verdict)
        return await self._spool(txn, tenant, verdict, data)

    async def _reserve_caps(self, txn: Transaction, tenant: Tenant, verdict: Verdict,
                            shadow: bool) -> tuple[list[str], str | None]:
        """Count a proactive message against each marketplace's daily cap.

        Returns the marketplaces counted and, when a cap is full, the refusal to send instead.
        """
        if verdict.reply or not txn.marketplace_recipients or not tenant.daily_caps:
            return [], None
        day = utc_day()
        counted: list[str] = []
        for marketplace in dict.fromkeys(r.marketplace for r in txn.marketplace_recipients):
            cap = tenant.daily_cap(marketplace)
            if cap is None:
                continue
            if await self.store.reserve_send(tenant.id, marketplace, day, cap):
                counted.append(marketplace)
                continue
            log.warning("daily_cap_reached", tenant=tenant.id, marketplace=marketplace, cap=cap,
                        shadow=shadow, message_id=txn.message_id)
            if shadow:
                continue
            for done in counted:
                await self.store.release_send(tenant.id, done, day)
            return [], replies.DAILY_CAP_REACHED.format(marketplace=marketplace, cap=cap)
        return counted, None

    async def _reserve_counters(self, txn: Transaction, tenant: Tenant, verdict: Verdict,
                                shadow: bool) -> tuple[list[tuple[str, str]], str | None]:
        """Take the per-order counts a stateful rule limited (one review request per order) before
        the message is spooled, atomically in the store: of two messages for one order evaluated at
        the same moment (on two instances, or two sessions) only one gets the count.

        Returns the (order id, tag) pairs counted and, when another message took the last one
        meanwhile, the refusal to send instead.
        """
        if shadow or not txn.marketplace_recipients:
            return [], None
        reserved: list[tuple[str, str]] = []
        for tag, limit in verdict.counter_limits:
            if tag not in verdict.tags:
                continue
            for order_id in verdict.order_ids:
                if await self.store.reserve_counter(order_id, tag, limit, tenant.id):
                    reserved.append((order_id, tag))
                    continue
                for done_order, done_tag in reserved:
                    await self.store.release_counter(done_order, done_tag, tenant.id)
                rule = "review-request-repeat" if tag == REVIEW_COUNTER else f"{tag}-limit"
                hit = Hit(rule=rule, action=Action.REJECT,
                          reason=f"Order {order_id} already had its {tag} (at most {limit}); "
                                 "another message for it was relayed meanwhile",
                          evidence=order_id)
                refused = dataclasses.replace(verdict, action=Action.REJECT, hits=(*verdict.hits, hit),
                                              smtp_code=None, enhanced_status=None)
                self._log_decision(txn, tenant, refused, ref="")
                await self._record_decision(txn, tenant, refused, ref="")
                return [], smtp_reject_reply(refused)
        return reserved, None

    async def _record_relay(self, txn: Transaction, tenant: Tenant, verdict: Verdict, decided: Verdict,
                            queue_id: str, data: bytes, counters: list[str], shadow: bool) -> None:
        """Recorded after the message is safe in the spool: a failure loses a correlation record,
        never the message."""
        try:
            # The engine's order ids when it ran; without one, read them from the message
            # ourselves, so an opt-out notice that names only the order still finds the alias.
            order_ids = verdict.order_ids or await asyncio.to_thread(order_ids_in_message, data)
            # Both land in the same group commit.
            await asyncio.gather(
                self.store.record_relay(
                    queue_id, txn.message_id,
                    [(r.alias, r.marketplace) for r in txn.marketplace_recipients],
                    order_ids, verdict.tags, counters, tenant=tenant.id),
                self._record_decision(txn, tenant, decided, ref=queue_id, shadow=shadow))
        except Exception:
            log.exception("relay_record_failed", queue_id=queue_id, message_id=txn.message_id)

    async def drain(self) -> None:
        """Wait for relay records still being written (at shutdown)."""
        while self._pending_records:
            await asyncio.gather(*self._pending_records)

    async def _spool(self, txn: Transaction, tenant: Tenant, verdict: Verdict, data: bytes,
                     shadow_of: Verdict | None = None) -> str:
        shadow = shadow_of is not None
        counted, refusal = await self._reserve_caps(txn, tenant, verdict, shadow)
        if refusal is not None:
            return refusal
        reserved, refusal = await self._reserve_counters(txn, tenant, verdict, shadow)
        if refusal is not None:
            for marketplace in counted:
                await self.store.release_send(tenant.id, marketplace, utc_day())
            return refusal
        meta = {"message_id": txn.message_id, "peer": txn.peer, "action": str(verdict.action),
                "marketplace": verdict.marketplace, "tenant": tenant.id}
        try:
            queue_id = await self.spool.put(txn.mail_from, txn.rcpt_tos, data, meta, queue_id=txn.queue_id)
        except SpoolError as exc:
            log.error("spool_failed", error=str(exc), message_id=txn.message_id, peer=txn.peer)
            for marketplace in counted:
                await self.store.release_send(tenant.id, marketplace, utc_day())
            for order_id, tag in reserved:
                await self.store.release_counter(order_id, tag, tenant.id)
            return exc.smtp_reply  # 452 4.3.1 for storage trouble, 451 4.3.0 for a damaged spool
        decided = shadow_of or verdict
        self._log_decision(txn, tenant, decided, ref=queue_id, shadow=shadow)
        if txn.marketplace_recipients:
            # Counted here unless already reserved above (a rule limited them).
            counters = [t for t in verdict.tags if t == REVIEW_COUNTER and t not in {tag for _, tag in reserved}]
            records = self._record_relay(txn, tenant, verdict, decided, queue_id, data, counters, shadow)
            if counters:
                # A stateful rule reads this count: it is durable before the client hears 250.
                await records
            else:
                # Correlation records need not hold up the reply (the message itself is already
                # durable); stop() waits for them.
                task = asyncio.create_task(records)
                self._pending_records.add(task)
                task.add_done_callback(self._pending_records.discard)
        if self.delivery is not None:
            self.delivery.notify()
        return replies.QUEUED.format(queue_id=queue_id)
