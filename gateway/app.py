"""The running gateway: store, spool, delivery, policy and listener wired together."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Any

from gateway import sdnotify
from gateway.actions import MessageProcessor, PolicyEvaluator
from gateway.auth import Credentials
from gateway.config import GatewayConfig
from gateway.delivery import DeliveryService
from gateway.log import get_logger
from gateway.metrics import GatewayMetrics
from gateway.server import Listener
from gateway.spool import DB_NAME as SPOOL_DB_NAME
from gateway.spool import Spool
from gateway.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from gateway.admin.http import AdminServer

log = get_logger("gateway.app")


def load_policy(config: GatewayConfig) -> PolicyEvaluator | None:
    if not config.policy.enabled:
        return None
    from gateway.policy.engine import PolicyEngine

    engine: PolicyEvaluator = PolicyEngine.load(config.policy, config.marketplace)
    return engine


class Gateway:
    def __init__(self, config: GatewayConfig, *, policy: Any = "load") -> None:
        self.config = config
        self._policy_arg = policy
        self.store: SQLiteStore | None = None
        self.spool: Spool | None = None
        self.delivery: DeliveryService | None = None
        self.listener: Listener | None = None
        self.processor: MessageProcessor | None = None
        self.admin: AdminServer | None = None
        self.metrics = GatewayMetrics()
        self.metrics.watch_state(config.state_dir / "gateway.db", config.state_dir / "spool" / SPOOL_DB_NAME)
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        cfg = self.config
        cfg.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        policy = load_policy(cfg) if self._policy_arg == "load" else self._policy_arg
        credentials = None
        if cfg.auth.credentials_file is not None:
            credentials = Credentials.load(cfg.auth.credentials_file)
        self.store = await SQLiteStore(cfg.state_dir).open()
        self.spool = await Spool.open(cfg.state_dir / "spool")
        self.delivery = DeliveryService(self.spool, cfg.upstream, cfg.delivery,
                                        outbox=cfg.outbox_dir, hostname=cfg.server.hostname)
        await self.delivery.start()
        self.processor = MessageProcessor(cfg, self.spool, self.store, self.delivery, policy,
                                          metrics=self.metrics)
        self.listener = Listener(cfg, self.processor, credentials)
        await self.listener.start()
        if cfg.admin.listen_address is not None:
            from gateway.admin.http import AdminServer
            from gateway.admin.review import QuarantineReview

            review = QuarantineReview(cfg, self.store, self.spool, policy, self.delivery.notify, self.metrics)
            self.admin = AdminServer(self, review)
            await self.admin.start()
        log.info("gateway_started", listen=cfg.server.listen, port=self.listener.port,
                 upstream=cfg.upstream.host or f"maildir:{cfg.outbox_dir}",
                 policy=policy is not None)

    async def stop(self, grace: float = 30.0) -> None:
        """SIGTERM: refuse new sessions (421), let open ones finish, flush deliveries, exit."""
        if self.admin is not None:
            await self.admin.stop()
            self.admin = None
        if self.listener is not None:
            drained = await self.listener.drain(grace)
            if not drained:
                log.warning("sessions_still_open_at_shutdown",
                            sessions=self.listener.active_sessions)
            await self.listener.close()
        if self.delivery is not None:
            await self.delivery.stop(timeout=grace)
        if self.spool is not None:
            await self.spool.close()
        if self.store is not None:
            await self.store.close()
        self._stopped.set()
        log.info("gateway_stopped")

    async def run(self) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_requested.set)
        sdnotify.notify("READY=1")
        await stop_requested.wait()
        sdnotify.notify("STOPPING=1")
        await self.stop()
