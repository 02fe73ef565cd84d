from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from gateway.app import Gateway
from gateway.auth import hash_password
from gateway.config import GatewayConfig, config_from_mapping
from tests.sink import Sink
from tests.tlsutil import CertPair, make_self_signed

REPO_ROOT = Path(__file__).resolve().parent.parent


def make_config(tmp_path: Path, sink_port: int | None, **sections: Any) -> GatewayConfig:
    data: dict[str, Any] = {
        "server": {"listen": "127.0.0.1:0", "hostname": "gateway.test"},
        "state": {"directory": str(tmp_path / "state")},
        "delivery": {"retry_initial": 0.2, "retry_max": 1.0, "poll_interval": 0.1},
        "log": {"format": "json", "level": "warning"},
        # An ephemeral admin port, so several gateways (and parallel runs) never collide on 8025.
        "admin": {"listen": "127.0.0.1:0"},
    }
    if sink_port is not None:
        data["upstream"] = {"host": "127.0.0.1", "port": sink_port, "tls": "none",
                            "connect_timeout": 2.0, "command_timeout": 5.0}
    for name, values in sections.items():
        if isinstance(values, dict):
            data.setdefault(name, {}).update(values)
        else:
            data[name] = values
    return config_from_mapping(data)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any] | None:
    """``GATEWAY_TEST_EVENT_LOOP=uvloop``: the asyncio tests run on uvloop instead (the loop
    ``[server] event_loop = "auto"`` picks where it is installed)."""
    if os.environ.get("GATEWAY_TEST_EVENT_LOOP", "asyncio") != "uvloop":
        return {"asyncio": asyncio.new_event_loop}
    import uvloop

    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(autouse=True)
def _process_logging_restored() -> Iterator[None]:
    """Logging set-up is process-wide state: put it back after every test.

    A command run in-process (``gateway backup``, ``config check``, ``bounce parse``...) calls
    ``configure_logging`` with the test config's level "warning"; structlog's filtering wrapper
    then drops every info event for the rest of the session, so a later test's ``capture_logs``
    saw no ``delivery.attempt`` or ``reloaded`` event (the order-dependent failures of the
    2026-12-01 full run: "coroutine raised StopIteration" from ``next()`` over the empty capture).
    """
    config = structlog.get_config()
    saved = {**config, "processors": list(config["processors"])}
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("mail.log", "asyncio", "aiohttp.access")}
    yield
    structlog.configure(**saved)
    root.handlers = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.stop()


GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def gateway_factory(tmp_path: Path, sink: Sink) -> AsyncIterator[GatewayFactory]:
    started: list[Gateway] = []

    async def factory(*, policy: Any = None, use_sink: bool = True,
                      **sections: Any) -> Gateway:
        config = make_config(tmp_path, sink.port if use_sink else None, **sections)
        gw = Gateway(config, policy=policy)
        await gw.start()
        started.append(gw)
        return gw

    yield factory
    for gw in started:
        if gw.listener is not None and gw.listener._servers:
            await gw.stop(grace=2.0)


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> Gateway:
    return await gateway_factory()


def listener_port(gw: Gateway) -> int:
    assert gw.listener is not None
    return gw.listener.port


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """``wait_until`` for a condition read through the store's async interface."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


@pytest.fixture
def small_fs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs (1 MB, or ``request.param`` bytes through ``indirect``), so disk-full and
    read-only are the kernel's answers, not simulations. A test that puts a gateway on it must
    ask for this fixture before ``gateway_factory``: the file system is unmounted at teardown and
    has to outlive the gateway that writes to it."""
    size = getattr(request, "param", 1024 * 1024)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh PostgreSQL database (no schema) for this test; see tests/pgutil.py."""
    from tests.pgutil import admin_dsn, temporary_database

    with temporary_database(admin_dsn()) as dsn:
        yield dsn


@pytest.fixture
def cert(tmp_path: Path) -> CertPair:
    """A self-signed certificate for 127.0.0.1/localhost, made for this test."""
    return make_self_signed(tmp_path / "tls")


async def start_tls_gateway(factory: GatewayFactory, cert: CertPair, tmp_path: Path, *,
                            max_failures: int) -> Gateway:
    """A gateway with STARTTLS, an implicit-TLS port and AUTH (user ``erp``, password
    ``correct horse``), listening outside its ``allowed_networks``: only authenticated
    sessions may relay."""
    users = tmp_path / "users"
    users.write_text(f"erp:{hash_password('correct horse')}\n")
    return await factory(
        server={"allowed_networks": ["192.0.2.0/24"], "implicit_tls_listen": "127.0.0.1:0"},
        tls={"cert_file": str(cert.cert_file), "key_file": str(cert.key_file)},
        auth={"credentials_file": str(users), "max_failures": max_failures},
    )
