from __future__ import annotations

import pytest

from gateway.config import MarketplaceConfig, PolicyConfig
from gateway.policy.engine import PolicyEngine


@pytest.fixture(scope="session")
def engine() -> PolicyEngine:
    """The shipped packs with default configuration (loaded once: loading is pure)."""
    return PolicyEngine.load(PolicyConfig(), MarketplaceConfig())
