from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import Gateway
from tests.admin.support import ADMIN_USER, TOKEN, HoldOffPlatformContact, write_credentials
from tests.conftest import GatewayFactory


@pytest.fixture
def policy() -> HoldOffPlatformContact:
    return HoldOffPlatformContact()


@pytest.fixture
async def admin_gateway(gateway_factory: GatewayFactory, policy: HoldOffPlatformContact,
                        tmp_path: Path) -> Gateway:
    creds = write_credentials(tmp_path / "credentials")
    return await gateway_factory(policy=policy, admin={"listen": "127.0.0.1:0", "token": TOKEN,
                                                       "users": [ADMIN_USER], "credentials_file": str(creds)})
