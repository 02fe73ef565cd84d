"""Prometheus metrics of one gateway, in its own CollectorRegistry (tests run several gateways).

Events counted where they happen (decisions, rule hits, end-of-DATA latency, admin actions) are
plain counters and histograms. Delivery needs no hooks in its code: each scrape reads from the
spool what finished since the previous one (recipients delivered or failed, message latency) and
adds it to ordinary counters and a histogram, so the spool's purge of old entries never makes a
counter go down. Depths (spool, quarantine) and bounce notices by kind are read from SQLite as they
are. A scrape does blocking SQLite reads: call ``render()`` from a worker thread, not the loop.
"""

from __future__ import annotations

import platform
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway import replies
from gateway.policy.verdict import Verdict
from gateway.store.records import LearningCounts

# End of DATA covers policy evaluation and an fsync'd store or spool write.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0)
SETTLE_SECONDS = 1.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        # The tenant label takes only configured tenant ids (and "" without tenants): bounded.
        self.messages = Counter("gateway_messages",
                                "Messages decided at end of DATA, by action, marketplace and tenant",
                                ["action", "marketplace", "tenant"], registry=r)
        self.rule_hits = Counter("gateway_rule_hits", "Policy rule hits, by rule, the rule's action and tenant",
                                 ["rule", "action", "tenant"], registry=r)
        self.processing_seconds = Histogram(
            "gateway_processing_seconds",
            "Time from end of DATA to the SMTP reply, by what the reply did: relay, quarantine, reject, tempfail",
            ["action"], buckets=LATENCY_BUCKETS, registry=r)
        self.admin_actions = Counter("gateway_admin_actions", "Quarantine actions taken by admins",
                                     ["action"], registry=r)
        self.deliveries = Counter("gateway_deliveries", "Recipients finished by delivery, by outcome",
                                  ["outcome"], registry=r)
        self.delivery_seconds = Histogram(
            "gateway_delivery_seconds", "Time from acceptance to the upstream's final answer, per message",
            buckets=DELIVERY_BUCKETS, registry=r)
        # The listener's events (gateway/server.py calls smtp_event).
        self.smtp_sessions = Counter("gateway_smtp_sessions", "SMTP sessions opened (refused ones not counted)",
                                     registry=r)
        self.auth_failures = Counter("gateway_auth_failures", "SMTP AUTH attempts with wrong credentials",
                                     registry=r)
        self.relay_denied = Counter("gateway_relay_denied",
                                    "RCPT refused because the client may not relay (no AUTH, network not allowed)",
                                    registry=r)
        self.tls_handshake_failures = Counter(
            "gateway_tls_handshake_failures", "TLS handshakes that failed, by where: starttls or implicit (port)",
            ["mode"], registry=r)
        # process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ... of this process.
        ProcessCollector(registry=r)
        from gateway import __version__

        Info("gateway_build", "The running gateway's version and Python", registry=r).info(
            {"version": __version__, "python": platform.python_version(),
             "implementation": platform.python_implementation()})
        self._spool_db: Path | None = None
        self._spool_damaged: Gauge | None = None
        self._state: StateCollector | None = None
        self._render_lock = threading.Lock()
        # With several worker processes the supervisor adds their figures to its own (gateway/workers/).
        self.merge: Callable[[bytes], bytes] | None = None
        # Only what finishes from now on: a restart starts these afresh, like every counter.
        self._cursor = time.time()

    def observe_decision(self, verdict: Verdict, marketplace: str | None = None, shadow: bool = False,
                         tenant: str = "") -> None:
        """One decision, as logged: ``marketplace`` is the recipients' when the verdict names none
        (no policy engine ran); in shadow mode the action is what *would* have happened."""
        action = f"would-{verdict.action}" if shadow else str(verdict.action)
        self.messages.labels(action, verdict.marketplace or marketplace or "none", tenant).inc()
        for hit in verdict.hits:
            self.rule_hits.labels(hit.rule, str(hit.action), tenant).inc()

    def observe_reply(self, reply: str, seconds: float) -> None:
        """End-of-DATA latency by what the client was told; 4xx answers also count as ``tempfail``."""
        action = reply_action(reply)
        if action == "tempfail":
            self.messages.labels("tempfail", "none", "").inc()
        self.processing_seconds.labels(action).observe(seconds)

    def smtp_event(self, name: str) -> None:
        """One listener event: session, auth_failed, relay_denied, tls_failed_starttls/_implicit."""
        if name == "session":
            self.smtp_sessions.inc()
        elif name == "auth_failed":
            self.auth_failures.inc()
        elif name == "relay_denied":
            self.relay_denied.inc()
        elif name.startswith("tls_failed_"):
            self.tls_handshake_failures.labels(name.removeprefix("tls_failed_")).inc()

    def watch_state(self, spool_db: Path) -> None:
        """The spool's depths are read from its file at scrape time; the store's counts come from
        ``set_store_counts`` (the admin server reads them through the Store before a scrape)."""
        self._state = StateCollector(spool_db)
        self.registry.register(self._state)
        self._spool_db = spool_db

    def watch_spool_problem(self, problem: Callable[[], str | None]) -> None:
        """gateway_spool_damaged: 1 while the spool refuses mail because it found damage."""
        if self._spool_damaged is None:
            self._spool_damaged = Gauge("gateway_spool_damaged",
                                        "1 while the spool refuses new mail because its database is damaged",
                                        registry=self.registry)
        self._spool_damaged.set_function(lambda: 1.0 if problem() else 0.0)

    def set_store_counts(self, counts: tuple[int, dict[str, int]]) -> None:
        """(messages held, notices by kind) as ``Store.state_counts`` gives them."""
        if self._state is not None:
            self._state.store_counts = counts

    def set_learning_counts(self, counts: LearningCounts) -> None:
        """Disagreements per (tenant, pack), held templates and restrictions per tenant
        (``gateway.learning.learning_counts``)."""
        if self._state is not None:
            self._state.learning_counts = counts

    def _observe_finished_deliveries(self) -> None:
        """Add what the spool finished in (cursor, now - SETTLE] to the delivery counters.

        Results are time-stamped just before their commit; reading only up to SETTLE seconds ago
        means a result committed a moment after its time stamp is still counted, exactly once.
        """
        if self._spool_db is None:
            return
        upto = time.time() - SETTLE_SECONDS
        if upto <= self._cursor:
            return
        conn = _read_only(self._spool_db)
        if conn is None:
            return
        try:
            outcomes = conn.execute(
                "SELECT state, count(*) FROM recipients WHERE state IN ('delivered', 'failed')"
                " AND updated > ? AND updated <= ? GROUP BY state", (self._cursor, upto)).fetchall()
            latencies = conn.execute(
                "SELECT finished - arrived FROM messages WHERE state = 'done' AND finished > ? AND finished <= ?",
                (self._cursor, upto)).fetchall()
        except sqlite3.Error:
            return
        finally:
            conn.close()
        for outcome, count in outcomes:
            self.deliveries.labels(outcome).inc(count)
        for (seconds,) in latencies:
            self.delivery_seconds.observe(max(0.0, seconds))
        self._cursor = upto

    def render(self) -> bytes:
        """The exposition text; blocking (SQLite reads), so call it from a worker thread."""
        with self._render_lock:
            self._observe_finished_deliveries()
            text = generate_latest(self.registry)
        return self.merge(text) if self.merge is not None else text


