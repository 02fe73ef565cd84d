"""Server-rendered review pages: quarantine, audit, opt-out registry, bounces, daily counts.

Rendered with Jinja2 (autoescape on) in a worker thread, never on the event loop that serves
SMTP; no page carries a script. The quarantine list is one page of an indexed search (see
``gateway.store.search``), never every held message. A held message is shown as decoded text with
its evidence marked, and as the buyer would see it: its sanitised HTML in a sandboxed frame whose
own Content-Security-Policy loads nothing.
"""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import jinja2
from aiohttp import web

from gateway.admin import charts
from gateway.admin.api import assign_notice, body_of, filter_of, queries_of, server_of, truthy
from gateway.admin.bulk import bulk
from gateway.admin.filters import AUDIT_FIELDS, STATUSES, FilterError, audit_query, quarantine_filter
from gateway.admin.http import FRAME_CSP, SESSION_COOKIE, actor_of, client_of, session_of
from gateway.admin.message_view import evidence_of, highlight, part_payload, preview, sanitised_html
from gateway.admin.sessions import TOKEN_USER
from gateway.cli.common import fmt_time
from gateway.log import get_logger
from gateway.quarantine import ReviewError
from gateway.store.search import BULK_LIMIT, PAGE_SIZE, decode_subject

log = get_logger("gateway.admin.pages")

DEVICE_COOKIE = "gw_admin_device"
"""Set at a successful login; a later login from the same browser is not held back by others'
failures (``AdminAuth.login``)."""

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_env.filters["when"] = fmt_time
_env.filters["subject"] = decode_subject

# Rendering holds the GIL: two threads at most, so that however many admins load pages at once,
# the event loop serving SMTP waits for the GIL behind few threads.
_render_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="admin-render")


async def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    session = session_of(request)
    if session is not None:
        # Flash messages live in the server-side session, not in the URL: a crafted link cannot
        # make the page show text of an attacker's choosing.
        flash_msg, flash_err = session.flash
        session.flash = ("", "")
        context.setdefault("msg", flash_msg)
        context.setdefault("err", flash_err)
    context.setdefault("msg", "")
    context.setdefault("err", "")
    context.setdefault("path", request.path)
    # Rendering a page of many rows is CPU work: in a thread, so SMTP sessions keep their loop.
    page = functools.partial(_env.get_template(template).render, actor=session.actor if session else None,
                             csrf=session.csrf if session else "", **context)
    html = await asyncio.get_running_loop().run_in_executor(_render_pool, page)
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)


def _back(request: web.Request, path: str, *, msg: str = "", err: str = "") -> web.HTTPSeeOther:
    session = session_of(request)
    if session is not None:
        session.flash = (msg, err)
    return web.HTTPSeeOther(path)


def _safe_next(value: str) -> str:
    parts = urlsplit(value)
    if not value.startswith("/") or value.startswith("//") or parts.scheme or parts.netloc or "\\" in value:
        return "/quarantine"
    return value


# -- login ------------------------------------------------------------------------------------------
async def login_form(request: web.Request) -> web.Response:
    return await render(request, "login.html", next=_safe_next(request.query.get("next", "/quarantine")))


async def login(request: web.Request) -> web.StreamResponse:
    server = server_of(request)
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise web.HTTPForbidden(text="cross-origin login refused\n")
    client = client_of(server.auth, request)
    fields = await body_of(request)
    nxt = _safe_next(str(fields.get("next", "/quarantine")))
    username = str(fields.get("username", "")).strip()
    outcome = await server.auth.login(client, username, str(fields.get("password", "")),
                                      device=request.cookies.get(DEVICE_COOKIE))
    if outcome.locked is not None:
        log.warning("admin_login_locked", client=client, username=username[:64], lock=outcome.locked)
        response = await render(request, "login.html", status=429, next=nxt,
                                err="Too many failed logins; wait a few minutes.")
        response.headers["Retry-After"] = str(int(server.auth.limiter.limits.window))
        return response
    if outcome.actor is None:
        log.warning("admin_login_failed", client=client, username=username[:64])
        return await render(request, "login.html", status=401, next=nxt, err="Wrong user name or password.")
    sid, _ = server.auth.new_session(outcome.actor, client)
    log.info("admin_login", client=client, actor=outcome.actor)
    response = web.HTTPSeeOther(nxt)
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Strict", path="/",
                        secure=server.secure_cookies, max_age=int(server.auth.ttl))
    response.set_cookie(DEVICE_COOKIE, server.auth.device_cookie(username or TOKEN_USER), httponly=True,
                        samesite="Strict", path="/login", secure=server.secure_cookies, max_age=180 * 86400)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    server_of(request).auth.end_session(request.cookies.get(SESSION_COOKIE))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/quarantine")


