"""``GatewayConfig``: the whole file, its sections together, and the checks across sections."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from gateway.config.admin import AdminConfig, LogConfig
from gateway.config.base import Section, parse_hostport
from gateway.config.bounces import BounceConfig
from gateway.config.delivery import DeliveryConfig, UpstreamConfig
from gateway.config.listener import AuthConfig, ServerConfig, TLSConfig
from gateway.config.policy import LearningConfig, MarketplaceConfig, PolicyConfig
from gateway.config.signing import DkimConfig
from gateway.config.state import StateConfig
from gateway.config.tenants import TenancyConfig, TenantConfig


class GatewayConfig(Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    tls: TLSConfig = Field(default_factory=TLSConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    upstream: UpstreamConfig = Field(default_factory=UpstreamConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    marketplace: MarketplaceConfig = Field(default_factory=MarketplaceConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    bounces: BounceConfig = Field(default_factory=BounceConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    tenancy: TenancyConfig = Field(default_factory=TenancyConfig)
    tenants: tuple[TenantConfig, ...] = ()
    dkim: DkimConfig = Field(default_factory=DkimConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)

    @model_validator(mode="after")
    def _listeners(self) -> GatewayConfig:
        if self.server.implicit_tls_listen is not None and not self.tls.enabled:
            raise ValueError("server.implicit_tls_listen: needs [tls] cert_file and key_file")
        seen: list[tuple[str, tuple[str, int]]] = []
        for key, address in self.listeners():
            for other_key, other in seen:
                if _same_socket(address, other):
                    raise ValueError(f"{key}: {address[0]}:{address[1]} is also {other_key}; "
                                     f"each listener needs a port of its own")
            seen.append((key, address))
        return self

    def listeners(self) -> list[tuple[str, tuple[str, int]]]:
        """Every address the gateway listens on, with the key that sets it."""
        out = [("server.listen", self.server.listen_address)]
        if self.server.implicit_tls_address is not None:
            out.append(("server.implicit_tls_listen", self.server.implicit_tls_address))
        if self.bounces.listen is not None:
            out.append(("bounces.listen", parse_hostport(self.bounces.listen, "bounces.listen")))
        if self.admin.listen_address is not None:
            out.append(("admin.listen", self.admin.listen_address))
        return out

    @model_validator(mode="after")
    def _unique_tenants(self) -> GatewayConfig:
        seen: set[str] = set()
        for tenant in self.tenants:
            if tenant.id in seen:
                raise ValueError(f"tenant id {tenant.id!r} is used twice")
            seen.add(tenant.id)
        for mailbox in self.bounces.imap:
            if mailbox.tenant and mailbox.tenant not in seen:
                raise ValueError(f"bounces.imap: no tenant {mailbox.tenant!r} in [[tenants]]")
        return self

    def tenant_ids(self) -> tuple[str, ...]:
        """Every tenant id whose registry may be used: "" (the implicit tenant) and the configured ones."""
        return ("", *(t.id for t in self.tenants))

    @property
    def state_dir(self) -> Path:
        return self.state.directory

    @property
    def outbox_dir(self) -> Path:
        return self.upstream.maildir or self.state.directory / "outbox"


_WILDCARDS = frozenset(("", "0.0.0.0", "::", "*"))


def _same_socket(a: tuple[str, int], b: tuple[str, int]) -> bool:
    """Would binding both fail with EADDRINUSE? Port 0 is a fresh port each time."""
    if a[1] != b[1] or a[1] == 0:
        return False
    return a[0] == b[0] or a[0] in _WILDCARDS or b[0] in _WILDCARDS
