"""The report pages: one message's trail from acceptance to delivery, and the daily counts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from gateway.admin import charts
from gateway.admin.api import queries_of, server_of
from gateway.admin.render import hits_of, render, tenant_ids_of


# -- message tracking ------------------------------------------------------------------------------------
async def track(request: web.Request) -> web.Response:
    """One message from acceptance to delivery: its decision, hold and review, relays, delivery
    attempts (per recipient, from the spool), the bounce notices for its aliases, and the audit."""
    server = server_of(request)
    ref = request.query.get("id", "").strip()[:300]
    if not ref:
        return await render(request, "track.html", ref="", events=[], deliveries=[], found=False)
    store = server.gateway.store
    assert store is not None
    trail = await queries_of(server).message_trail(ref)
    deliveries = []
    spool = server.gateway.spool
    if spool is not None:
        for queue_id in dict.fromkeys([*trail.queue_ids, ref]):
            info = await spool.info(queue_id)
            if info is not None:
                deliveries.append(info)
    events: list[dict[str, Any]] = []
    for d in trail.decisions:
        action = f"would-{d.action}" if d.shadow else d.action
        events.append({"at": d.at, "kind": "decision", "what": f"decided: {action}",
                       "detail": f"{d.mail_from} → {', '.join(d.rcpt_tos)} from {d.peer}; rules: "
                                 + (", ".join(d.rules) or "none")})
    decided_at = {d.ref: d.at for d in trail.decisions if d.ref}
    for h in trail.held:
        # Held just before its decision is written: shown right after the decision it carries out.
        events.append({"at": h.held_at, "order": decided_at.get(h.id, h.held_at) + 1e-6, "kind": "held",
                       "what": f"held as {h.id}", "link": f"/quarantine/{h.id}",
                       "detail": "; ".join(f"{x.get('rule')}: {x.get('reason')}" for x in hits_of(h.verdict))})
    audit = await queries_of(server).audit_for_objects([h.id for h in trail.held] + trail.queue_ids)
    for rows in audit.values():
        for a in rows:
            events.append({"at": a.at, "kind": "audit", "what": f"{a.action} by {a.actor}",
                           "detail": f"{a.object}: {a.reason}"})
    for r in trail.relays:
        events.append({"at": r.at, "kind": "relay", "what": f"relayed to {r.alias} ({r.marketplace})",
                       "detail": f"queue id {r.queue_id}" + (f", orders {' '.join(r.order_ids)}"
                                                                 if r.order_ids else "")})
    for info in deliveries:
        events.append({"at": info.arrived, "kind": "spool", "what": f"spooled as {info.queue_id}",
                       "detail": f"{info.state}, {info.attempts} attempt(s)"})
    first_relay = min((r.at for r in trail.relays), default=None)
    for alias in sorted({(r.alias, r.tenant) for r in trail.relays}):
        for n in await store.notices(alias=alias[0], tenant=alias[1], limit=20):
            if first_relay is not None and n.at >= first_relay:
                events.append({"at": n.at, "kind": "bounce", "what": f"bounce notice {n.id}: {n.kind}",
                               "link": f"/bounces/{n.id}", "detail": f"for {alias[0]}"})
    events.sort(key=lambda e: e.get("order", e["at"]))
    found = bool(events or deliveries)
    return await render(request, "track.html", ref=ref, events=events, deliveries=deliveries, found=found)


async def stats(request: web.Request) -> web.Response:
    """Counts for every tenant, or with ``?tenant=`` for one (its decisions, chart and senders)."""
    server = server_of(request)
    store = server.gateway.store
    assert store is not None
    tenants = tenant_ids_of(request)
    raw = request.query.get("tenant")
    tenant = raw if raw is not None and raw != "*" and (raw == "" or raw in tenants) else None
    queries = queries_of(server)
    days = await store.daily_counts(14) if tenant is None else await queries.tenant_daily_counts(tenant, 14)
    report = await store.report(time.time() - 14 * 86400, 10, tenant)
    actions = sorted({a for d in days for a in d["actions"]})
    rules = sorted({r for d in days for r in d["rules"]})
    chart = await asyncio.to_thread(charts.decisions_chart, days, actions)
    held = await queries.quarantine_by_tenant() if tenants else {}
    return await render(request, "stats.html", days=days, actions=actions, rules=rules, report=report, chart=chart,
                        tenants=tenants, tenant=tenant, held=held)