# -- quarantine ---------------------------------------------------------------------------------------
def _hits(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in verdict.get("hits", []) if isinstance(h, dict)]


def _tenants(request: web.Request) -> list[str]:
    return sorted(t.id for t in server_of(request).gateway.config.tenants)


async def quarantine_list(request: web.Request) -> web.Response:
    server = server_of(request)
    try:
        chosen = quarantine_filter(request.query, default_limit=PAGE_SIZE,
                                   marketplace_prefix=server.gateway.config.marketplace.domain_prefix)
    except FilterError as exc:
        return await render(request, "error.html", status=400, message=str(exc))
    queries = queries_of(server)
    page = await queries.search_quarantine(chosen.query)
    decided = [r.id for r in page.items if r.status != "held"]
    audit = await queries.audit_for_objects(decided) if decided else {}
    rows = [{"r": r, "hits": _hits(r.verdict),
             "decision": next((a for a in audit.get(r.id, []) if a.action in ("released", "deleted")), None)}
            for r in page.items]
    return await render(request, "quarantine_list.html", rows=rows, page=page, f=chosen, statuses=STATUSES,
                        tenants=_tenants(request), bulk_limit=BULK_LIMIT,
                        next_link=chosen.link(before=page.next_cursor) if page.next_cursor else None,
                        first_link=chosen.link(before=None) if chosen.query.before else None)


async def quarantine_bulk(request: web.Request) -> web.StreamResponse:
    server = server_of(request)
    form = await request.post()
    action = str(form.get("action", ""))
    reason = str(form.get("reason", ""))
    params = {k: str(v) for k, v in form.items() if k not in ("ids", "csrf_token")}
    chosen = filter_of(request, params, default_limit=PAGE_SIZE)
    back = chosen.link()
    if form.get("scope") == "matching":
        ids = await queries_of(server).quarantine_ids(chosen.query, BULK_LIMIT)
    else:
        ids = [str(v) for v in form.getall("ids", [])]
    if not ids:
        raise _back(request, back, err="No messages selected.")
    if action not in ("release", "delete"):
        raise _back(request, back, err="Choose release or delete.")
    try:
        result = await bulk(server.review, "release" if action == "release" else "delete", ids,
                            actor=actor_of(request), reason=reason, force=truthy(form.get("force")))
    except ReviewError as exc:
        raise _back(request, back, err=f"Nothing done: {exc}") from None
    if result.refused:
        first = result.refused[0]
        raise _back(request, back, msg=result.summary(),
                    err=f"Refused, e.g. {first['id']}: {first['message']}")
    raise _back(request, back, msg=result.summary())


async def _record_and_bytes(request: web.Request) -> tuple[Any, bytes]:
    review = server_of(request).review
    try:
        record = await review.get(request.match_info["qid"])
        return record, await review.raw(record)
    except ReviewError as exc:
        raise web.HTTPNotFound(text=f"{exc}\n") from None


