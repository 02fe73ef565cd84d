"""Quarantine review shared by the CLI and the admin HTTP server: release, delete, preview.

A release is exactly once: the quarantine row moves ``held -> released`` in one SQLite
transaction with its audit record (``claim_quarantine_sync``), and only the caller that won that
claim puts the bytes into the spool. If spooling then fails, the claim is undone (back to
``held``, audited as ``release-failed``). The quarantine file is removed only after the spool has
the message durably, so a crash between claim and spool leaves the bytes on disk for recovery.

The spool is a SQLite database in WAL mode: the CLI, in its own process, opens it and inserts the
message in an ordinary transaction while the gateway runs; the gateway's delivery sees it at its
next poll (``delivery.poll_interval``). Both processes must run as the service user.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.actions import PolicyEvaluator
from gateway.classify import Classifier
from gateway.config import GatewayConfig
from gateway.log import get_logger
from gateway.metrics import GatewayMetrics
from gateway.policy.verdict import Action, Verdict
from gateway.spool import Spool, SpoolError
from gateway.store.base import QuarantineRecord, Store
from gateway.tenants import TenantDirectory

log = get_logger("gateway.admin.review")


class ReviewError(Exception):
    """A quarantine action that was refused; ``code`` is a stable word for scripts and the API."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class ReleaseResult:
    quarantine_id: str
    queue_id: str
    forced: bool
    recheck: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {"quarantine_id": self.quarantine_id, "queue_id": self.queue_id, "forced": self.forced,
                "recheck": self.recheck}


PolicyFor = Callable[[str], PolicyEvaluator | None]
"""The policy engine of a tenant id (the tenant the message was held for); None: none loaded."""


def policy_from(tenants: Callable[[], TenantDirectory | None]) -> PolicyFor:
    """Look the tenant up at use, so a reload's new rule packs are what a re-check uses."""
    def policy_for(tenant_id: str) -> PolicyEvaluator | None:
        directory = tenants()
        if directory is None:
            return None
        policy: PolicyEvaluator | None = directory.get(tenant_id).policy
        return policy

    return policy_for


