"""The SMTP entrance: end of DATA hands the transaction to the pipeline and answers its outcome.

What happens to the message (classify, evaluate, shadow, reserve, store, record, notify) is
``gateway.pipeline``; the reply is ``gateway.replies.smtp_reply`` of the outcome. This adapter adds
only what is SMTP's own: the tenant of a session, bounce-backs sent to the bounce addresses, and
the reply metrics.
"""

from __future__ import annotations

import time
from typing import Protocol

from gateway import replies
from gateway.config import GatewayConfig
from gateway.log import get_logger
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Entrance, Pipeline
from gateway.spool import Spool
from gateway.store.base import Store
from gateway.tenants import TenantDirectory
from gateway.transaction import Transaction

log = get_logger("gateway.actions")


class Notifier(Protocol):
    def notify(self) -> None: ...


class BounceIngest(Protocol):
    async def ingest(self, raw: bytes, source: str, tenant: str = "") -> str: ...


class MessageProcessor:
    """The listener's TransactionProcessor."""

    def __init__(self, config: GatewayConfig, spool: Spool, store: Store,
                 tenants: TenantDirectory, delivery: Notifier | None = None,
                 bounces: BounceIngest | None = None, metrics: GatewayMetrics | None = None) -> None:
        self.spool = spool
        self.store = store
        self.bounces = bounces
        self.metrics = metrics
        self.pipeline = Pipeline(config, store, spool, delivery.notify if delivery is not None else None, metrics)
        self.reconfigure(config, tenants)

    def reconfigure(self, config: GatewayConfig, tenants: TenantDirectory) -> None:
        """Swap in a new config and tenant directory; transactions already running keep theirs."""
        self.config = config
        self.tenants = tenants
        self.pipeline.reconfigure(config)
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
        tenant = self.tenants.get(txn.tenant)  # one directory for the whole transaction, even across a reload
        if self.bounces is not None and self._bounce_addresses and all(
                r.lower() in self._bounce_addresses for r in txn.rcpt_tos):
            await self.drain()  # a notice never overtakes the relay record it is matched against
            summary = await self.bounces.ingest(txn.data, source=f"smtp:{txn.peer}", tenant=tenant.id)
            log.info("bounce_ingested", tenant=tenant.id, peer=txn.peer, mail_from=txn.mail_from,
                     rcpt_tos=txn.rcpt_tos, message_id=txn.message_id, summary=summary)
            return replies.BOUNCE_RECORDED.format(summary=summary)
        outcome = await self.pipeline.run(txn, tenant, Entrance.SMTP)
        return replies.smtp_reply(outcome)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for relay records still being written (at shutdown: at most ``timeout`` seconds)."""
        await self.pipeline.drain(timeout)
