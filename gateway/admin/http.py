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
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from aiohttp import web

from gateway.auth import Credentials, FailureLimiter
from gateway.config import GatewayConfig
from gateway.log import get_logger
from gateway.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.quarantine import QuarantineReview
from gateway.store.base import Store, StoreError


class AdminHost(Protocol):
    """What the admin server uses of the running gateway (``gateway.app.Gateway``)."""

    @property
    def config(self) -> GatewayConfig: ...
    @property
    def store(self) -> Store | None: ...
    @property
    def metrics(self) -> GatewayMetrics: ...
    def readiness_problems(self) -> list[str]: ...

log = get_logger("gateway.admin.http")

SESSION_COOKIE = "gw_admin_session"
CSP = ("default-src 'none'; style-src 'self'; img-src 'none'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
STATIC_DIR = Path(__file__).parent / "static"
_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login", "/static/admin.css"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Session:
    actor: str
    csrf: str
    expires: float
    flash: tuple[str, str] = ("", "")
    """(message, error) to show on the next page rendered for this session."""


class AdminAuth:
    """Who may use the admin server, and the live sessions (kept in memory: a restart logs out)."""

    def __init__(self, token: str | None, credentials: Credentials | None, users: tuple[str, ...],
                 ttl: float) -> None:
        self.token = token
        self.credentials = credentials
        self.users = frozenset(users)
        self.ttl = ttl
        self.sessions: dict[str, Session] = {}
        self.failures = FailureLimiter(max_failures=10, window=300.0)

    def check_token(self, offered: str) -> bool:
        return self.token is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    async def login(self, username: str, password: str) -> str | None:
        """The actor name when the credentials are good, else None."""
        if not username and self.check_token(password):
            return "token"
        if username and username in self.users and self.credentials is not None:
            if await self.credentials.verify(username, password):
                return f"user:{username}"
            return None
        if self.credentials is not None:
            await self.credentials.verify("\x00no such admin", password)  # same cost as a real check
        return None

    def new_session(self, actor: str) -> tuple[str, Session]:
        self._expire()
        sid = secrets.token_urlsafe(32)
        session = Session(actor, secrets.token_urlsafe(32), time.time() + self.ttl)
        self.sessions[sid] = session
        return sid, session

    def session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self.sessions.get(sid)
        if session is None or session.expires < time.time():
            self.sessions.pop(sid, None)
            return None
        return session

    def _expire(self) -> None:
        now = time.time()
        for sid in [s for s, v in self.sessions.items() if v.expires < now]:
            del self.sessions[sid]


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
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Not "no-referrer": with it Chromium sends "Origin: null" on our own form posts, and the login's
    # origin check would refuse them. same-origin still sends nothing to other sites.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")


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
            if not auth.check_token(header[7:].strip()):
                log.warning("admin_auth_refused", peer=request.remote, path=path, method="bearer")
                raise _unauthorized(path)
            request[ACTOR_KEY] = "token"
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


def _unauthorized(path: str) -> web.HTTPUnauthorized:
    body = '{"error": "unauthorized"}\n' if path.startswith("/api/") else "authentication required\n"
    return web.HTTPUnauthorized(text=body, headers={"WWW-Authenticate": 'Bearer realm="gateway-admin"'},
                                content_type="application/json" if path.startswith("/api/") else "text/plain")


class AdminServer:
    def __init__(self, gateway: AdminHost, review: QuarantineReview) -> None:
        self.gateway = gateway
        self.review = review
        cfg = gateway.config.admin
        credentials = None
        creds_file = cfg.credentials_file or gateway.config.auth.credentials_file
        if cfg.users and creds_file is not None:
            credentials = Credentials.load(creds_file)
        self.auth = AdminAuth(cfg.resolved_token(), credentials, cfg.users, cfg.session_ttl)
        self.secure_cookies = cfg.secure_cookies
        self.app = web.Application(middlewares=[make_auth_middleware(self.auth, cfg.public_metrics), store_unavailable],
                                   client_max_size=64 * 1024)
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
            except StoreError as exc:
                log.warning("metrics_store_unavailable", error=str(exc))
        body = await asyncio.to_thread(self.gateway.metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def stylesheet(self, request: web.Request) -> web.Response:
        css = await asyncio.to_thread((STATIC_DIR / "admin.css").read_bytes)
        return web.Response(body=css, content_type="text/css", headers={"Cache-Control": "max-age=3600"})


ADMIN_KEY = web.AppKey("admin", AdminServer)
