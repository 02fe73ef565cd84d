"""``gateway db status|upgrade`` as an admin runs them, on SQLite state and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.config import ConfigError, config_from_mapping, load_config
from gateway.store.factory import describe, open_store, redact_dsn
from tests.conftest import REPO_ROOT


def gateway_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=REPO_ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120, check=False)


def config_file(tmp_path: Path, database: str | None = None) -> Path:
    path = tmp_path / "gateway.toml"
    text = f'[state]\ndirectory = "{tmp_path / "state"}"\n'
    if database is not None:
        text += f'database = "{database}"\n'
    path.write_text(text, encoding="utf-8")
    return path


def test_sqlite_state_is_current_once_opened(tmp_path: Path) -> None:
    cfg = config_file(tmp_path)
    done = gateway_cli("db", "upgrade", "--json", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["backend"] == "sqlite" and result["applied"] == []
    assert result["schema_version"] == result["latest"] >= 1
    assert (tmp_path / "state" / "gateway.db").is_file()
    status = gateway_cli("db", "status", "--config", str(cfg))
    assert status.returncode == 0 and "up to date" in status.stdout


def test_postgres_status_upgrade_status(tmp_path: Path, pg_dsn: str) -> None:
    cfg = config_file(tmp_path, pg_dsn)
    before = gateway_cli("db", "status", "--json", "--config", str(cfg))
    assert before.returncode == 1, before.stderr  # behind: scripts can gate a deploy on it
    status = json.loads(before.stdout)
    assert (status["backend"], status["schema_version"], status["up_to_date"]) == ("postgresql", 0, False)

    # Using a schema that is behind is refused with the command that fixes it.
    for command in (("report",), ("optouts", "list"), ("quarantine", "list")):
        refused = gateway_cli(*command, "--config", str(cfg))
        assert refused.returncode == 2 and "gateway db upgrade" in refused.stderr, command
        assert "Traceback" not in refused.stderr

    upgraded = gateway_cli("db", "upgrade", "--config", str(cfg))
    assert upgraded.returncode == 0, upgraded.stderr
    assert "applied migrations 1, 2" in upgraded.stdout
    again = gateway_cli("db", "upgrade", "--json", "--config", str(cfg))
    assert again.returncode == 0 and json.loads(again.stdout)["applied"] == []
    after = json.loads(gateway_cli("db", "status", "--json", "--config", str(cfg)).stdout)
    assert after["up_to_date"] is True and after["schema_version"] == after["latest"] == status["latest"]


def test_unreachable_database_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    cfg = config_file(tmp_path, "postgresql://gw:hunter2@127.0.0.1:1/gateway?connect_timeout=2")
    done = gateway_cli("db", "status", "--config", str(cfg))
    assert done.returncode == 2
    assert "127.0.0.1" in done.stderr and "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def test_optouts_cli_on_postgres(tmp_path: Path, pg_dsn: str) -> None:
    cfg = config_file(tmp_path, pg_dsn)
    assert gateway_cli("db", "upgrade", "--config", str(cfg)).returncode == 0
    alias = "bcdfghjklmnpqrs@marketplace.amazon.de"
    added = gateway_cli("optouts", "add", alias, "--reason", "buyer asked", "--actor", "alice", "--config", str(cfg))
    assert added.returncode == 0, added.stderr
    listed = json.loads(gateway_cli("optouts", "list", "--json", "--config", str(cfg)).stdout)
    assert [(r["alias"], r["status"]) for r in listed] == [(alias, "optout")]
    # Nothing was written to a local SQLite file: the registry is the shared one.
    assert not (tmp_path / "state" / "gateway.db").exists()


def test_database_key_takes_postgres_dsns_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        config_from_mapping({"state": {"database": "mysql://db/gw"}})
    with pytest.raises(ConfigError):
        config_from_mapping({"state": {"database": "host=db dbname"}})
    keyvalue = config_from_mapping({"state": {"database": "host=db dbname=gw password=pw"}})
    assert "pw" not in describe(keyvalue) and "password=***" in describe(keyvalue)
    with pytest.raises(ConfigError):
        config_from_mapping({"state": {"database": "postgresql://db/gw", "pool_min_size": 5, "pool_max_size": 2}})
    config = config_from_mapping({"state": {"directory": str(tmp_path), "database": "postgresql://gw:pw@db/gw"}})
    assert describe(config) == "postgresql://gw:***@db/gw"
    assert describe(config_from_mapping({"state": {"directory": str(tmp_path)}})).startswith("sqlite:")


@pytest.mark.parametrize(("dsn", "shown"), [
    ("postgresql://gw:s3cr%40t@db.example:5432/gw", "postgresql://gw:***@db.example:5432/gw"),
    ("postgresql://db.example:5432/gw", "postgresql://db.example:5432/gw"),
])
def test_redact_dsn_keeps_a_uri_readable(dsn: str, shown: str) -> None:
    assert redact_dsn(dsn) == shown


@pytest.mark.parametrize("dsn", [
    "postgresql://gw@db/gw?password=hunter2&sslmode=require",
    "postgresql://gw:hunter2@db/gw?sslpassword=hunter2",
    "host=h password = hunter2",
    "password='hunter2 two' host=h",
    "password=hunter2\\ two host=h",
    "host=h dbname=gw password=hunter2",
])
def test_redact_dsn_never_shows_a_password(dsn: str) -> None:
    shown = redact_dsn(dsn)
    assert "hunter2" not in shown and "two" not in shown
    assert "***" in shown and "h" in shown


def test_serve_refuses_a_database_that_is_behind(tmp_path: Path, pg_dsn: str) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(f'[server]\nlisten = "127.0.0.1:0"\n[admin]\nenabled = false\n'
                    f'[state]\ndirectory = "{tmp_path / "state"}"\ndatabase = "{pg_dsn}"\n', encoding="utf-8")
    done = gateway_cli("serve", "--config", str(path))
    assert done.returncode == 2
    assert "run `gateway db upgrade`" in done.stderr and "Traceback" not in done.stderr
    assert "password=***" in done.stderr and "gateway_test password=gateway_test" not in done.stderr


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_prune_from_the_command_line(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    dsn = request.getfixturevalue("pg_dsn") if backend == "postgresql" else None
    cfg = config_file(tmp_path, dsn)
    assert gateway_cli("db", "upgrade", "--config", str(cfg)).returncode == 0
    alias = "bcdfghjklmnpqrs@marketplace.amazon.de"
    assert gateway_cli("optouts", "add", alias, "--config", str(cfg)).returncode == 0

    async def relayed_and_decided() -> None:
        store = await open_store(load_config(cfg))
        try:
            await store.record_relay("Q1", "<m@shop>", [(alias, "de")], [], set())
            await store.record_decision("Q1", "<m@shop>", "p", "s@shop", [alias], "de", "relay", [])
        finally:
            await store.close()

    asyncio.run(relayed_and_decided())
    time.sleep(1.1)
    done = gateway_cli("db", "prune", "--json", "--relays-older-than", "0d", "--decisions-older-than", "keep",
                       "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["deleted"] == {"relays": 1, "decisions": 0} and result["decisions_before"] is None
    assert result["relays_before"] is not None
    listed = json.loads(gateway_cli("optouts", "list", "--json", "--config", str(cfg)).stdout)
    assert [r["alias"] for r in listed] == [alias]  # the registry is never pruned
    bad = gateway_cli("db", "prune", "--relays-older-than", "soon", "--config", str(cfg))
    assert bad.returncode == 2 and "soon" in bad.stderr
