"""The admin login limiter and credential reloads, over real HTTP against a running gateway.

Different clients are real different loopback addresses (127.0.0.2, 127.0.0.3 bind as sources on
Linux), or clients behind a trusted proxy named by X-Forwarded-For.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.admin.sessions import VERIFY_SLOTS
from gateway.app import Gateway
from gateway.auth import hash_password
from gateway.config import GatewayConfig, config_from_mapping
from tests.admin.support import ADMIN_PASSWORD, ADMIN_USER, TOKEN, HoldOffPlatformContact, admin_url, write_credentials
from tests.conftest import GatewayFactory


def client(source: str = "127.0.0.1") -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 connector=aiohttp.TCPConnector(local_addr=(source, 0), force_close=True))


def with_admin(gw: Gateway, admin: dict[str, object]) -> GatewayConfig:
    """The running gateway's configuration with another [admin] section (what a reload reads)."""
    return config_from_mapping({**gw.config.model_dump(mode="json"), "admin": admin})


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with client() as session:
        yield session


async def login_status(http: aiohttp.ClientSession, gw: Gateway, password: str, user: str = ADMIN_USER,
                       headers: dict[str, str] | None = None) -> int:
    async with http.post(admin_url(gw, "/login"), data={"username": user, "password": password},
                         headers=headers or {}, allow_redirects=False) as resp:
        return resp.status


@pytest.fixture
async def limited_gateway(gateway_factory: GatewayFactory, tmp_path: Path) -> Gateway:
    creds = write_credentials(tmp_path / "credentials")
    return await gateway_factory(policy=HoldOffPlatformContact(), admin={
        "listen": "127.0.0.1:0", "token": TOKEN, "users": [ADMIN_USER, "bob"], "credentials_file": str(creds),
        "trusted_proxies": ["127.0.0.9"], "login_failures_per_user": 5, "login_failures_per_client": 20})


async def test_fifty_parallel_wrong_logins_are_not_all_checked(limited_gateway: Gateway,
                                                                http: aiohttp.ClientSession) -> None:
    statuses = await asyncio.gather(*(login_status(http, limited_gateway, f"guess {n}") for n in range(50)))
    assert statuses.count(401) == 5  # checked: exactly the per-(client, user) allowance
    assert statuses.count(429) == 45  # refused unchecked
    # The right password from the same client is locked too (that is the point of a lock) ...
    assert await login_status(http, limited_gateway, ADMIN_PASSWORD) == 429
    # ... but not from another client, nor another user from this one.
    async with client("127.0.0.2") as other:
        assert await login_status(other, limited_gateway, ADMIN_PASSWORD) == 303
    assert await login_status(http, limited_gateway, "smtp only", user="bob") == 303


async def test_a_client_trying_many_user_names_is_stopped(limited_gateway: Gateway,
                                                          http: aiohttp.ClientSession) -> None:
    statuses = await asyncio.gather(*(login_status(http, limited_gateway, "x", user=f"user{n}") for n in range(30)))
    assert statuses.count(401) == 20 and statuses.count(429) == 10
    async with client("127.0.0.3") as other:
        assert await login_status(other, limited_gateway, ADMIN_PASSWORD) == 303


async def test_behind_a_trusted_proxy_each_client_counts_on_its_own(limited_gateway: Gateway) -> None:
    async with client("127.0.0.9") as proxy:
        attacker = {"X-Forwarded-For": "198.51.100.7"}
        statuses = await asyncio.gather(*(login_status(proxy, limited_gateway, "bad", headers=attacker)
                                          for _ in range(12)))
        assert statuses.count(429) == 7
        admin = {"X-Forwarded-For": "203.0.113.5, 198.51.100.7"}  # the last hop before the proxy counts
        assert await login_status(proxy, limited_gateway, ADMIN_PASSWORD, headers=admin) == 429
        assert await login_status(proxy, limited_gateway, ADMIN_PASSWORD,
                                  headers={"X-Forwarded-For": "203.0.113.5"}) == 303
    # An untrusted peer cannot pick its identity with the header.
    async with client("127.0.0.4") as liar:
        for n in range(5):
            assert await login_status(liar, limited_gateway, "bad", headers={"X-Forwarded-For": f"192.0.2.{n}"}) == 401
        assert await login_status(liar, limited_gateway, "bad", headers={"X-Forwarded-For": "192.0.2.99"}) == 429


