"""Server-rendered review pages: quarantine, audit, opt-out registry, bounces, daily counts.

Rendered with Jinja2 (autoescape on) in a worker thread, never on the event loop that serves
SMTP (``render``); no page carries a script. The pages by subject: ``quarantine_pages`` (the list,
one held message, release and delete), ``registry_pages`` (opt-outs, bounces), ``report_pages``
(message trail, counts); this module has the login, sessions and audit pages and mounts them all.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from aiohttp import web

from gateway.admin import quarantine_pages, registry_pages, report_pages
from gateway.admin.api import body_of, queries_of, server_of
from gateway.admin.filters import AUDIT_FIELDS, FilterError, audit_query
from gateway.admin.http import SESSION_COOKIE, actor_of, client_of, session_of
from gateway.admin.render import back, render
from gateway.admin.sessions import TOKEN_USER
from gateway.log import get_logger

log = get_logger("gateway.admin.pages")

DEVICE_COOKIE = "gw_admin_device"
"""Set at a successful login; a later login from the same browser is not held back by others'
failures (``AdminAuth.login``)."""


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
        raise back(request, "/sessions", err="No such session (it ended already).")
    log.warning("admin_session_ended_by", actor=actor_of(request), ended=ended.actor)
    raise back(request, "/sessions", msg=f"Session of {ended.actor} from {ended.client or '?'} ended.")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/quarantine", quarantine_pages.quarantine_list)
    app.router.add_post("/quarantine/bulk", quarantine_pages.quarantine_bulk)
    app.router.add_get("/quarantine/{qid}", quarantine_pages.quarantine_detail)
    app.router.add_get("/quarantine/{qid}/html", quarantine_pages.quarantine_html)
    app.router.add_get("/quarantine/{qid}/raw", quarantine_pages.quarantine_raw)
    app.router.add_get("/quarantine/{qid}/part/{n}", quarantine_pages.quarantine_part)
    app.router.add_post("/quarantine/{qid}/release", quarantine_pages.quarantine_release)
    app.router.add_post("/quarantine/{qid}/delete", quarantine_pages.quarantine_delete)
    app.router.add_get("/audit", audit_page)
    app.router.add_get("/track", report_pages.track)
    app.router.add_get("/sessions", sessions_page)
    app.router.add_post("/sessions/{handle}/end", session_end)
    app.router.add_get("/optouts", registry_pages.optouts)
    app.router.add_get("/bounces", registry_pages.bounces)
    app.router.add_get("/bounces/{nid}", registry_pages.bounce_detail)
    app.router.add_post("/bounces/{nid}/assign", registry_pages.bounce_assign)
    app.router.add_get("/stats", report_pages.stats)
