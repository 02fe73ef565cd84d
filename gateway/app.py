"""The running gateway: store, spool, delivery, tenants with their policy, and the listener."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from gateway import lifecycle
from gateway.actions import MessageProcessor, Notifier
from gateway.auth import Credentials
from gateway.bounces.imap import ImapPoller
from gateway.bounces.ingest import BounceIngestService, BounceOnlyProcessor
from gateway.config import ConfigError, GatewayConfig, PolicyConfig, load_config
from gateway.delivery import DeliveryService
from gateway.evaluation import pool_size, warm_up
from gateway.instance import instance_id
from gateway.lifecycle import PID_FILE as PID_FILE
from gateway.log import configure_logging, get_logger
from gateway.metrics import GatewayMetrics
from gateway.routing import upstream_routes
from gateway.server import Listener
from gateway.signing import DkimSigner
from gateway.spool import DB_NAME as SPOOL_DB_NAME
from gateway.spool import Spool
from gateway.spool.configured import open_spool
from gateway.spool.space import prepare_for_start
from gateway.store.base import Store
from gateway.store.factory import describe, open_store
from gateway.tenants import PolicyEvaluator, TenantDirectory

if TYPE_CHECKING:
    from gateway.admin.http import AdminServer
    from gateway.quarantine import QuarantineReview

log = get_logger("gateway.app")

# Release recovery: how often, and how old an unfinished release must be. A release in progress
# takes milliseconds between its claim and its spooling; at start, a few seconds' margin keeps a
# release the CLI is making on this state directory right then out of it.
RELEASE_RECOVERY_INTERVAL = 60.0
RELEASE_RECOVERY_AFTER = 60.0
RELEASE_RECOVERY_AT_START_AFTER = 5.0


def policy_loader(config: GatewayConfig) -> Callable[[PolicyConfig], PolicyEvaluator | None]:
    """Builds the policy engine for a (tenant's) policy configuration."""

    def build(policy: PolicyConfig) -> PolicyEvaluator | None:
        if not policy.enabled:
            return None
        from gateway.policy.engine import PolicyEngine

        return PolicyEngine.load(policy, config.marketplace)

    return build


Role = Literal["all", "worker", "supervisor"]


class Intake(Protocol):
    """A supervisor's worker processes, as its Gateway sees them."""

    def problems(self) -> list[str]: ...

    async def refresh_metrics(self) -> None: ...


class _CallNotifier:
    def __init__(self, notify: Callable[[], None]) -> None:
        self.notify = notify


def _no_notify() -> None:
    """Delivery runs in its own process and finds released messages by polling the spool."""


class Gateway:
    """``policy="load"`` loads the rule packs; tests may pass any object with the engine's interface
    (or None: no policy)."""

    def __init__(self, config: GatewayConfig, *, policy: PolicyEvaluator | Literal["load"] | None = "load",
                 config_path: Path | None = None, accept_empty_spool: bool = False,
                 role: Role = "all", sockets: Mapping[str, Sequence[socket.socket]] | None = None,
                 notify: Callable[[], None] | None = None) -> None:
        self.config = config
        # "all": one process does everything. With several worker processes (gateway/workers/)
        # a "worker" runs the SMTP listeners and the pipeline on ``sockets`` (listener key ->
        # bound sockets) and calls ``notify`` for what it queued; its "supervisor" runs delivery,
        # the admin server, IMAP polling and release recovery, once, with ``intake`` its workers.
        self.role: Role = role
        self.sockets: Mapping[str, Sequence[socket.socket]] = sockets or {}
        self._notify = notify
        self.intake: Intake | None = None
        self.accept_empty_spool = accept_empty_spool
        self.config_path = config_path
        self._policy_arg = policy
        self.store: Store | None = None
        self.spool: Spool | None = None
        self.delivery: DeliveryService | None = None
        self.listener: Listener | None = None
        self.processor: MessageProcessor | None = None
        self.tenants: TenantDirectory | None = None
        self.bounces: BounceIngestService | None = None
        self.bounce_listener: Listener | None = None
        self.imap_pollers: list[ImapPoller] = []
        self._imap_tasks: list[asyncio.Task[None]] = []
        self.delivery_process: Any = None
        self.admin: AdminServer | None = None
        self.review: QuarantineReview | None = None
        self._recovery_task: asyncio.Task[None] | None = None
        # Its own registry: several gateways in one process (tests) keep separate metrics.
        self.metrics = GatewayMetrics()
        if role != "worker":  # the spool's depths and deliveries: counted once, by the supervisor
            self.metrics.watch_state(config.state_dir / "spool" / SPOOL_DB_NAME)

    def _tenant_directory(self, config: GatewayConfig) -> TenantDirectory:
        if self._policy_arg == "load":
            return TenantDirectory(config, policy_loader(config))
        fixed = self._policy_arg
        return TenantDirectory(config, lambda _policy: fixed)

    async def start(self) -> None:
        """Open the state, the spool and delivery, then listen. A start that fails (or is cancelled)
        closes what it had opened before it raises: nothing is left holding the state's files, the
        shared writer or a delivery task, whoever called it."""
        try:
            await self._start()
        except BaseException:
            with contextlib.suppress(Exception):
                await self.stop(grace=1.0)
            self._forget_parts()
            raise

    def _forget_parts(self) -> None:
        """After a failed start: a later ``stop()`` finds nothing to close twice."""
        self.admin = self.listener = self.bounce_listener = self.processor = None
        self.delivery = self.delivery_process = None
        self.spool = None
        self.store = None
        self.imap_pollers.clear()

    async def _start(self) -> None:
        cfg = self.config
        role = self.role
        cfg.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.tenants = await asyncio.to_thread(self._tenant_directory, cfg)
        if role != "supervisor":  # a supervisor evaluates only releases and recovered mail: on demand
            warm_up(self.tenants.default_policy, cfg.policy.evaluation_isolation,
                    size=pool_size(cfg.server.worker_count if role == "worker" else 1))
        credentials = None
        if cfg.auth.credentials_file is not None and role != "supervisor":
            credentials = Credentials.load(cfg.auth.credentials_file)
        if role != "worker":
            # On a full disk the spool's ballast goes first, so the state opens and the spool drains.
            # (A worker starts after its supervisor did this.)
            await asyncio.to_thread(prepare_for_start, cfg.state_dir / "spool", cfg.state.min_free_bytes)
        self.store = await open_store(cfg)
        separate = cfg.delivery.process == "separate"
        # A worker runs no delivery: its supervisor's delivery finds what it spooled (told by
        # ``notify`` to look now), so its puts are not kept in memory for a delivery of its own.
        self.spool = await open_spool(cfg, handoff=not separate and role != "worker",
                                      accept_empty=self.accept_empty_spool)
        self.metrics.watch_spool_problem(lambda: self.spool.problem if self.spool else None)
        if role == "worker":
            pass
        elif separate:
            from gateway.deliverer import DeliveryProcess

            self.delivery_process = DeliveryProcess(cfg)
            await self.delivery_process.start()
        else:
            self.delivery = DeliveryService(self.spool, cfg.upstream, cfg.delivery, outbox=cfg.outbox_dir,
                                            hostname=cfg.server.hostname, routes=upstream_routes(cfg))
            await self.delivery.start()
        self.bounces = BounceIngestService(self.store, cfg)
        if role != "supervisor":
            await self._start_listeners(credentials)
        if role != "worker":
            await self._start_background()
        log.info("gateway_started", listen=cfg.server.listen,
                 port=self.listener.port if self.listener else None, role=role,
                 upstream=cfg.upstream.host or f"maildir:{cfg.outbox_dir}", state=describe(cfg),
                 policy=self.tenants.default_policy is not None,
                 tenants=sorted(self.tenants.tenants), bounce_addresses=list(cfg.bounces.addresses),
                 bounce_port=self.bounce_listener.port if self.bounce_listener else None,
                 imap=[p.source for p in self.imap_pollers])

    async def _start_listeners(self, credentials: Credentials | None) -> None:
        """The SMTP sessions and their pipeline (in a worker: on the sockets its supervisor bound)."""
        cfg = self.config
        assert self.spool is not None and self.store is not None and self.tenants is not None
        notifier: Notifier | None = self.delivery
        if self.role == "worker" and self._notify is not None:
            notifier = _CallNotifier(self._notify)
        self.processor = MessageProcessor(cfg, self.spool, self.store, self.tenants, notifier,
                                          bounces=self.bounces, metrics=self.metrics)
        self.listener = Listener(cfg, self.processor, credentials)
        self.listener.handler.events = self.metrics.smtp_event
        await self.listener.start(self.sockets.get("server.listen", ()),
                                  self.sockets.get("server.implicit_tls_listen", ()))
        if cfg.bounces.listen is not None:
            assert self.bounces is not None
            # Its own port, same access control, tenants and TLS: only bounce-backs, never relayed.
            bounce_cfg = cfg.model_copy(update={"server": cfg.server.model_copy(
                update={"listen": cfg.bounces.listen, "implicit_tls_listen": None})})
            self.bounce_listener = Listener(
                bounce_cfg, BounceOnlyProcessor(self.bounces, self.processor), credentials)
            self.bounce_listener.handler.events = self.metrics.smtp_event
            await self.bounce_listener.start(self.sockets.get("bounces.listen", ()))

    async def _start_background(self) -> None:
        """What runs once per instance: IMAP polling, release recovery, the admin server."""
        cfg = self.config
        assert self.store is not None and self.spool is not None and self.bounces is not None
        for mailbox in cfg.bounces.imap:
            poller = ImapPoller(mailbox, self.bounces)
            self.imap_pollers.append(poller)
            self._imap_tasks.append(asyncio.create_task(poller.run(), name=f"imap-poller:{poller.source}"))
        from gateway.quarantine import QuarantineReview, tenants_from

        self.review = review = QuarantineReview(
            cfg, self.store, self.spool, tenants_from(lambda: self.tenants),
            self.delivery.notify if self.delivery is not None else _no_notify, self.metrics,
            instance=instance_id(cfg.state_dir))
        # Releases this instance's previous process claimed and did not finish: at start, all of
        # them; later, any left by a commit whose acknowledgement was lost.
        self._recovery_task = asyncio.create_task(self._recover_releases(review), name="release-recovery")
        if cfg.admin.listen_address is not None:
            from gateway.admin.server import admin_server

            self.admin = admin_server(self, review)
            await self.admin.start()

    async def refresh_metrics(self) -> None:
        """Before a scrape: a supervisor collects its workers' counters (gateway/workers/)."""
        if self.intake is not None:
            await self.intake.refresh_metrics()

    def readiness_problems(self) -> list[str]:
        """Why the gateway cannot take mail right now (empty: ready), for ``/readyz``."""
        problems = []
        if self.intake is not None:
            problems.extend(self.intake.problems())
        elif self.listener is None or not self.listener.serving:
            problems.append("listener not serving")
        elif self.listener.closing:
            problems.append("draining")
        if self.store is None or not self.store.is_open:
            problems.append("store not open")
        if self.spool is None:
            problems.append("spool not open")
        elif self.spool.problem is not None:
            problems.append(f"spool damaged ({self.spool.problem}); run gateway spool salvage")
        return problems

    async def reload(self, config: GatewayConfig | None = None) -> bool:
        """New config and rule packs for new sessions; a broken one is refused and logged."""
        try:
            if config is None:
                config = load_config(self.config_path)
            tenants = await asyncio.to_thread(self._tenant_directory, config)
            await asyncio.to_thread(DkimSigner.from_config, config.dkim)  # key files readable, or refused
        except ConfigError as exc:
            log.error("reload_refused", source=exc.source, errors=exc.errors)
            return False
        except Exception as exc:
            log.error("reload_refused", error=str(exc))
            return False
        restart_only = [name for name in ("listen", "implicit_tls_listen", "hostname")
                        if getattr(config.server, name) != getattr(self.config.server, name)]
        if config.tls != self.config.tls or config.state != self.config.state:
            restart_only.append("tls/state")
        if (config.bounces.listen, config.bounces.imap) != (self.config.bounces.listen,
                                                              self.config.bounces.imap):
            restart_only.append("bounces.listen/bounces.imap")
        if config.admin != self.config.admin:
            restart_only.append("admin")
        if restart_only:
            log.warning("reload_needs_restart_for", settings=restart_only)
        if config.log != self.config.log:
            configure_logging(config.log.format, config.log.level)
        self.config, self.tenants = config, tenants
        if self.processor is not None:
            self.processor.reconfigure(config, tenants)
        if self.review is not None:
            self.review.reconfigure(config)
        if self.bounces is not None:
            self.bounces.reconfigure(config)
        if self.listener is not None:
            self.listener.reconfigure(config)
        if self.delivery is not None:
            await self.delivery.reconfigure(config.upstream, upstream_routes(config))
        if self.delivery_process is not None:
            await self.delivery_process.restart(config)
        if self.admin is not None:
            await self.admin.reconfigure(config)
        log.info("reloaded", needs_restart=restart_only, tenants=sorted(tenants.tenants),
                 shadow=sorted(t.id for t in tenants.tenants.values() if t.shadow))
        return True

    async def stop(self, grace: float = 30.0) -> None:
        """SIGTERM: refuse new sessions (421), let open ones finish, flush deliveries, exit."""
        if self._recovery_task is not None:
            self._recovery_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery_task
            self._recovery_task = None
        if self.admin is not None:
            await self.admin.stop()
            self.admin = None
        if self.listener is not None:
            drained = await self.listener.drain(grace)
            if not drained:
                log.warning("sessions_still_open_at_shutdown",
                            sessions=self.listener.active_sessions)
            await self.listener.close()
        if self.processor is not None:
            await self.processor.drain(grace)
        if self.bounce_listener is not None:
            await self.bounce_listener.drain(grace)
            await self.bounce_listener.close()
        await self._stop_pollers(grace)
        if self.delivery is not None:
            await self.delivery.stop(timeout=grace)
        if self.delivery_process is not None:
            await self.delivery_process.stop(timeout=grace)
        if self.spool is not None:
            await self.spool.close()
        if self.store is not None:
            await self.store.close()
        log.info("gateway_stopped")

    async def _recover_releases(self, review: QuarantineReview) -> None:
        older_than = RELEASE_RECOVERY_AT_START_AFTER
        while True:
            try:
                await review.recover_releases(older_than=older_than)
            except Exception as exc:  # the database or spool unavailable for now: next round
                log.error("release_recovery_failed", error=str(exc))
            older_than = RELEASE_RECOVERY_AFTER
            await asyncio.sleep(RELEASE_RECOVERY_INTERVAL)

    async def _stop_pollers(self, grace: float) -> None:
        for poller in self.imap_pollers:
            poller.stop()
        if self._imap_tasks:
            _done, pending = await asyncio.wait(self._imap_tasks, timeout=grace)
            for task in pending:
                task.cancel()
        self._imap_tasks.clear()

    async def run(self) -> None:
        """Serve until SIGTERM (PID file lock, signals, systemd notifications: gateway.lifecycle)."""
        await lifecycle.serve(self)
