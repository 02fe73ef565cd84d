"""What operators use: ``[admin]`` (the HTTP server, its logins) and ``[log]``."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.base import PositiveFloat, PositiveInt, Section, optional_hostport, parse_hostport


class AdminConfig(Section):
    """The admin HTTP server: metrics, health, the JSON API and the review pages."""

    # enabled = false (or listen None, from code) turns it off. Keep it on loopback or behind a TLS proxy.
    enabled: bool = True
    listen: str | None = "127.0.0.1:8025"
    # A bearer token for scripts and Prometheus; token_file keeps it out of the config file.
    token: str | None = Field(default=None, repr=False)
    token_file: Path | None = None
    # Users of the credentials file (auth.credentials_file unless set here) who may log in to the pages.
    users: tuple[str, ...] = ()
    credentials_file: Path | None = None
    session_ttl: PositiveFloat = 8 * 3600.0
    # Mark the session cookie Secure (set when a TLS proxy fronts the admin port).
    secure_cookies: bool = False
    # Let /metrics be scraped without a token (it holds counts, no message content).
    public_metrics: bool = False
    # Proxies (addresses or networks) whose X-Forwarded-For names the real client: logins are
    # limited per client, and behind a proxy every client would otherwise look like the proxy.
    trusted_proxies: tuple[str, ...] = ()
    # Failed logins (and bearer-token guesses) allowed in login_window seconds: per (client, user),
    # per client over all user names, and in total over all clients.
    login_failures_per_user: PositiveInt = 5
    login_failures_per_client: PositiveInt = 20
    login_failures_total: PositiveInt = 500
    login_window: PositiveFloat = 300.0

    _check_listen = field_validator("listen")(optional_hostport("admin.listen"))

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {item!r}") from None
        return value

    @model_validator(mode="after")
    def _one_token(self) -> AdminConfig:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set token or token_file, not both")
        if self.token is not None and len(self.token) < 16:
            raise ValueError("token must be at least 16 characters")
        return self

    @property
    def listen_address(self) -> tuple[str, int] | None:
        if not self.enabled or self.listen is None:
            return None
        return parse_hostport(self.listen, "admin.listen")

    def resolved_token(self) -> str | None:
        if self.token_file is not None:
            return self.token_file.read_text(encoding="utf-8").strip() or None
        return self.token


class LogConfig(Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"

