"""The admin HTTP server: health, metrics, the JSON API and the review pages, in the gateway's loop.

Authentication: a bearer token (``Authorization: Bearer ...``; scripts and Prometheus) or a login
with a user of the credentials file listed in ``admin.users`` (pages; a session cookie that is
HttpOnly and SameSite=Strict). Actions (every POST) made with a session cookie must carry that
session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``); bearer requests carry
no ambient credential, so they need none. Every response forbids scripts, remote content and
framing through its Content-Security-Policy. ``/healthz`` and ``/readyz`` are open (probes).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from aiohttp import web

from gateway.admin.sessions import AdminAuth, Session
from gateway.auth import CredentialsError
from gateway.config import GatewayConfig
from gateway.learning import learning_counts
from gateway.log import get_logger
from gateway.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.quarantine import QuarantineReview
from gateway.spool import Spool
from gateway.store.base import Store, StoreError


class AdminHost(Protocol):
    """What the admin server uses of the running gateway (``gateway.app.Gateway``)."""

    @property
    def config(self) -> GatewayConfig: ...
    @property
    def store(self) -> Store | None: ...
    @property
    def metrics(self) -> GatewayMetrics: ...
    @property
    def spool(self) -> Spool | None: ...
    def readiness_problems(self) -> list[str]: ...
    async def refresh_metrics(self) -> None: ...

log = get_logger("gateway.admin.http")

SESSION_COOKIE = "gw_admin_session"
CSP = ("default-src 'none'; style-src 'self'; img-src 'none'; frame-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
FRAME_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
             "frame-ancestors 'self'; base-uri 'none'")
"""The buyer's view of a held message (sanitised HTML): shown only framed by our own pages, in a
sandboxed frame; it may style itself but loads nothing (remote images are replaced before)."""
STATIC_DIR = Path(__file__).parent / "static"
_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login", "/static/admin.css"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


ACTOR_KEY = web.RequestKey("actor", str)
SESSION_KEY = web.RequestKey("session", Session)


def actor_of(request: web.Request) -> str:
    return request[ACTOR_KEY]


def session_of(request: web.Request) -> Session | None:
    return request.get(SESSION_KEY)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Set on every response, errors and redirects included (on_response_prepare)."""
    _set_headers(response)


def _set_headers(response: web.StreamResponse) -> None:
    # A handler may set a stricter policy of its own (the framed message view does).
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Not "no-referrer": with it Chromium sends "Origin: null" on our own form posts, and the login's
    # origin check would refuse them. same-origin still sends nothing to other sites.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def server_timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``Server-Timing: app;dur=<ms>``: how long the gateway spent on a request (for admins' browser
    tools and bench/admin_review.py), queries and rendering included."""
    started = time.perf_counter()
    response = await handler(request)
    if not response.prepared:
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


@web.middleware
async def store_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The state backend is unreachable (PostgreSQL down): 503 with the reason, not a 500."""
    try:
        return await handler(request)
    except StoreError as exc:
        log.error("admin_store_unavailable", path=request.path, error=str(exc))
        return web.json_response({"error": "store-unavailable", "message": str(exc)}, status=503)


def make_auth_middleware(auth: AdminAuth, public_metrics: bool) -> Any:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in _OPEN_PATHS or (public_metrics and path == "/metrics"):
            request[ACTOR_KEY] = "anonymous"
            return await handler(request)
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            client = client_of(auth, request)
            outcome = auth.check_bearer(client, header[7:].strip())
            if outcome.locked is not None:
                log.warning("admin_auth_locked", client=client, path=path, method="bearer", lock=outcome.locked)
                raise too_many_failures(path, auth)
            if outcome.actor is None:
                log.warning("admin_auth_refused", client=client, path=path, method="bearer")
                raise _unauthorized(path)
            request[ACTOR_KEY] = outcome.actor
            return await handler(request)
        session = auth.session(request.cookies.get(SESSION_COOKIE))
        if session is None:
            if path.startswith("/api/") or path == "/metrics" or request.method != "GET":
                raise _unauthorized(path)
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
        if request.method not in ("GET", "HEAD"):
            offered = request.headers.get("X-CSRF-Token", "")
            if not offered and request.content_type == "application/x-www-form-urlencoded":
                offered = str((await request.post()).get("csrf_token", ""))
            if not offered or not hmac.compare_digest(offered.encode(), session.csrf.encode()):
                log.warning("admin_csrf_refused", peer=request.remote, path=path, actor=session.actor)
                raise web.HTTPForbidden(text="CSRF token missing or wrong\n")
        request[ACTOR_KEY] = session.actor
        request[SESSION_KEY] = session
        return await handler(request)

    return authenticate


