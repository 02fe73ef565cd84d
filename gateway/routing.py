"""Which upstream each tenant's mail goes to: read by delivery, wherever delivery runs (in the
serving process or in `gateway deliver`)."""

from __future__ import annotations

from gateway.config import GatewayConfig, UpstreamConfig


def upstream_routes(config: GatewayConfig) -> dict[str, UpstreamConfig]:
    """Tenants with an upstream of their own."""
    return {t.id: t.upstream for t in config.tenants if t.upstream is not None}
