"""Gateway configuration: a TOML file validated at start-up.

Every section is a pydantic model with ``extra="forbid"``, so an unknown key or a bad value is an
error that names the key (``server.max_recipients: Input should be greater than 0``). Defaults are
embedded: ``gateway serve`` with no file listens on 127.0.0.1:2525, keeps its state under
``./state`` and, with no upstream configured, delivers into a local Maildir outbox.

One module per part of the file: ``listener`` ([server], [tls], [auth]), ``state``, ``delivery``
([upstream], [delivery]), ``policy`` ([marketplace], [policy], [learning]), ``bounces``, ``tenants``
([[tenants]], [tenancy]), ``admin`` ([admin], [log]), ``signing`` ([dkim]); ``file`` puts them
together and checks across them, ``loading`` reads the TOML. Import from here: ``from gateway.config
import GatewayConfig, load_config``.
"""

from gateway.config.admin import AdminConfig, LogConfig
from gateway.config.base import ConfigError, PositiveFloat, PositiveInt
from gateway.config.bounces import BounceConfig, ImapConfig
from gateway.config.delivery import DeliveryConfig, UpstreamConfig
from gateway.config.file import GatewayConfig
from gateway.config.listener import AuthConfig, ServerConfig, TLSConfig
from gateway.config.loading import config_from_mapping, load_config
from gateway.config.policy import (
    DEFAULT_MARKETPLACE_TLDS,
    KNOWN_MARKETPLACE_TLDS,
    LearningConfig,
    MarketplaceConfig,
    PolicyConfig,
)
from gateway.config.signing import DkimConfig, DkimKeyConfig
from gateway.config.state import StateConfig
from gateway.config.tenants import TenancyConfig, TenantConfig, TenantPolicyConfig

__all__ = ["DEFAULT_MARKETPLACE_TLDS", "KNOWN_MARKETPLACE_TLDS", "AdminConfig", "AuthConfig", "BounceConfig",
           "ConfigError", "DeliveryConfig", "DkimConfig", "DkimKeyConfig", "GatewayConfig", "ImapConfig",
           "LearningConfig", "LogConfig", "MarketplaceConfig", "PolicyConfig", "PositiveFloat", "PositiveInt",
           "ServerConfig", "StateConfig", "TLSConfig", "TenancyConfig", "TenantConfig", "TenantPolicyConfig",
           "UpstreamConfig", "config_from_mapping", "load_config"]