async def quarantine_detail(request: web.Request) -> web.Response:
    server = server_of(request)
    review = server.review
    try:
        record = await review.get(request.match_info["qid"])
    except ReviewError as exc:
        return await render(request, "error.html", status=exc.status, message=str(exc))
    evidence = evidence_of(record)

    def view_of(data: bytes) -> tuple[Any, list[dict[str, Any]], Any]:
        view = preview(data)
        sections = [{"label": s.label, "segments": highlight(s.text, evidence)} for s in view.sections]
        return view, sections, sanitised_html(data) if view.has_html else None

    try:
        view, sections, buyer = await asyncio.to_thread(view_of, await review.raw(record))
    except ReviewError:
        view, sections, buyer = None, [], None
    audit = (await queries_of(server).audit_for_objects([record.id]))[record.id]
    subject = decode_subject(record.subject)
    return await render(request, "quarantine_detail.html", r=record, hits=_hits(record.verdict), view=view,
                        sections=sections, buyer=buyer, subject=highlight(subject, evidence), audit=audit)


async def quarantine_html(request: web.Request) -> web.Response:
    """The buyer's view, for the sandboxed frame on the message page: sanitised, loading nothing."""
    _record, data = await _record_and_bytes(request)
    buyer = await asyncio.to_thread(sanitised_html, data)
    body = buyer.html if buyer is not None else "<p>This message has no HTML part.</p>"
    page = ('<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" '
            'content="width=device-width, initial-scale=1"><base target="_self"></head>'
            f'<body style="font-family: sans-serif; margin: 8px">{body}</body></html>')
    return web.Response(text=page, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": FRAME_CSP, "X-Frame-Options": "SAMEORIGIN"})


async def quarantine_raw(request: web.Request) -> web.Response:
    record, data = await _record_and_bytes(request)
    if request.query.get("download"):
        return web.Response(body=data, content_type="application/octet-stream", headers={
            "Content-Disposition": f'attachment; filename="{record.id}.eml"'})
    return web.Response(body=data, content_type="text/plain", charset="utf-8")


async def quarantine_part(request: web.Request) -> web.Response:
    """One part's decoded bytes, always as a download: nothing of a held message renders in our origin."""
    _record, data = await _record_and_bytes(request)
    try:
        index = int(request.match_info["n"])
    except ValueError:
        raise web.HTTPNotFound(text="no such part\n") from None
    found = await asyncio.to_thread(part_payload, data, index)
    if found is None:
        raise web.HTTPNotFound(text="no such part\n")
    name, payload = found
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    return web.Response(body=payload, content_type="application/octet-stream",
                        headers={"Content-Disposition": disposition})


async def quarantine_release(request: web.Request) -> web.StreamResponse:
    qid = request.match_info["qid"]
    fields = await body_of(request)
    review = server_of(request).review
    try:
        result = await review.release(qid, actor=actor_of(request), reason=str(fields.get("reason", "")),
                                      force=truthy(fields.get("force")))
    except ReviewError as exc:
        raise _back(request, f"/quarantine/{qid}", err=f"Release refused: {exc}") from None
    raise _back(request, "/quarantine", msg=f"{qid} released as queue id {result.queue_id}.")


async def quarantine_delete(request: web.Request) -> web.StreamResponse:
    qid = request.match_info["qid"]
    fields = await body_of(request)
    review = server_of(request).review
    try:
        await review.delete(qid, actor=actor_of(request), reason=str(fields.get("reason", "")))
    except ReviewError as exc:
        raise _back(request, f"/quarantine/{qid}", err=f"Delete refused: {exc}") from None
    raise _back(request, "/quarantine", msg=f"{qid} deleted.")


# -- audit ---------------------------------------------------------------------------------------------
async def audit_page(request: web.Request) -> web.Response:
    try:
        values, query = audit_query(request.query, default_limit=100)
    except FilterError as exc:
        return await render(request, "error.html", status=400, message=str(exc))
    page = await queries_of(server_of(request)).audit_page(query)
    base = {k: v for k, v in values.items() if v}
    next_link = f"/audit?{urlencode({**base, 'before': page.next_cursor})}" if page.next_cursor else None
    first_link = f"/audit?{urlencode(base)}" if query.before_id else None
    return await render(request, "audit.html", page=page, values=values, fields=AUDIT_FIELDS, next_link=next_link,
                        first_link=first_link)


# -- sessions ------------------------------------------------------------------------------------------
async def sessions_page(request: web.Request) -> web.Response:
    auth = server_of(request).auth
    mine = session_of(request)
    return await render(request, "sessions.html", sessions=auth.live_sessions(),
                        mine=mine.handle if mine is not None else "")


async def session_end(request: web.Request) -> web.StreamResponse:
    ended = server_of(request).auth.end_by_handle(request.match_info["handle"])
    if ended is None:
        raise _back(request, "/sessions", err="No such session (it ended already).")
    log.warning("admin_session_ended_by", actor=actor_of(request), ended=ended.actor)
    raise _back(request, "/sessions", msg=f"Session of {ended.actor} from {ended.client or '?'} ended.")


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
                       "detail": "; ".join(f"{x.get('rule')}: {x.get('reason')}" for x in _hits(h.verdict))})
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