class QuarantineReview:
    def __init__(self, config: GatewayConfig, store: Store, spool: Spool,
                 policy_for: PolicyFor, notify: Callable[[], None] | None = None,
                 metrics: GatewayMetrics | None = None, instance: str = "") -> None:
        self.config = config
        self.instance = instance
        """Marks the releases this instance claims, so that it (and only it: its spool is its own)
        can finish one left half done."""
        self.store = store
        self.spool = spool
        self.policy_for = policy_for
        self.notify = notify
        self.metrics = metrics
        self.classifier = Classifier(config.marketplace.tlds, config.marketplace.domain_prefix)

    async def get(self, qid: str) -> QuarantineRecord:
        record = await self.store.get_quarantine(qid)
        if record is None:
            raise ReviewError("not-found", f"no quarantined message {qid}", status=404)
        return record

    async def raw(self, record: QuarantineRecord) -> bytes:
        data = await self.store.quarantined_bytes(record.id)
        if data is None:
            raise ReviewError("gone", f"{record.id}: its bytes are gone ({record.status})", status=410)
        return data

    async def recheck(self, record: QuarantineRecord, data: bytes) -> tuple[Verdict, PolicyEvaluator]:
        """Evaluate the unchanged bytes against today's rules and the tenant's registry."""
        policy = self.policy_for(record.tenant)
        if policy is None or not self.config.policy.enabled:
            raise ReviewError("recheck-unavailable",
                              "no policy engine to re-check with; release with force and a reason")
        recipients = self.classifier.marketplace_recipients(record.rcpt_tos)
        state = await self.store.policy_state(record.tenant, [r.alias for r in recipients])
        return await asyncio.to_thread(policy.evaluate, data, recipients, state), policy

    async def release(self, qid: str, *, actor: str, reason: str, force: bool = False) -> ReleaseResult:
        record = await self.get(qid)
        if record.status != "held":
            raise ReviewError("not-held", f"{qid} is already {record.status}")
        if force and not reason.strip():
            raise ReviewError("reason-required", "a forced release needs a reason", status=400)
        data = await self.raw(record)
        verdict_json: dict[str, Any] | None = None
        if not force:
            verdict, policy = await self.recheck(record, data)
            verdict_json = verdict.as_json()
            if verdict.action in (Action.QUARANTINE, Action.REJECT):
                raise ReviewError("still-violating",
                                  f"re-check says {verdict.action}: "
                                  + "; ".join(f"{h.rule}: {h.reason}" for h in verdict.hits))
            if verdict.action is Action.REWRITE:
                data = await asyncio.to_thread(policy.apply, data, verdict)
        why = reason.strip() or "re-check passed"
        if force:
            why = f"forced: {why}"
        claimed = await self.store.claim_quarantine(qid, "released", actor, why, instance=self.instance)
        if not claimed:
            raise ReviewError("not-held", f"{qid} was released or deleted by someone else")
        try:
            queue_id = await self._spool_release(record, data, actor)
        except (SpoolError, ValueError) as exc:
            await self.store.unclaim_quarantine(qid, actor, f"spool refused: {exc}")
            log.error("quarantine_release_failed", quarantine_id=qid, actor=actor, error=str(exc))
            raise ReviewError("spool-failed", f"spool refused the message: {exc}", status=503) from exc
        await self._finish_release(record, queue_id, actor)
        log.info("quarantine_released", quarantine_id=qid, queue_id=queue_id, actor=actor, reason=why,
                 forced=force, message_id=record.message_id)
        return ReleaseResult(qid, queue_id, force, verdict_json)

    async def _spool_release(self, record: QuarantineRecord, data: bytes, actor: str) -> str:
        meta = {"message_id": record.message_id, "peer": record.peer, "action": "release",
                "marketplace": record.marketplace, "tenant": record.tenant, "quarantine_id": record.id,
                "released_by": actor}
        queue_id = await self.spool.put(record.mail_from, record.rcpt_tos, data, meta)
        # From here the spool has it: a crash before the next line is repaired by recover_releases
        # finding the message in the spool, not by spooling it twice.
        await self.store.mark_release_spooled(record.id, queue_id)
        return queue_id

    async def _finish_release(self, record: QuarantineRecord, queue_id: str, actor: str) -> None:
        qid = record.id
        await self.store.audit(actor, "spooled", qid, queue_id)
        recipients = self.classifier.marketplace_recipients(record.rcpt_tos)
        if recipients:
            # Bounce-backs for a released message must correlate like any relayed one.
            with contextlib.suppress(Exception):
                await self.store.record_relay(queue_id, record.message_id,
                                              [(r.alias, r.marketplace) for r in recipients], (), (),
                                              tenant=record.tenant)
        await self.store.drop_quarantined_bytes(qid)
        if self.notify is not None:
            self.notify()
        if self.metrics is not None:
            self.metrics.admin_actions.labels("release").inc()

    async def recover_releases(self, older_than: float = 60.0) -> list[str]:
        """Finish releases this instance claimed more than ``older_than`` seconds ago that never
        reached the step after spooling: the process died in between, or the claim's commit was
        lost on its way back. A message the spool already has is only marked; one it has not is
        spooled now (re-checked for the subject rewrite the release would have applied).
        Returns the quarantine ids finished."""
        if not self.instance:
            return []
        finished: list[str] = []
        for record in await self.store.unspooled_releases(self.instance, time.time() - older_than):
            queue_id = await self.spool.find_by_meta("quarantine_id", record.id)
            if queue_id is not None:
                await self.store.mark_release_spooled(record.id, queue_id)
            else:
                data = await self.store.quarantined_bytes(record.id)
                if data is None:
                    log.error("quarantine_release_unrecoverable", quarantine_id=record.id,
                              reason="released, never spooled, and its bytes are gone")
                    continue
                data = await self._rewritten(record, data)
                queue_id = await self._spool_release(record, data, "recovery")
            await self._finish_release(record, queue_id, "recovery")
            log.warning("quarantine_release_recovered", quarantine_id=record.id, queue_id=queue_id,
                        message_id=record.message_id)
            finished.append(record.id)
        return finished

    async def _rewritten(self, record: QuarantineRecord, data: bytes) -> bytes:
        """The bytes a release sends: with the subject rewrite today's rules ask for, if any."""
        try:
            verdict, policy = await self.recheck(record, data)
        except ReviewError:
            return data  # no policy engine here: the bytes as held (a forced release sends those)
        if verdict.action is Action.REWRITE:
            return await asyncio.to_thread(policy.apply, data, verdict)
        return data

    async def delete(self, qid: str, *, actor: str, reason: str) -> None:
        record = await self.get(qid)
        if record.status != "held":
            raise ReviewError("not-held", f"{qid} is already {record.status}")
        why = reason.strip() or "deleted by admin"
        if not await self.store.claim_quarantine(qid, "deleted", actor, why):
            raise ReviewError("not-held", f"{qid} was released or deleted by someone else")
        await self.store.drop_quarantined_bytes(qid)
        if self.metrics is not None:
            self.metrics.admin_actions.labels("delete").inc()
        log.info("quarantine_deleted", quarantine_id=qid, actor=actor, reason=why,
                 message_id=record.message_id)
