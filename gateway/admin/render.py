"""Rendering the review pages: Jinja2 (autoescape on) in a worker thread, never on the event loop
that serves SMTP; flash messages kept in the server-side session; what several pages share."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from gateway.admin.api import server_of
from gateway.admin.http import session_of
from gateway.cli.common import fmt_time
from gateway.store.search import decode_subject

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


def back(request: web.Request, path: str, *, msg: str = "", err: str = "") -> web.HTTPSeeOther:
    session = session_of(request)
    if session is not None:
        session.flash = (msg, err)
    return web.HTTPSeeOther(path)



def hits_of(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in verdict.get("hits", []) if isinstance(h, dict)]


def tenant_ids_of(request: web.Request) -> list[str]:
    return sorted(t.id for t in server_of(request).gateway.config.tenants)
