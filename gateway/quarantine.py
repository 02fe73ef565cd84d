"""Quarantine review shared by the CLI and the admin HTTP server: release, delete, preview.

A release runs the pipeline (``gateway.pipeline``, entrance ``release``) like any message from
SMTP: re-checked by today's rules and the registered-sender check, counted against the daily caps
and its orders' counters (a released review request is the order's one), recorded with its order
ids (an opt-out notice naming only the order finds it), then spooled. ``force`` overrides the
verdict, never its subject rewrite: a message held for misusing the critical keyword is relayed
without it.

A release is exactly once: the quarantine row moves ``held -> released`` in one transaction with
its audit record (``Store.claim_quarantine``), and only the caller that won that claim puts the
bytes into the spool. If spooling then fails, the claim is undone (back to ``held``, audited as
``release-failed``). The quarantine file is removed only after the spool has the message durably,
so a crash between claim and spool leaves the bytes for ``recover_releases``.

The spool is a SQLite database in WAL mode: the CLI, in its own process, opens it and inserts the
message in an ordinary transaction while the gateway runs; the gateway's delivery sees it at its
next poll (``delivery.poll_interval``). Both processes must run as the service user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.config import GatewayConfig
from gateway.errors import ReviewError
from gateway.log import get_logger
from gateway.metrics import GatewayMetrics
from gateway.outcome import Cause, Disposition, Outcome
from gateway.pipeline import Entrance, Pipeline, Release
from gateway.spool import Spool
from gateway.store.base import QuarantineRecord, Store
from gateway.tenants import Tenant, TenantDirectory
from gateway.transaction import Transaction

__all__ = ["QuarantineReview", "ReleaseResult", "ReviewError", "tenants_from"]

log = get_logger("gateway.quarantine")


@dataclass(frozen=True)
class ReleaseResult:
    quarantine_id: str
    queue_id: str
    forced: bool
    recheck: dict[str, Any] | None
    outcome: Outcome | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"quarantine_id": self.quarantine_id, "queue_id": self.queue_id,
                               "forced": self.forced, "recheck": self.recheck}
        if self.outcome is not None:
            out["pipeline"] = self.outcome.as_json()
        return out


TenantFor = Callable[[str], Tenant | None]
"""The tenant of a tenant id (the tenant the message was held for); None: no tenants loaded."""


def tenants_from(tenants: Callable[[], TenantDirectory | None]) -> TenantFor:
    """Look the tenant up at use, so a reload's new rule packs, senders and caps are what a
    release is checked against."""
    def tenant_for(tenant_id: str) -> Tenant | None:
        directory = tenants()
        return None if directory is None else directory.get(tenant_id)

    return tenant_for


def http_status(outcome: Outcome) -> int:
    """The admin API's status for a release that did not queue the message."""
    if outcome.disposition is Disposition.DEFERRED:
        return 429 if outcome.cause is Cause.DAILY_CAP else 503
    return 409


_REFUSAL_CODES = {Cause.POLICY: "still-violating", Cause.ORDER_COUNTER: "still-violating",
                  Cause.DAILY_CAP: "daily-cap", Cause.TIMEOUT: "recheck-timeout", Cause.STORAGE: "spool-failed",
                  Cause.NOT_HELD: "not-held", Cause.NO_POLICY: "recheck-unavailable",
                  Cause.STATE: "state-unavailable"}


def refusal(qid: str, outcome: Outcome) -> ReviewError:
    """A release the pipeline did not queue, as the error the CLI and the admin API report."""
    verdict = outcome.verdict
    code = _REFUSAL_CODES.get(outcome.cause, "refused")
    last = outcome.stages[-1].detail if outcome.stages else ""
    if outcome.cause in (Cause.POLICY, Cause.ORDER_COUNTER):
        message = f"re-check says {verdict.action}: " + "; ".join(f"{h.rule}: {h.reason}" for h in verdict.hits)
    elif outcome.cause is Cause.DAILY_CAP:
        message = (f"daily cap of {outcome.detail.get('cap')} proactive messages for marketplace "
                   f"{outcome.detail.get('marketplace')} reached; release again tomorrow")
    elif outcome.cause is Cause.STORAGE:
        message = f"spool refused the message: {outcome.detail.get('error', last)}"
    else:
        message = last or f"{qid}: not released"
    return ReviewError(code, message, status=http_status(outcome))