def client_of(auth: AdminAuth, request: web.Request) -> str:
    return auth.client_of(request.remote, request.headers.get("X-Forwarded-For"))


def too_many_failures(path: str, auth: AdminAuth) -> web.HTTPTooManyRequests:
    retry = {"Retry-After": str(int(auth.limiter.limits.window))}
    if path.startswith("/api/") or path == "/metrics":
        return web.HTTPTooManyRequests(text='{"error": "too-many-failures"}\n', content_type="application/json",
                                       headers=retry)
    return web.HTTPTooManyRequests(text="too many failed attempts; wait a few minutes\n", headers=retry)


def _unauthorized(path: str) -> web.HTTPUnauthorized:
    body = '{"error": "unauthorized"}\n' if path.startswith("/api/") else "authentication required\n"
    return web.HTTPUnauthorized(text=body, headers={"WWW-Authenticate": 'Bearer realm="gateway-admin"'},
                                content_type="application/json" if path.startswith("/api/") else "text/plain")


class AdminServer:
    def __init__(self, gateway: AdminHost, review: QuarantineReview) -> None:
        self.gateway = gateway
        self.review = review
        cfg = gateway.config.admin
        self.auth = AdminAuth(cfg, self._credentials_file(gateway.config))
        self.secure_cookies = cfg.secure_cookies
        self.app = web.Application(middlewares=[server_timing, make_auth_middleware(self.auth, cfg.public_metrics),
                                                store_unavailable],
                                   client_max_size=512 * 1024)
        self.app.on_response_prepare.append(_security_headers)
        self.app[ADMIN_KEY] = self
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/readyz", self.readyz)
        self.app.router.add_get("/metrics", self.metrics)
        self.app.router.add_get("/static/admin.css", self.stylesheet)
        # The API and the pages are mounted by gateway.admin.server.admin_server.
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0

    async def start(self) -> None:
        address = self.gateway.config.admin.listen_address
        assert address is not None
        host, port = address
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        self.port = int(self._runner.addresses[0][1])
        if self.auth.users and self.auth.credentials is None:
            log.warning("admin_users_without_credentials_file",
                        hint="admin.users needs auth.credentials_file or admin.credentials_file")
        if self.auth.token is None and not self.auth.users:
            public = self.gateway.config.admin.public_metrics
            open_paths = "/healthz, /readyz and /metrics" if public else "/healthz and /readyz"
            log.warning("admin_without_credentials",
                        hint=f"set admin.token, admin.token_file or admin.users; only {open_paths} answer")
        log.info("admin_listening", host=host, port=self.port)

    @staticmethod
    def _credentials_file(config: GatewayConfig) -> Path | None:
        return config.admin.credentials_file or config.auth.credentials_file

    async def reconfigure(self, config: GatewayConfig) -> None:
        """``gateway reload``: the token, users and passwords as they are now; sessions whose
        credentials changed or went end (see ``AdminAuth.reconfigure``)."""
        try:
            await self.auth.reconfigure(config.admin, self._credentials_file(config))
        except (CredentialsError, OSError) as exc:
            log.error("admin_reload_refused", error=str(exc), hint="the previous admin credentials stay in force")
            return
        self.secure_cookies = config.admin.secure_cookies

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- open endpoints ----------------------------------------------------------------------------
    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        problems = self.gateway.readiness_problems()
        if problems:
            return web.Response(status=503, text="not ready: " + ", ".join(problems) + "\n")
        return web.Response(text="ready\n")

    async def metrics(self, request: web.Request) -> web.Response:
        store = self.gateway.store
        if store is not None:
            # The quarantine depth and notice counts, read now through the store (on PostgreSQL
            # they are every instance's).
            try:
                self.gateway.metrics.set_store_counts(await store.state_counts())
                self.gateway.metrics.set_learning_counts(await learning_counts(store))
            except StoreError as exc:
                log.warning("metrics_store_unavailable", error=str(exc))
        await self.gateway.refresh_metrics()  # several worker processes: their counters, now
        body = await asyncio.to_thread(self.gateway.metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def stylesheet(self, request: web.Request) -> web.Response:
        css = await asyncio.to_thread((STATIC_DIR / "admin.css").read_bytes)
        return web.Response(body=css, content_type="text/css", headers={"Cache-Control": "max-age=3600"})


ADMIN_KEY = web.AppKey("admin", AdminServer)
