"""``gateway disagreements`` and ``gateway restriction`` run as the admin runs them: subprocesses
against a state directory that a policy notice and a restriction notice were ingested into."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.bounces.ingest import BounceIngestService
from gateway.config import config_from_mapping
from gateway.store.base import HitRecord, RelayedMessage
from gateway.store.sqlite import SQLiteStore
from tests.conftest import REPO_ROOT
from tests.test_learning import policy_notice

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
ORDER = "302-4817265-9034712"


def gateway(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "gateway", *args, "--config", str(cfg)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def prepared(tmp_path: Path) -> Path:
    cfg = tmp_path / "gw.toml"
    cfg.write_text(f'[state]\ndirectory = "{tmp_path / "state"}"\n', encoding="utf-8")
    config = config_from_mapping({"state": {"directory": str(tmp_path / "state")}})

    async def fill() -> None:
        store = await SQLiteStore(config.state_dir).open()
        try:
            await store.record_relay("Q1", "<inv-1@shop.example>", [(ALIAS, "de")], [ORDER], set())
            await store.record_relayed(RelayedMessage(
                queue_id="Q1", message_id="<inv-1@shop.example>", subject=f"Ihre Rechnung {ORDER}", action="relay",
                hits=(HitRecord("critical-content", "relay", "informational", "", "critical"),),
                packs=(("critical", "0123456789ab"),), fingerprint="00ff" * 64, order_ids=(ORDER,),
                aliases=(ALIAS,)))
            service = BounceIngestService(store, config)
            await service.ingest_result(policy_notice(order=ORDER, in_reply_to="<inv-1@shop.example>"), "test")
            await service.ingest_result(policy_notice(order=ORDER, kind="restriction"), "test")
        finally:
            await store.close()

    asyncio.run(fill())
    return cfg


def test_disagreements_and_restrictions_from_the_shell(tmp_path: Path) -> None:
    cfg = prepared(tmp_path)
    done = gateway(cfg, "disagreements", "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert listed["total"] == 1 and listed["by_pack"] == {"critical": 1} and listed["held_templates"] == 1
    [item] = listed["latest"]
    text = gateway(cfg, "disagreements", "show", str(item["id"]))
    assert text.returncode == 0, text.stderr
    assert f"Ihre Rechnung {ORDER}" in text.stdout and "critical-content [critical] relay" in text.stdout
    assert "communication guidelines" in text.stdout and "template: held" in text.stdout

    assert gateway(cfg, "disagreements", "fix", str(item["id"])).returncode == 2  # --reason is required
    fixed = gateway(cfg, "disagreements", "fix", str(item["id"]), "--reason", "pixel removed", "--actor", "alice")
    assert fixed.returncode == 0 and "no longer held" in fixed.stdout, fixed.stderr
    shown = json.loads(gateway(cfg, "disagreements", "show", str(item["id"]), "--json").stdout)
    assert (shown["template"], shown["fixed_by"], shown["fixed_reason"]) == ("fixed", "alice", "pixel removed")

    report = gateway(cfg, "report")
    assert report.returncode == 0 and "Disagreements with Amazon (relayed, then refused by Amazon): 1" in report.stdout
    assert "RESTRICTED: tenant (default)" in report.stdout

    # The restriction notice: listed, then cleared once.
    cleared = gateway(cfg, "restriction", "clear", "--reason", "Amazon lifted it", "--actor", "bob")
    assert cleared.returncode == 0 and "restriction cleared" in cleared.stdout, cleared.stderr
    again = gateway(cfg, "restriction", "clear", "--reason", "again")
    assert again.returncode == 0 and "no active restriction" in again.stdout
    [entry] = json.loads(gateway(cfg, "restriction", "list", "--json").stdout)
    assert (entry["active"], entry["cleared_by"], entry["clear_reason"]) == (False, "bob", "Amazon lifted it")

    # A restriction Amazon announced some other way is recorded by hand.
    added = gateway(cfg, "restriction", "add", "--tenant", "shop2", "--since", "2026-11-20",
                    "--reason", "Seller Central banner: messaging restricted for 30 days", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["since"] == 1_795_132_800.0 and json.loads(added.stdout)["active"]