_HELD = replies.QUARANTINED.split("{", 1)[0]  # "250 2.0.0 Ok: held for review as "


def reply_action(reply: str) -> str:
    """What an end-of-DATA reply did, in gateway_messages_total's words."""
    if reply.startswith(_HELD):
        return "quarantine"
    if reply.startswith("2"):
        return "relay"
    if reply.startswith("4"):
        return "tempfail"
    return "reject"


def _read_only(path: Path) -> sqlite3.Connection | None:
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    return conn


class StateCollector(Collector):
    """Spool depths read at scrape time, and the store's counts as last set."""

    def __init__(self, spool_db: Path) -> None:
        self.spool_db = spool_db
        self.store_counts: tuple[int, dict[str, int]] | None = None
        self.learning_counts: LearningCounts | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(())  # no describe-time queries (registration must not touch the databases)

    def collect(self) -> Iterator[Metric]:
        spool_depth = GaugeMetricFamily("gateway_spool_depth", "Messages in the spool with a recipient still pending")
        deferred = GaugeMetricFamily("gateway_spool_deferred_recipients",
                                     "Pending recipients whose last attempt failed temporarily")
        quarantine = GaugeMetricFamily("gateway_quarantine_depth", "Messages held in quarantine")
        notices = CounterMetricFamily("gateway_bounce_notices", "Bounce notices recorded, by kind",
                                      labels=["kind"])
        conn = _read_only(self.spool_db)
        if conn is not None:
            try:
                spool_depth.add_metric([], conn.execute(
                    "SELECT count(*) FROM messages WHERE state='pending'").fetchone()[0])
                deferred.add_metric([], conn.execute(
                    "SELECT count(*) FROM recipients WHERE state='pending' AND code IS NOT NULL").fetchone()[0])
            except sqlite3.Error:
                pass  # a spool not initialised yet has no tables: report nothing rather than fail
            finally:
                conn.close()
        if self.store_counts is not None:
            held, by_kind = self.store_counts
            quarantine.add_metric([], held)
            for kind, count in sorted(by_kind.items()):
                notices.add_metric([kind], count)
        yield from (spool_depth, deferred, quarantine, notices)
        if self.learning_counts is not None:
            yield from _learning_metrics(self.learning_counts)


def _learning_metrics(counts: LearningCounts) -> Iterator[Metric]:
    disagreements = CounterMetricFamily(
        "gateway_disagreements",
        "Messages the gateway relayed and Amazon refused for a policy reason, by tenant and by the rule pack"
        " of the rules that hit them (none: no rule did)", labels=["tenant", "pack"])
    for (tenant, pack), count in sorted(counts.disagreements.items()):
        disagreements.add_metric([tenant, pack], count)
    held = GaugeMetricFamily("gateway_templates_held",
                             "Templates held for review after a disagreement, by tenant", labels=["tenant"])
    for tenant, count in sorted(counts.held_templates.items()):
        held.add_metric([tenant], count)
    restricted = GaugeMetricFamily("gateway_tenant_restricted",
                                   "1 while Amazon restricts the tenant's proactive messaging", labels=["tenant"])
    for tenant in sorted(counts.restricted):
        restricted.add_metric([tenant], 1)
    yield from (disagreements, held, restricted)