class QuarantineReview:
    def __init__(self, config: GatewayConfig, store: Store, spool: Spool,
                 tenant_for: TenantFor, notify: Callable[[], None] | None = None,
                 metrics: GatewayMetrics | None = None, instance: str = "") -> None:
        self.config = config
        self.instance = instance
        """Marks the releases this instance claims, so that it (and only it: its spool is its own)
        can finish one left half done."""
        self.store = store
        self.spool = spool
        self.tenant_for = tenant_for
        self.notify = notify
        self.metrics = metrics
        self.pipeline = Pipeline(config, store, spool, notify, metrics)

    def reconfigure(self, config: GatewayConfig) -> None:
        """After a reload (tenants are looked up at use; this is the global policy switch)."""
        self.config = config
        self.pipeline.reconfigure(config)

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

    def _tenant(self, record: QuarantineRecord) -> Tenant:
        tenant = self.tenant_for(record.tenant)
        if tenant is None:
            # No tenants loaded (the rule packs failed in the CLI): the record's tenant, no policy.
            return Tenant(id=record.tenant, policy=None, shadow=False, upstream=self.config.upstream,
                          senders={}, daily_caps={})
        return tenant

    @staticmethod
    def _transaction(record: QuarantineRecord, data: bytes) -> Transaction:
        return Transaction(peer=record.peer, mail_from=record.mail_from, rcpt_tos=list(record.rcpt_tos),
                           data=data, tenant=record.tenant)

    async def release(self, qid: str, *, actor: str, reason: str, force: bool = False) -> ReleaseResult:
        record = await self.get(qid)
        if record.status != "held":
            raise ReviewError("not-held", f"{qid} is already {record.status}")
        if force and not reason.strip():
            raise ReviewError("reason-required", "a forced release needs a reason", status=400)
        data = await self.raw(record)
        release = Release(qid, actor, reason, force=force, instance=self.instance, held_verdict=record.verdict)
        outcome = await self.pipeline.run(self._transaction(record, data), self._tenant(record),
                                          Entrance.RELEASE, release)
        if outcome.disposition is not Disposition.QUEUED:
            log.warning("quarantine_release_refused", quarantine_id=qid, actor=actor, forced=force,
                        cause=str(outcome.cause), decided_by=list(outcome.decided_by),
                        hits=[h.rule for h in outcome.verdict.hits])
            raise refusal(qid, outcome)
        await self._finish_release(record, outcome.queue_id, actor)
        log.info("quarantine_released", quarantine_id=qid, queue_id=outcome.queue_id, actor=actor,
                 reason=reason.strip() or "re-check passed", forced=force, message_id=record.message_id)
        return ReleaseResult(qid, outcome.queue_id, force, None if force else outcome.verdict.as_json(), outcome)

    async def _finish_release(self, record: QuarantineRecord, queue_id: str, actor: str) -> None:
        await self.store.audit(actor, "spooled", record.id, queue_id)
        await self.store.drop_quarantined_bytes(record.id)
        if self.metrics is not None:
            self.metrics.admin_actions.labels("release").inc()

    async def recover_releases(self, older_than: float = 60.0) -> list[str]:
        """Finish releases this instance claimed more than ``older_than`` seconds ago that never
        reached the step after spooling: the process died in between, or the claim's commit was
        lost on its way back. A message the spool already has is only marked; one it has not goes
        through the pipeline now (entrance ``recovery``: the rewrite, the sender check, the
        records). One the pipeline refuses goes back to held. Returns the quarantine ids finished."""
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
                release = Release(record.id, "recovery", "finishing a release left half done",
                                  force=True, instance=self.instance, held_verdict=record.verdict)
                outcome = await self.pipeline.run(self._transaction(record, data), self._tenant(record),
                                                  Entrance.RECOVERY, release)
                if outcome.disposition is Disposition.DEFERRED:
                    continue  # the spool or the database is unavailable for now: next round
                if outcome.disposition is not Disposition.QUEUED:
                    why = str(refusal(record.id, outcome))
                    await self.store.unclaim_quarantine(record.id, "recovery", why)
                    log.error("quarantine_release_recovery_refused", quarantine_id=record.id, reason=why)
                    continue
                queue_id = outcome.queue_id
            await self._finish_release(record, queue_id, "recovery")
            log.warning("quarantine_release_recovered", quarantine_id=record.id, queue_id=queue_id,
                        message_id=record.message_id)
            finished.append(record.id)
        return finished

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
