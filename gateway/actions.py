"""What happens to a message at end of DATA: classify, decide, then reject, hold, rewrite or relay.

The flow is one way: transaction -> classify -> policy -> action -> store/spool. The decision is a
Verdict value; this module turns it into an effect and the SMTP reply, and logs every decision
with message id, recipients, action and rule hits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol

from gateway import replies
from gateway.classify import Classifier, MarketplaceRecipient
from gateway.config import GatewayConfig
from gateway.log import get_logger
from gateway.metrics import GatewayMetrics
from gateway.policy.verdict import Action, Verdict
from gateway.spool import Spool, SpoolError
from gateway.store.sqlite import SQLiteStore, StorePolicyState
from gateway.transaction import Transaction

log = get_logger("gateway.actions")


class PolicyEvaluator(Protocol):
    def evaluate(self, raw: bytes, recipients: Sequence[MarketplaceRecipient],
                 state: StorePolicyState | None = None) -> Verdict: ...

    def apply(self, raw: bytes, verdict: Verdict) -> bytes: ...


class Notifier(Protocol):
    def notify(self) -> None: ...


class BounceIngest(Protocol):
    async def ingest(self, raw: bytes, source: str) -> str: ...


def reject_reply(verdict: Verdict) -> str:
    from gateway.policy.reply import smtp_reject_reply

    return smtp_reject_reply(verdict)


class MessageProcessor:
    """The listener's TransactionProcessor."""

    def __init__(self, config: GatewayConfig, spool: Spool, store: SQLiteStore,
                 delivery: Notifier | None = None, policy: PolicyEvaluator | None = None,
                 bounces: BounceIngest | None = None, metrics: GatewayMetrics | None = None) -> None:
        self.config = config
        self.classifier = Classifier(config.marketplace.tlds, config.marketplace.domain_prefix)
        self.spool = spool
        self.store = store
        self.delivery = delivery
        self.policy = policy
        self.bounces = bounces
        self.metrics = metrics
        self.policy_state = StorePolicyState(store)
        self._bounce_addresses = frozenset(a.lower() for a in config.bounces.addresses)

    async def process(self, txn: Transaction) -> str:
        if self.bounces is not None and self._bounce_addresses and all(
                r.lower() in self._bounce_addresses for r in txn.rcpt_tos):
            summary = await self.bounces.ingest(txn.data, source=f"smtp:{txn.peer}")
            log.info("bounce_ingested", peer=txn.peer, mail_from=txn.mail_from,
                     rcpt_tos=txn.rcpt_tos, message_id=txn.message_id, summary=summary)
            return replies.BOUNCE_RECORDED.format(summary=summary)

        started = time.perf_counter()
        txn.marketplace_recipients = self.classifier.marketplace_recipients(txn.rcpt_tos)
        verdict = await self._decide(txn)
        if verdict is None:
            if self.metrics is not None:
                self.metrics.observe_failure(time.perf_counter() - started)
            return replies.PROCESSING_TIMEOUT
        reply = await self._act(txn, verdict)
        if self.metrics is not None:
            if reply.startswith("4"):
                self.metrics.observe_failure(time.perf_counter() - started)
            else:
                recipients = txn.marketplace_recipients
                self.metrics.observe_decision(verdict, time.perf_counter() - started,
                                              recipients[0].marketplace if recipients else None)
        return reply

    async def _decide(self, txn: Transaction) -> Verdict | None:
        if not txn.marketplace_recipients or self.policy is None or not self.config.policy.enabled:
            return Verdict(action=Action.RELAY)
        policy = self.policy
        try:
            # Policy work is CPU-bound: a worker thread, bounded so the client hears back in time.
            async with asyncio.timeout(self.config.policy.evaluation_timeout):
                return await asyncio.to_thread(policy.evaluate, txn.data, txn.marketplace_recipients,
                                               self.policy_state)
        except TimeoutError:
            log.error("policy_timeout", peer=txn.peer, message_id=txn.message_id,
                      rcpt_tos=txn.rcpt_tos, size=txn.size)
            return None

    def _log_decision(self, txn: Transaction, verdict: Verdict, ref: str) -> None:
        log.info(
            "decision",
            ref=ref,
            message_id=txn.message_id,
            peer=txn.peer,
            auth_user=txn.auth_user,
            mail_from=txn.mail_from,
            rcpt_tos=txn.rcpt_tos,
            size=txn.size,
            marketplace=verdict.marketplace,
            action=str(verdict.action),
            critical=verdict.critical,
            reply=verdict.reply,
            hits=[h.as_json() for h in verdict.hits],
        )

    async def _record_decision(self, txn: Transaction, verdict: Verdict, ref: str) -> None:
        if not txn.marketplace_recipients:
            return
        await self.store.record_decision(ref, txn.message_id, txn.peer, txn.mail_from, txn.rcpt_tos,
                                         verdict.marketplace, str(verdict.action),
                                         [h.rule for h in verdict.hits])

    async def _act(self, txn: Transaction, verdict: Verdict) -> str:
        if verdict.action is Action.REJECT:
            self._log_decision(txn, verdict, ref="")
            await self._record_decision(txn, verdict, ref="")
            return reject_reply(verdict)

        if verdict.action is Action.QUARANTINE:
            try:
                qid = await self.store.quarantine(
                    txn.data, peer=txn.peer, mail_from=txn.mail_from, rcpt_tos=txn.rcpt_tos,
                    message_id=txn.message_id, subject=txn.header("Subject"),
                    marketplace=verdict.marketplace, verdict=verdict.as_json())
            except OSError as exc:
                log.error("quarantine_store_failed", error=str(exc), message_id=txn.message_id)
                return replies.STORAGE_FAILED
            self._log_decision(txn, verdict, ref=qid)
            await self._record_decision(txn, verdict, ref=qid)
            return replies.QUARANTINED.format(quarantine_id=qid)

        data = txn.data
        if verdict.action is Action.REWRITE and self.policy is not None:
            data = self.policy.apply(txn.data, verdict)
        meta = {"message_id": txn.message_id, "peer": txn.peer, "action": str(verdict.action),
                "marketplace": verdict.marketplace}
        try:
            queue_id = await self.spool.put(txn.mail_from, txn.rcpt_tos, data, meta)
        except SpoolError as exc:
            log.error("spool_failed", error=str(exc), message_id=txn.message_id, peer=txn.peer)
            return replies.STORAGE_FAILED
        self._log_decision(txn, verdict, ref=queue_id)
        if txn.marketplace_recipients:
            # Recorded after the message is safe in the spool: a failure here loses a correlation
            # record, never the message.
            try:
                counters = [t for t in verdict.tags if t == StorePolicyState.REVIEW_COUNTER]
                # Both land in the same group commit.
                await asyncio.gather(
                    self.store.record_relay(
                        queue_id, txn.message_id,
                        [(r.alias, r.marketplace) for r in txn.marketplace_recipients],
                        verdict.order_ids, verdict.tags, counters),
                    self._record_decision(txn, verdict, ref=queue_id))
            except Exception:
                log.exception("relay_record_failed", queue_id=queue_id, message_id=txn.message_id)
        if self.delivery is not None:
            self.delivery.notify()
        return replies.QUEUED.format(queue_id=queue_id)
