"""Tenants: which merchant a session belongs to, and that merchant's policy, shadow mode and caps.

With no ``[[tenants]]`` configured the gateway has one implicit tenant (id ``""``) and every
session belongs to it. With tenants configured, a transaction is mapped at MAIL FROM by the first
matching rule in ``[tenancy] match_order``: AUTH user, client network, envelope sender domain.
A sender that matches none is refused: relaying for an unknown merchant would mix up whose
opt-out registry, caps and upstream apply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.access import NetworkList
from gateway.classify import MarketplaceRecipient
from gateway.config import GatewayConfig, PolicyConfig, TenantConfig, UpstreamConfig
from gateway.policy.state import PolicyState
from gateway.policy.verdict import Verdict


class PolicyEvaluator(Protocol):
    """What the pipeline needs of a policy engine (``gateway.policy.engine.PolicyEngine``)."""

    def evaluate(self, raw: bytes, recipients: Sequence[MarketplaceRecipient],
                 state: PolicyState | None = None) -> Verdict: ...

    def apply(self, raw: bytes, verdict: Verdict) -> bytes: ...


PolicyBuilder = Callable[[PolicyConfig], PolicyEvaluator | None]


@dataclass(frozen=True)
class Tenant:
    id: str
    policy: PolicyEvaluator | None
    """None: no rule packs loaded."""
    shadow: bool
    upstream: UpstreamConfig
    senders: dict[str, tuple[str, ...]]
    daily_caps: dict[str, int]

    def registered_senders(self, marketplace: str) -> frozenset[str] | None:
        """The From addresses registered for ``marketplace``; None when the tenant lists none."""
        found = self.senders.get(marketplace.lower()) or self.senders.get("*")
        return frozenset(found) if found else None

    def daily_cap(self, marketplace: str) -> int | None:
        cap = self.daily_caps.get(marketplace.lower())
        if cap is None:
            cap = self.daily_caps.get("*")
        return cap


def tenant_policy_config(config: GatewayConfig, tenant: TenantConfig) -> PolicyConfig:
    """The global policy with the tenant's changes on top."""
    base = config.policy
    tp = tenant.policy
    return base.model_copy(update={
        "actions": {**base.actions, **tp.actions},
        "disabled": tuple(dict.fromkeys(base.disabled + tp.disabled)),
        "local_packs_dir": tp.local_packs_dir or base.local_packs_dir,
        "critical_keywords": {**base.critical_keywords, **tp.critical_keywords},
    })


def _tenant_changes_policy(tenant: TenantConfig) -> bool:
    tp = tenant.policy
    return bool(tp.actions or tp.disabled or tp.local_packs_dir or tp.critical_keywords)


class TenantDirectory:
    """Maps sessions to tenants; built whole from a config, so a reload swaps it atomically."""

    def __init__(self, config: GatewayConfig, build_policy: PolicyBuilder) -> None:
        self.config = config
        self.default_policy = build_policy(config.policy)
        self.default = Tenant(id="", policy=self.default_policy, shadow=config.policy.shadow,
                              upstream=config.upstream, senders={}, daily_caps={})
        self.tenants: dict[str, Tenant] = {}
        self._by_user: dict[str, Tenant] = {}
        self._by_domain: dict[str, Tenant] = {}
        self._by_network: list[tuple[NetworkList, Tenant]] = []
        for tc in config.tenants:
            policy = (build_policy(tenant_policy_config(config, tc)) if _tenant_changes_policy(tc)
                      else self.default_policy)
            tenant = Tenant(
                id=tc.id, policy=policy,
                shadow=config.policy.shadow if tc.shadow is None else tc.shadow,
                upstream=tc.upstream or config.upstream, senders=dict(tc.senders),
                daily_caps=dict(tc.daily_caps))
            self.tenants[tc.id] = tenant
            for user in tc.auth_users:
                self._by_user.setdefault(user, tenant)
            for domain in tc.sender_domains:
                self._by_domain.setdefault(domain, tenant)
            if tc.networks:
                self._by_network.append((NetworkList(tc.networks), tenant))

    @property
    def multi_tenant(self) -> bool:
        return bool(self.tenants)

    def get(self, tenant_id: str) -> Tenant:
        return self.tenants.get(tenant_id, self.default)

    def resolve(self, *, auth_user: str | None, peer: str, mail_from: str) -> Tenant | None:
        """The tenant of a transaction; None when tenants are configured and none matches."""
        if not self.tenants:
            return self.default
        domain = mail_from.rpartition("@")[2].lower().rstrip(".")
        for how in self.config.tenancy.match_order:
            if how == "auth" and auth_user and auth_user in self._by_user:
                return self._by_user[auth_user]
            if how == "network":
                for networks, tenant in self._by_network:
                    if peer in networks:
                        return tenant
            if how == "sender_domain" and domain and domain in self._by_domain:
                return self._by_domain[domain]
        return None
