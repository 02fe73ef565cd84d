"""The admin JSON API: quarantine, opt-out registry, unmatched bounce notices, decisions, reports.

Every route needs authentication (see ``gateway.admin.http``). Actions are POSTs taking JSON or a
form; each is logged and audited with the actor who made it.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from gateway.admin.bulk import bulk
from gateway.admin.filters import FilterError, QuarantineFilter, audit_query, quarantine_filter
from gateway.admin.http import ADMIN_KEY, AdminServer, actor_of
from gateway.admin.message_view import evidence_of, preview
from gateway.log import get_logger
from gateway.quarantine import ReviewError
from gateway.store.base import AliasStatus
from gateway.store.search import BULK_LIMIT, MAX_PAGE_SIZE, ReviewQueries
from gateway.transaction import check_address

log = get_logger("gateway.admin.api")


def server_of(request: web.Request) -> AdminServer:
    return request.app[ADMIN_KEY]


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False, default=str))


async def body_of(request: web.Request) -> dict[str, Any]:
    """A POST's fields from JSON or a form."""
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except json.JSONDecodeError:
            raise web.HTTPBadRequest(text='{"error": "bad-json"}', content_type="application/json") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text='{"error": "expected an object"}', content_type="application/json")
        return data
    form = await request.post()
    return {k: str(v) for k, v in form.items()}


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "on", "yes")


def _float_arg(request: web.Request, name: str, default: float) -> float:
    try:
        return float(request.query.get(name, default))
    except ValueError:
        raise web.HTTPBadRequest(text=f'{{"error": "{name} must be a number"}}',
                                 content_type="application/json") from None


def queries_of(server: AdminServer) -> ReviewQueries:
    store: object = server.gateway.store  # both backends answer them (gateway.store.search)
    assert isinstance(store, ReviewQueries), "the state backend answers no review queries"
    return store


def filter_of(request: web.Request, params: Any = None, *, default_limit: int = MAX_PAGE_SIZE) -> QuarantineFilter:
    """The quarantine filter of a request (its query, or ``params``); 400 when a field is bad."""
    server = server_of(request)
    try:
        return quarantine_filter(request.query if params is None else params, default_limit=default_limit,
                                 marketplace_prefix=server.gateway.config.marketplace.domain_prefix)
    except FilterError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": "bad-filter", "message": str(exc)}),
                                 content_type="application/json") from None


def _paged(request: web.Request, items: list[Any], total: int, cursor: str | None) -> web.Response:
    """A JSON list (the contract since the first API), with the total and the next page in headers."""
    response = _json(items)
    response.headers["X-Total-Count"] = str(total)
    if cursor is not None:
        response.headers["Link"] = f'<{request.rel_url.update_query(before=cursor)}>; rel="next"'
    return response


async def list_quarantine(request: web.Request) -> web.Response:
    """Newest first, up to ``limit`` (default and ceiling 500) a page; ``Link: rel=next`` for more."""
    page = await queries_of(server_of(request)).search_quarantine(filter_of(request).query)
    response = _paged(request, [r.as_json() for r in page.items], page.total, page.next_cursor)
    if not page.total_exact:
        response.headers["X-Total-Count-Capped"] = "true"  # at least X-Total-Count match
    return response


async def show_quarantine(request: web.Request) -> web.Response:
    server = server_of(request)
    review = server.review
    try:
        record = await review.get(request.match_info["qid"])
        out = record.as_json()
        try:
            # Parsing a message of up to max_message_size is heavy work: off the event loop.
            out["preview"] = (await asyncio.to_thread(preview, await review.raw(record))).as_json()
        except ReviewError:
            out["preview"] = None
    except ReviewError as exc:
        return _json({"error": exc.code, "message": str(exc)}, exc.status)
    out["evidence"] = evidence_of(record)
    out["audit"] = [a.as_json() for a in (await queries_of(server).audit_for_objects([record.id]))[record.id]]
    return _json(out)


async def bulk_quarantine(request: web.Request) -> web.Response:
    """``{"action": "release"|"delete", "ids": [...] or "filter": {...}, "reason": "...", "force": false}``."""
    fields = await body_of(request)
    server = server_of(request)
    ids = fields.get("ids")
    if ids is None and isinstance(fields.get("filter"), dict):
        ids = await queries_of(server).quarantine_ids(filter_of(request, fields["filter"]).query, BULK_LIMIT)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > BULK_LIMIT:
        return _json({"ok": False, "error": "bad-ids",
                      "message": f"give ids (a list of at most {BULK_LIMIT}) or a filter"}, 400)
    try:
        result = await bulk(server.review, str(fields.get("action", "")), ids,  # type: ignore[arg-type]
                            actor=actor_of(request), reason=str(fields.get("reason", "")),
                            force=truthy(fields.get("force")))
    except ReviewError as exc:
        return _json({"ok": False, "error": exc.code, "message": str(exc)}, exc.status)
    return _json({"ok": not result.refused, **result.as_json()})


async def release_quarantine(request: web.Request) -> web.Response:
    fields = await body_of(request)
    review = server_of(request).review
    try:
        result = await review.release(request.match_info["qid"], actor=actor_of(request),
                                      reason=str(fields.get("reason", "")), force=truthy(fields.get("force")))
    except ReviewError as exc:
        return _json({"ok": False, "error": exc.code, "message": str(exc)}, exc.status)
    return _json({"ok": True, **result.as_json()})


