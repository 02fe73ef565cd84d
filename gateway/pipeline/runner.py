"""The stage table and the ``Pipeline`` that runs it for one message.

Each stage reads and changes one ``Run`` (the message, its tenant, the verdict so far) and may
end it with an ``Outcome``; ``record`` and ``notify`` also run after a decision (every decision
is logged and recorded). Which stages an entrance runs is data in ``STAGES``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from gateway.classify import Classifier
from gateway.config import GatewayConfig
from gateway.errors import StoreError
from gateway.log import get_logger
from gateway.metrics import GatewayMetrics
from gateway.outcome import Cause, Disposition, Outcome
from gateway.pipeline.entrances import ALL, WRITING, Entrance, Release
from gateway.pipeline.evaluate import classify, evaluate
from gateway.pipeline.holds import restriction, template_hold
from gateway.pipeline.record import notify, record
from gateway.pipeline.repair import repair, shadow
from gateway.pipeline.reserve import reserve
from gateway.pipeline.run import Run, Services, utc_day
from gateway.pipeline.store import store
from gateway.signing import DkimSigner
from gateway.spool import Spool
from gateway.store.base import Store
from gateway.tenants import Tenant
from gateway.transaction import Transaction

log = get_logger("gateway.pipeline")

StageFn = Callable[[Services, Run], Awaitable[None]]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn
    entrances: frozenset[Entrance]
    after_decision: bool = False
    """Runs also when an earlier stage ended the run (``record``: every decision is recorded;
    ``notify``: delivery is told of what ``store`` queued)."""


STAGES: tuple[Stage, ...] = (
    Stage("classify", classify, ALL),
    Stage("evaluate", evaluate, ALL),
    Stage("restriction", restriction, frozenset({Entrance.SMTP, Entrance.RELEASE, Entrance.CHECK})),
    Stage("repair", repair, ALL),
    Stage("template-hold", template_hold, frozenset({Entrance.SMTP, Entrance.CHECK})),
    Stage("shadow", shadow, frozenset({Entrance.SMTP, Entrance.CHECK})),
    Stage("reserve", reserve, frozenset({Entrance.SMTP, Entrance.RELEASE, Entrance.CHECK})),
    Stage("store", store, ALL),
    Stage("record", record, WRITING, after_decision=True),
    Stage("notify", notify, WRITING, after_decision=True),
)


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
        self.signer: DkimSigner | None = signer
        self.classifier = Classifier(config.marketplace.tlds, config.marketplace.domain_prefix)

    async def run(self, txn: Transaction, tenant: Tenant, entrance: Entrance = Entrance.SMTP,
                  release: Release | None = None) -> Outcome:
        run = Run(txn=txn, tenant=tenant, entrance=entrance, release=release, data=txn.data, day=utc_day())
        for stage in STAGES:
            if entrance not in stage.entrances:
                continue
            if run.outcome is not None and not stage.after_decision:
                continue
            try:
                await stage.run(self, run)
            except StoreError as exc:
                # The state database is gone (or broken): a decision that needs it cannot be
                # taken, so the client retries later; once decided, the message's fate stands
                # and only the record of it is lost.
                if run.outcome is not None:
                    log.error("state_record_failed", stage=stage.name, error=str(exc),
                              message_id=txn.message_id, outcome=str(run.outcome.disposition))
                    continue
                log.error("state_unavailable", stage=stage.name, error=str(exc), message_id=txn.message_id,
                          peer=txn.peer, rcpt_tos=txn.rcpt_tos, entrance=str(entrance))
                run.finish(Disposition.DEFERRED, Cause.STATE, stage.name, f"state unavailable: {exc}")
        assert run.outcome is not None, "the store stage always decides"
        return dataclasses.replace(run.outcome, stages=tuple(run.stages))

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._pending_records.add(task)
        task.add_done_callback(self._pending_records.discard)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for relay records still being written (at shutdown: at most ``timeout`` seconds,
        so a state database that stays away cannot hold the stop up for the records' whole retry
        period; what is still unwritten then is logged and given up, the messages are spooled)."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while self._pending_records:
            left = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if left is not None and left <= 0:
                pending = list(self._pending_records)
                log.error("relay_records_abandoned", count=len(pending), waited=timeout)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return
            await asyncio.wait(list(self._pending_records), timeout=left)
