"""Server-rendered review pages: quarantine, opt-out registry, unmatched bounces, daily counts.

Rendered with Jinja2 (autoescape on); no page carries a script. A message preview is its text part
only (HTML is reduced to text), escaped, so nothing in a held message can run or fetch anything;
the Content-Security-Policy set on every response backs that up.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from gateway.admin.api import assign_notice, body_of, server_of, truthy
from gateway.admin.http import SESSION_COOKIE, actor_of, session_of
from gateway.cli.common import fmt_time
from gateway.log import get_logger
from gateway.quarantine import ReviewError, evidence_of, highlight, preview

log = get_logger("gateway.admin.pages")

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_env.filters["when"] = fmt_time


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
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
    html = _env.get_template(template).render(
        actor=session.actor if session else None, csrf=session.csrf if session else "", **context)
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
    return render(request, "login.html", next=_safe_next(request.query.get("next", "/quarantine")))


async def login(request: web.Request) -> web.StreamResponse:
    server = server_of(request)
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise web.HTTPForbidden(text="cross-origin login refused\n")
    peer = request.remote or "?"
    fields = await body_of(request)
    nxt = _safe_next(str(fields.get("next", "/quarantine")))
    if server.auth.failures.locked(peer):
        log.warning("admin_login_locked", peer=peer)
        return render(request, "login.html", status=429, next=nxt, err="Too many failed logins; wait a few minutes.")
    actor = await server.auth.login(str(fields.get("username", "")).strip(), str(fields.get("password", "")))
    if actor is None:
        server.auth.failures.record_failure(peer)
        log.warning("admin_login_failed", peer=peer, username=str(fields.get("username", ""))[:64])
        return render(request, "login.html", status=401, next=nxt, err="Wrong user name or password.")
    server.auth.failures.record_success(peer)
    sid, _ = server.auth.new_session(actor)
    log.info("admin_login", peer=peer, actor=actor)
    response = web.HTTPSeeOther(nxt)
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Strict", path="/",
                        secure=server.secure_cookies, max_age=int(server.auth.ttl))
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    server = server_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        server.auth.sessions.pop(sid, None)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/quarantine")


# -- quarantine ---------------------------------------------------------------------------------------
def _hits(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in verdict.get("hits", []) if isinstance(h, dict)]


async def quarantine_list(request: web.Request) -> web.Response:
    store = server_of(request).gateway.store
    assert store is not None
    status = request.query.get("status", "held")
    if status not in ("held", "released", "deleted", "all"):
        status = "held"
    records = await store.list_quarantine(None if status == "all" else status)
    rows = [{"r": r, "hits": _hits(r.verdict)} for r in records]
    return render(request, "quarantine_list.html", rows=rows, shown=status)


async def quarantine_detail(request: web.Request) -> web.Response:
    review = server_of(request).review
    try:
        record = await review.get(request.match_info["qid"])
    except ReviewError as exc:
        return render(request, "error.html", status=exc.status, message=str(exc))
    evidence = evidence_of(record)
    try:
        view = await asyncio.to_thread(preview, await review.raw(record))  # heavy parsing: off the loop
        segments = highlight(view.text, evidence)
    except ReviewError:
        view, segments = None, []
    audit = [a for a in await review.store.audit_log(1000) if a["object"] == record.id]
    return render(request, "quarantine_detail.html", r=record, hits=_hits(record.verdict), view=view,
                  segments=segments, subject=highlight(record.subject, evidence), audit=audit)


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


# -- registry, bounces, counts ------------------------------------------------------------------------
async def optouts(request: web.Request) -> web.Response:
    store = server_of(request).gateway.store
    assert store is not None
    search = request.query.get("q", "").strip()
    records = await store.list_aliases(None, search or None)
    return render(request, "optouts.html", records=records, q=search)


async def bounces(request: web.Request) -> web.Response:
    store = server_of(request).gateway.store
    assert store is not None
    notices = await store.unmatched_notices()
    return render(request, "bounces.html", notices=notices)


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
    store = server_of(request).gateway.store
    assert store is not None
    days = await store.daily_counts(14)
    report = await store.report(time.time() - 14 * 86400)
    actions = sorted({a for d in days for a in d["actions"]})
    rules = sorted({r for d in days for r in d["rules"]})
    return render(request, "stats.html", days=days, actions=actions, rules=rules, report=report)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/quarantine", quarantine_list)
    app.router.add_get("/quarantine/{qid}", quarantine_detail)
    app.router.add_post("/quarantine/{qid}/release", quarantine_release)
    app.router.add_post("/quarantine/{qid}/delete", quarantine_delete)
    app.router.add_get("/optouts", optouts)
    app.router.add_get("/bounces", bounces)
    app.router.add_post("/bounces/{nid}/assign", bounce_assign)
    app.router.add_get("/stats", stats)