# -- registry, bounces, counts ------------------------------------------------------------------------
async def optouts(request: web.Request) -> web.Response:
    store = server_of(request).gateway.store
    assert store is not None
    search = request.query.get("q", "").strip()
    records = await store.list_aliases(None, search or None)
    return await render(request, "optouts.html", records=records, q=search)


async def bounces(request: web.Request) -> web.Response:
    store = server_of(request).gateway.store
    assert store is not None
    notices = await store.unmatched_notices()
    return await render(request, "bounces.html", notices=notices)


async def bounce_detail(request: web.Request) -> web.Response:
    """One notice: its text (the stored evidence, decoded) and the aliases it may be about."""
    store = server_of(request).gateway.store
    assert store is not None
    try:
        notice = await store.notice(int(request.match_info["nid"]))
    except ValueError:
        notice = None
    if notice is None:
        return await render(request, "error.html", status=404, message="No such bounce notice.")
    text = ""
    raw = await store.read_evidence(notice.evidence) if notice.evidence else None
    if raw is not None:
        view = await asyncio.to_thread(preview, raw)
        text = "\n\n".join(s.text for s in view.sections) or raw[:20000].decode("utf-8", "replace")
    suggestions: list[tuple[str, str]] = []
    if notice.order_id:
        suggestions = await store.relays_by_order(notice.order_id, notice.marketplace,
                                                  time.time() - 365 * 86400, notice.tenant or "")
    return await render(request, "bounce_detail.html", n=notice, text=text, suggestions=suggestions)


async def bounce_assign(request: web.Request) -> web.StreamResponse:
    fields = await body_of(request)
    try:
        notice_id = int(request.match_info["nid"])
        await assign_notice(server_of(request), notice_id, str(fields.get("alias", "")).strip().lower(),
                            str(fields.get("status", "")), actor_of(request))
    except ValueError:
        raise _back(request, "/bounces", err="Bad notice id.") from None
    except ReviewError as exc:
        raise _back(request, "/bounces", err=str(exc)) from None
    raise _back(request, "/bounces", msg=f"Notice {notice_id} assigned.")


async def stats(request: web.Request) -> web.Response:
    """Counts for every tenant, or with ``?tenant=`` for one (its decisions, chart and senders)."""
    server = server_of(request)
    store = server.gateway.store
    assert store is not None
    tenants = _tenants(request)
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


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/quarantine", quarantine_list)
    app.router.add_post("/quarantine/bulk", quarantine_bulk)
    app.router.add_get("/quarantine/{qid}", quarantine_detail)
    app.router.add_get("/quarantine/{qid}/html", quarantine_html)
    app.router.add_get("/quarantine/{qid}/raw", quarantine_raw)
    app.router.add_get("/quarantine/{qid}/part/{n}", quarantine_part)
    app.router.add_post("/quarantine/{qid}/release", quarantine_release)
    app.router.add_post("/quarantine/{qid}/delete", quarantine_delete)
    app.router.add_get("/audit", audit_page)
    app.router.add_get("/track", track)
    app.router.add_get("/sessions", sessions_page)
    app.router.add_post("/sessions/{handle}/end", session_end)
    app.router.add_get("/optouts", optouts)
    app.router.add_get("/bounces", bounces)
    app.router.add_get("/bounces/{nid}", bounce_detail)
    app.router.add_post("/bounces/{nid}/assign", bounce_assign)
    app.router.add_get("/stats", stats)