async def test_bearer_token_guesses_are_limited(limited_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    async def get(session: aiohttp.ClientSession, token: str) -> int:
        async with session.get(admin_url(limited_gateway, "/api/quarantine"),
                               headers={"Authorization": f"Bearer {token}"}) as resp:
            return resp.status

    statuses = await asyncio.gather(*(get(http, f"guess-{n:020d}") for n in range(300)))
    assert statuses.count(401) == 5 and statuses.count(429) == 295
    assert await get(http, TOKEN) == 429
    async with client("127.0.0.2") as other:
        assert await get(other, TOKEN) == 200


async def test_password_change_and_user_removal_take_effect_on_reload(
        gateway_factory: GatewayFactory, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    creds = write_credentials(tmp_path / "credentials")
    admin = {"listen": "127.0.0.1:0", "token": TOKEN, "users": [ADMIN_USER, "bob"], "credentials_file": str(creds)}
    gw = await gateway_factory(policy=HoldOffPlatformContact(), admin=admin)
    assert await login_status(http, gw, ADMIN_PASSWORD) == 303
    async with client() as bob:
        assert await login_status(bob, gw, "smtp only", user="bob") == 303
        async with bob.get(admin_url(gw, "/api/quarantine")) as resp:
            assert resp.status == 200
        # A new password for alice (what `gateway auth add-user` writes), then a reload.
        text = creds.read_text().splitlines()
        creds.write_text("\n".join(f"{ADMIN_USER}:{hash_password('new secret 42')}" if line.startswith(f"{ADMIN_USER}:")
                                   else line for line in text) + "\n")
        assert await gw.reload(with_admin(gw, admin))
        async with http.get(admin_url(gw, "/api/quarantine")) as resp:
            assert resp.status == 401  # alice's session ended with her old password
        async with bob.get(admin_url(gw, "/api/quarantine")) as resp:
            assert resp.status == 200  # bob's password did not change: his session goes on
        assert await login_status(http, gw, ADMIN_PASSWORD) == 401
        assert await login_status(http, gw, "new secret 42") == 303
        # bob removed from admin.users: his session ends, his password no longer logs in.
        removed = {**admin, "users": [ADMIN_USER]}
        assert await gw.reload(with_admin(gw, removed))
        async with bob.get(admin_url(gw, "/api/quarantine")) as resp:
            assert resp.status == 401
        assert await login_status(bob, gw, "smtp only", user="bob") == 401
        async with http.get(admin_url(gw, "/api/quarantine")) as resp:
            assert resp.status == 200  # alice's new session survives a reload that changed nothing of hers


ADMIN_CLIENT = {"X-Forwarded-For": "203.0.113.5"}


async def test_a_browser_that_logged_in_before_is_not_locked_out_by_a_distributed_attack(
        gateway_factory: GatewayFactory, tmp_path: Path) -> None:
    creds = write_credentials(tmp_path / "credentials")
    gw = await gateway_factory(policy=HoldOffPlatformContact(), admin={
        "listen": "127.0.0.1:0", "users": [ADMIN_USER], "credentials_file": str(creds),
        "trusted_proxies": ["127.0.0.9"], "login_failures_total": 10})
    async with client("127.0.0.9") as admins_browser, client("127.0.0.9") as attacker, \
            client("127.0.0.9") as new_browser:
        assert await login_status(admins_browser, gw, ADMIN_PASSWORD, headers=ADMIN_CLIENT) == 303
        statuses = await asyncio.gather(*(login_status(attacker, gw, "guess",
                                                       headers={"X-Forwarded-For": f"198.51.100.{n}"})
                                          for n in range(20)))
        # The total ceiling holds (checks already under way when it is reached may still finish).
        assert 10 <= statuses.count(401) <= 10 + VERIFY_SLOTS - 1
        assert statuses.count(401) + statuses.count(429) == 20
        # Everyone else is refused for now, even with the right password ...
        assert await login_status(new_browser, gw, ADMIN_PASSWORD, headers={"X-Forwarded-For": "203.0.113.6"}) \
            == 429
        # ... but the admin's own browser, which logged in before, still gets in.
        assert await login_status(admins_browser, gw, ADMIN_PASSWORD, headers=ADMIN_CLIENT) == 303
        # Its device cookie is no master key: guesses with it are counted on their own.
        for _ in range(5):
            assert await login_status(admins_browser, gw, "wrong", headers=ADMIN_CLIENT) == 401
        assert await login_status(admins_browser, gw, ADMIN_PASSWORD, headers=ADMIN_CLIENT) == 429


async def test_an_admin_ends_another_session_at_once(limited_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    import re

    async with http.post(admin_url(limited_gateway, "/login"),
                         data={"username": ADMIN_USER, "password": ADMIN_PASSWORD}) as resp:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
    assert csrf
    async with client("127.0.0.2") as bob:
        assert await login_status(bob, limited_gateway, "smtp only", user="bob") == 303
        async with http.get(admin_url(limited_gateway, "/sessions")) as resp:
            page = await resp.text()
        assert f"user:{ADMIN_USER} (this one)" in page and "127.0.0.2" in page
        handle = re.search(r'<tr data-handle="([0-9a-f]+)"><td data-label="Who">user:bob<', page)
        assert handle
        async with http.post(admin_url(limited_gateway, f"/sessions/{handle.group(1)}/end"),
                             data={"csrf_token": csrf.group(1)}) as resp:
            assert "Session of user:bob from 127.0.0.2 ended." in await resp.text()
        async with bob.get(admin_url(limited_gateway, "/api/quarantine")) as resp:
            assert resp.status == 401
        async with http.get(admin_url(limited_gateway, "/api/quarantine")) as resp:
            assert resp.status == 200