async def delete_quarantine(request: web.Request) -> web.Response:
    fields = await body_of(request)
    review = server_of(request).review
    qid = request.match_info["qid"]
    try:
        await review.delete(qid, actor=actor_of(request), reason=str(fields.get("reason", "")))
    except ReviewError as exc:
        return _json({"ok": False, "error": exc.code, "message": str(exc)}, exc.status)
    return _json({"ok": True, "quarantine_id": qid})


async def list_optouts(request: web.Request) -> web.Response:
    store = server_of(request).gateway.store
    assert store is not None
    query = request.query.get("status") or None
    statuses: dict[str | None, AliasStatus | None] = {None: None, "optout": "optout", "dead": "dead"}
    if query not in statuses:
        return _json({"error": "status must be optout or dead"}, 400)
    status = statuses[query]
    tenant = request.query.get("tenant")  # absent: every tenant's entries
    records = await store.list_aliases(status, request.query.get("search") or None, tenant)
    return _json([r.as_json() for r in records])


async def list_unmatched_bounces(request: web.Request) -> web.Response:
    store = server_of(request).gateway.store
    assert store is not None
    return _json([n.as_review_json() for n in await store.unmatched_notices()])


async def assign_bounce(request: web.Request) -> web.Response:
    fields = await body_of(request)
    try:
        notice_id = int(request.match_info["nid"])
    except ValueError:
        return _json({"error": "bad notice id"}, 400)
    alias = str(fields.get("alias", "")).strip().lower()
    status = str(fields.get("status", "") or "")
    try:
        result = await assign_notice(server_of(request), notice_id, alias, status, actor_of(request))
    except ReviewError as exc:
        return _json({"ok": False, "error": exc.code, "message": str(exc)}, exc.status)
    return _json({"ok": True, **result})


async def assign_notice(server: AdminServer, notice_id: int, alias: str, status: str,
                        actor: str) -> dict[str, Any]:
    """Link an unmatched notice to an alias; with a status, record the alias in the registry too."""
    store = server.gateway.store
    assert store is not None
    if "@" not in alias or check_address(alias, allow_empty=False) is not None:
        raise ReviewError("bad-alias", f"not an address: {alias!r}", status=400)
    if status not in ("", "optout", "dead"):
        raise ReviewError("bad-status", "status must be optout, dead or empty", status=400)
    notices = {n.id: n for n in await store.unmatched_notices()}
    notice = notices.get(notice_id)
    if notice is None:
        raise ReviewError("not-found", f"no unmatched notice {notice_id}", status=404)
    await store.assign_notice(notice_id, alias)
    if status:
        alias_status: AliasStatus = "optout" if status == "optout" else "dead"
        # Into the registry of the tenant whose mail the notice came back for.
        await store.record_alias(alias, alias_status, marketplace=notice.marketplace,
                                 order_id=notice.order_id,
                                 evidence=f"{notice.kind} notice {notice_id} assigned by {actor}",
                                 source="admin", tenant=notice.tenant or "")
    await store.audit(actor, "assign-notice", str(notice_id),
                    f"{alias} {status or 'linked'}")
    log.info("bounce_notice_assigned", notice_id=notice_id, alias=alias, status=status or None, actor=actor)
    return {"notice_id": notice_id, "alias": alias, "status": status or None}


async def list_decisions(request: web.Request) -> web.Response:
    store = server_of(request).gateway.store
    assert store is not None
    since = _float_arg(request, "since", time.time() - 86400)
    limit = int(min(_float_arg(request, "limit", 200), 5000))
    return _json([d.as_json() for d in await store.decisions(since, limit, request.query.get("tenant"))])


async def report(request: web.Request) -> web.Response:
    store = server_of(request).gateway.store
    assert store is not None
    since = _float_arg(request, "since", time.time() - 7 * 86400)
    return _json(await store.report(since, 10, request.query.get("tenant")))


async def daily(request: web.Request) -> web.Response:
    store = server_of(request).gateway.store
    assert store is not None
    days = int(min(max(_float_arg(request, "days", 14), 1), 366))
    return _json(await store.daily_counts(days))


async def audit(request: web.Request) -> web.Response:
    """Newest first; ``object``, ``actor``, ``action``, ``since``, ``until`` filter, ``before`` (an
    id) and ``limit`` (default 500) page, ``Link: rel=next`` points at the next page."""
    try:
        _values, query = audit_query(request.query, default_limit=500)
    except FilterError as exc:
        return _json({"error": "bad-filter", "message": str(exc)}, 400)
    page = await queries_of(server_of(request)).audit_page(query)
    return _paged(request, [a.as_json() for a in page.items], page.total, page.next_cursor)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/quarantine", list_quarantine)
    app.router.add_post("/api/quarantine/bulk", bulk_quarantine)
    app.router.add_get("/api/quarantine/{qid}", show_quarantine)
    app.router.add_post("/api/quarantine/{qid}/release", release_quarantine)
    app.router.add_post("/api/quarantine/{qid}/delete", delete_quarantine)
    app.router.add_get("/api/optouts", list_optouts)
    app.router.add_get("/api/bounces/unmatched", list_unmatched_bounces)
    app.router.add_post("/api/bounces/{nid}/assign", assign_bounce)
    app.router.add_get("/api/decisions", list_decisions)
    app.router.add_get("/api/report", report)
    app.router.add_get("/api/daily", daily)
    app.router.add_get("/api/audit", audit)
