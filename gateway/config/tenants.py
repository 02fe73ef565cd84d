"""``[[tenants]]`` and ``[tenancy]``: merchants sharing one gateway, and how a session finds its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from gateway.config.base import Section, validate_networks
from gateway.config.delivery import UpstreamConfig


class TenantPolicyConfig(Section):
    """A tenant's changes to the global policy: re-action or disable rules, its own packs."""

    actions: dict[str, Literal["reject", "quarantine", "rewrite", "relay", "strip"]] = Field(default_factory=dict)
    disabled: tuple[str, ...] = ()
    local_packs_dir: Path | None = None
    critical_keywords: dict[str, str] = Field(default_factory=dict)


_TENANT_ID = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class TenantConfig(Section):
    """One merchant relaying through a shared gateway."""

    id: Annotated[str, Field(pattern=_TENANT_ID)]
    # How a session is mapped to this tenant (first match in [tenancy] match_order wins).
    auth_users: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    sender_domains: tuple[str, ...] = ()
    # The tenant's own upstream; None: the global [upstream].
    upstream: UpstreamConfig | None = None
    # From addresses registered with each marketplace ("de" = [...]); "*" applies to every
    # marketplace. Amazon rejects mail from unregistered addresses, so the gateway does first.
    senders: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    policy: TenantPolicyConfig = Field(default_factory=TenantPolicyConfig)
    # None: follow [policy] shadow.
    shadow: bool | None = None
    # Proactive messages per marketplace and UTC day ("*" for every marketplace). Amazon's published
    # cap is five times the average daily order volume plus 600.
    daily_caps: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)

    _check_networks = field_validator("networks")(validate_networks)

    @field_validator("sender_domains")
    @classmethod
    def _lower_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(d.lower().strip(".") for d in value)

    @field_validator("senders")
    @classmethod
    def _lower_senders(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return {k.lower(): tuple(a.lower() for a in v) for k, v in value.items()}


class TenancyConfig(Section):
    match_order: tuple[Literal["auth", "network", "sender_domain"], ...] = (
        "auth", "network", "sender_domain")

