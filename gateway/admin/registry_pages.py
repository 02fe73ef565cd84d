"""The registry pages: the opt-out registry, the bounce notices waiting for review (one notice with its
evidence and the aliases it may be about; assigning it)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from gateway.admin.api import assign_notice, body_of, server_of
from gateway.admin.http import actor_of
from gateway.admin.message_view import preview
from gateway.admin.render import back, render
from gateway.quarantine import ReviewError


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
        raise back(request, "/bounces", err="Bad notice id.") from None
    except ReviewError as exc:
        raise back(request, "/bounces", err=str(exc)) from None
    raise back(request, "/bounces", msg=f"Notice {notice_id} assigned.")
