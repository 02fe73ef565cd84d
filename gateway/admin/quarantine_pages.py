"""The quarantine pages: the list (one page of an indexed search, see ``gateway.store.search``), bulk
actions, one held message (decoded text with its evidence marked; the buyer's view as sanitised HTML
in a sandboxed frame whose own Content-Security-Policy loads nothing; its parts as downloads),
release and delete."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from aiohttp import web

from gateway.admin.api import body_of, filter_of, queries_of, server_of, truthy
from gateway.admin.bulk import bulk
from gateway.admin.filters import STATUSES, FilterError, quarantine_filter
from gateway.admin.http import FRAME_CSP, actor_of
from gateway.admin.message_view import evidence_of, highlight, part_payload, preview, sanitised_html
from gateway.admin.render import back, hits_of, render, tenant_ids_of
from gateway.quarantine import ReviewError
from gateway.store.search import BULK_LIMIT, PAGE_SIZE, decode_subject


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
    rows = [{"r": r, "hits": hits_of(r.verdict),
             "decision": next((a for a in audit.get(r.id, []) if a.action in ("released", "deleted")), None)}
            for r in page.items]
    return await render(request, "quarantine_list.html", rows=rows, page=page, f=chosen, statuses=STATUSES,
                        tenants=tenant_ids_of(request), bulk_limit=BULK_LIMIT,
                        next_link=chosen.link(before=page.next_cursor) if page.next_cursor else None,
                        first_link=chosen.link(before=None) if chosen.query.before else None)


async def quarantine_bulk(request: web.Request) -> web.StreamResponse:
    server = server_of(request)
    form = await request.post()
    action = str(form.get("action", ""))
    reason = str(form.get("reason", ""))
    params = {k: str(v) for k, v in form.items() if k not in ("ids", "csrf_token")}
    chosen = filter_of(request, params, default_limit=PAGE_SIZE)
    here = chosen.link()
    if form.get("scope") == "matching":
        ids = await queries_of(server).quarantine_ids(chosen.query, BULK_LIMIT)
    else:
        ids = [str(v) for v in form.getall("ids", [])]
    if not ids:
        raise back(request, here, err="No messages selected.")
    if action not in ("release", "delete"):
        raise back(request, here, err="Choose release or delete.")
    try:
        result = await bulk(server.review, "release" if action == "release" else "delete", ids,
                            actor=actor_of(request), reason=reason, force=truthy(form.get("force")))
    except ReviewError as exc:
        raise back(request, here, err=f"Nothing done: {exc}") from None
    if result.refused:
        first = result.refused[0]
        raise back(request, here, msg=result.summary(),
                   err=f"Refused, e.g. {first['id']}: {first['message']}")
    raise back(request, here, msg=result.summary())


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
    return await render(request, "quarantine_detail.html", r=record, hits=hits_of(record.verdict), view=view,
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
        raise back(request, f"/quarantine/{qid}", err=f"Release refused: {exc}") from None
    raise back(request, "/quarantine", msg=f"{qid} released as queue id {result.queue_id}.")


async def quarantine_delete(request: web.Request) -> web.StreamResponse:
    qid = request.match_info["qid"]
    fields = await body_of(request)
    review = server_of(request).review
    try:
        await review.delete(qid, actor=actor_of(request), reason=str(fields.get("reason", "")))
    except ReviewError as exc:
        raise back(request, f"/quarantine/{qid}", err=f"Delete refused: {exc}") from None
    raise back(request, "/quarantine", msg=f"{qid} deleted.")
