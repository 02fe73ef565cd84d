"""What the stages share: one message's ``Run`` and the ``Services`` they work with."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.classify import Classifier, MarketplaceRecipient
from gateway.config import GatewayConfig
from gateway.group_commit import Write
from gateway.metrics import GatewayMetrics
from gateway.outcome import Cause, Disposition, Outcome, StageResult
from gateway.pipeline.entrances import Entrance, Release
from gateway.policy.verdict import Action, Verdict
from gateway.signing import DkimSigner
from gateway.spool import Spool
from gateway.store.base import Store
from gateway.tenants import Tenant
from gateway.transaction import Transaction


class Services(Protocol):
    """What a stage may use of the pipeline running it (``gateway.pipeline.runner.Pipeline``)."""

    @property
    def config(self) -> GatewayConfig: ...
    @property
    def store(self) -> Store | None: ...
    @property
    def spool(self) -> Spool | None: ...
    @property
    def notify(self) -> Callable[[], None] | None: ...
    @property
    def metrics(self) -> GatewayMetrics | None: ...
    @property
    def signer(self) -> DkimSigner | None: ...
    @property
    def classifier(self) -> Classifier: ...

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the reply; ``drain()`` waits for it."""


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
    after_put: list[Write] = field(default_factory=list)
    """Its relay record and decision, written with its spool put (``record.records_after_put``)."""

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


def utc_day(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))
