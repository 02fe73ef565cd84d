"""The disagreements view: where the gateway relayed and Amazon refused (gateway/learning.py).

A page listing each disagreement with the relayed message, its verdict and hits beside Amazon's
reason, counts per rule pack and per tenant, the templates held and the tenants restricted; forms
to mark a template fixed and to clear a restriction. The same as JSON under ``/api/``.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from gateway.admin.api import body_of, server_of
from gateway.admin.http import actor_of
from gateway.admin.render import back, render
from gateway.learning import clear_restriction, disagreement_report, fix_template
from gateway.log import get_logger
from gateway.store.base import Store

log = get_logger("gateway.admin.learning")

_DAY = 86400.0


def _store(request: web.Request) -> Store:
    store = server_of(request).gateway.store
    assert store is not None
    return store


def _since(request: web.Request, default_days: float) -> float:
    try:
        days = float(request.query.get("days", default_days))
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "days must be a number"}', content_type="application/json") from None
    return time.time() - days * _DAY if days > 0 else 0.0


def _tenant(request: web.Request) -> str | None:
    raw = request.query.get("tenant")
    return None if raw is None or raw == "*" else raw


def _id(request: web.Request) -> int:
    try:
        return int(request.match_info["did"])
    except ValueError:
        raise web.HTTPNotFound(text="no such disagreement") from None


def _back(request: web.Request, *, msg: str = "", err: str = "") -> web.HTTPSeeOther:
    return back(request, "/disagreements", msg=msg, err=err)


# -- page -------------------------------------------------------------------------------------------
async def disagreements_page(request: web.Request) -> web.Response:
    section = await disagreement_report(_store(request), _since(request, 90), _tenant(request), limit=200)
    tenants = sorted(t.id for t in server_of(request).gateway.config.tenants)
    return await render(request, "disagreements.html", report=section, tenants=tenants, tenant=_tenant(request),
                        days=request.query.get("days", "90"))


async def fix_form(request: web.Request) -> web.StreamResponse:
    fields = await body_of(request)
    reason = str(fields.get("reason", "")).strip()
    if not reason:
        raise _back(request, err="Say what was changed in the template (the reason is audited).")
    fixed = await _fix(request, reason)
    if fixed is None:
        raise _back(request, err="No such disagreement.")
    raise _back(request, msg=f"Template fixed: {len(fixed)} held template record(s) released." if fixed
                else "That template was not held.")


async def clear_form(request: web.Request) -> web.StreamResponse:
    fields = await body_of(request)
    reason = str(fields.get("reason", "")).strip()
    tenant = str(fields.get("tenant", ""))
    if not reason:
        raise _back(request, err="Say why the restriction is cleared (the reason is audited).")
    cleared = await _clear(request, tenant, reason)
    raise _back(request, msg=f"Restriction of tenant {tenant or 'default'} cleared." if cleared
                else f"Tenant {tenant or 'default'} had no active restriction.")


# -- actions shared by page and API -------------------------------------------------------------------
async def _fix(request: web.Request, reason: str) -> list[int] | None:
    server = server_of(request)
    try:
        fixed = await fix_template(_store(request), _id(request), actor_of(request), reason,
                                   server.gateway.config.learning.template_similarity)
    except KeyError:
        return None
    server.gateway.metrics.admin_actions.labels("template-fixed").inc()
    return fixed


async def _clear(request: web.Request, tenant: str, reason: str) -> int:
    server = server_of(request)
    cleared = await clear_restriction(_store(request), tenant, actor_of(request), reason)
    if cleared:
        server.gateway.metrics.admin_actions.labels("restriction-cleared").inc()
    return cleared


# -- JSON API -----------------------------------------------------------------------------------------
def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status)


async def api_list(request: web.Request) -> web.Response:
    """``days`` (default 90; 0: all), ``tenant``, ``limit`` (default 200)."""
    try:
        limit = max(1, min(int(request.query.get("limit", 200)), 5000))
    except ValueError:
        return _json({"error": "limit must be a number"}, 400)
    return _json(await disagreement_report(_store(request), _since(request, 90), _tenant(request), limit))


async def api_show(request: web.Request) -> web.Response:
    found = await _store(request).disagreement(_id(request))
    if found is None:
        return _json({"error": "not-found"}, 404)
    return _json(found.as_json())


async def api_fix(request: web.Request) -> web.Response:
    reason = str((await body_of(request)).get("reason", "")).strip()
    if not reason:
        return _json({"ok": False, "error": "reason-required"}, 400)
    fixed = await _fix(request, reason)
    if fixed is None:
        return _json({"ok": False, "error": "not-found"}, 404)
    return _json({"ok": True, "fixed": fixed})


async def api_restrictions(request: web.Request) -> web.Response:
    found = await _store(request).restrictions(_tenant(request))
    return _json([r.as_json() for r in found])


async def api_clear(request: web.Request) -> web.Response:
    fields = await body_of(request)
    reason = str(fields.get("reason", "")).strip()
    if not reason:
        return _json({"ok": False, "error": "reason-required"}, 400)
    tenant = str(fields.get("tenant", "") or "")
    return _json({"ok": True, "tenant": tenant, "cleared": await _clear(request, tenant, reason)})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/disagreements", disagreements_page)
    app.router.add_post("/disagreements/{did}/fix", fix_form)
    app.router.add_post("/restrictions/clear", clear_form)
    app.router.add_get("/api/disagreements", api_list)
    app.router.add_get("/api/disagreements/{did}", api_show)
    app.router.add_post("/api/disagreements/{did}/fix", api_fix)
    app.router.add_get("/api/restrictions", api_restrictions)
    app.router.add_post("/api/restrictions/clear", api_clear)
