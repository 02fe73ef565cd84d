"""`gateway backup` / `gateway restore`: a round trip through real SQLite files and the real CLI.

Registry (with its evidence file), quarantine (row and bytes), per-order counters and daily caps,
the spool's pending mail and the instance id must all come back; a damaged backup is refused
before the state folder is touched.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import GatewayConfig, load_config
from gateway.instance import instance_id
from gateway.spool import Spool
from gateway.store.factory import open_store

ALIAS = "z9q8w7e6r5t4@marketplace.amazon.de"
NOTICE = b"From: donotreply@amazon.de\r\nSubject: opt-out\r\n\r\nThe buyer opted out.\r\n"
HELD = b"From: s@shop.example\r\nTo: " + ALIAS.encode() + b"\r\nSubject: held\r\n\r\nbody\r\n"


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[state]\ndirectory = "{tmp_path / "state"}"\n[log]\nformat = "json"\n')
    return path


async def fill(config: GatewayConfig) -> dict[str, str]:
    store = await open_store(config)
    try:
        reference, _digest = await store.store_evidence(NOTICE)
        await store.record_alias(ALIAS, "optout", marketplace="de", order_id="302-1111111-2222222",
                                 evidence=reference, source="test")
        qid = await store.quarantine(HELD, peer="127.0.0.1", mail_from="s@shop.example", rcpt_tos=[ALIAS],
                                     message_id="<held@shop>", subject="held", marketplace="de",
                                     verdict={"action": "quarantine"})
        assert await store.reserve_counter("302-1111111-2222222", "review-request", 5)
        assert await store.reserve_send("", "de", "2026-12-01", 100)
    finally:
        await store.close()
    spool = await Spool.open(config.state_dir / "spool")
    try:
        await spool.put("s@shop.example", ["someone@example.org"], b"Subject: pending\r\n\r\nx\r\n", {})
    finally:
        await spool.close()
    return {"evidence": reference, "qid": qid, "instance": instance_id(config.state_dir)}


async def check_restored(config: GatewayConfig, made: dict[str, str]) -> None:
    store = await open_store(config)
    try:
        record = await store.get_alias(ALIAS)
        assert record is not None and record.status == "optout" and record.evidence == made["evidence"]
        assert await store.read_evidence(made["evidence"]) == NOTICE
        held = await store.get_quarantine(made["qid"])
        assert held is not None and held.status == "held"
        assert await store.quarantined_bytes(made["qid"]) == HELD
        assert await store.order_counter("302-1111111-2222222", "review-request") == 1
        assert await store.sends("", "de", "2026-12-01") == 1
    finally:
        await store.close()
    spool = await Spool.open(config.state_dir / "spool")
    try:
        assert await spool.depth() == 1
    finally:
        await spool.close()
    assert (config.state_dir / "instance-id").read_text().strip() == made["instance"]


async def test_backup_restore_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path)
    config = load_config(path)
    made = await fill(config)
    backup = tmp_path / "backup"
    assert main(["backup", str(backup), "--config", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    manifest = json.loads(out[out.index("{\n"):])  # after any log line the test's own setup printed
    assert manifest["backend"] == "sqlite" and manifest["instance_id"] == made["instance"]
    names = set(manifest["files"])
    assert {"gateway.db", "spool/spool.sqlite3", "instance-id"} <= names
    assert any(n.startswith("evidence/") for n in names) and any(n.startswith("quarantine/") for n in names)
    assert not any(n.endswith(("-wal", "-shm")) for n in names)

    shutil.rmtree(config.state_dir)  # the host is lost
    assert main(["restore", str(backup), "--config", str(path)]) == 0
    await check_restored(config, made)

    # Restoring again over live state moves that state aside instead of deleting it.
    assert main(["restore", str(backup), "--config", str(path)]) == 0
    assert len(list(config.state_dir.glob("replaced-*/gateway.db"))) == 1
    await check_restored(config, made)


async def test_a_damaged_backup_is_refused_before_anything_changes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path)
    config = load_config(path)
    made = await fill(config)
    backup = tmp_path / "backup"
    assert main(["backup", str(backup), "--config", str(path)]) == 0
    held = next((backup / "quarantine").iterdir())
    held.write_bytes(held.read_bytes() + b"tampered")
    capsys.readouterr()
    assert main(["restore", str(backup), "--verify-only", "--config", str(path)]) == 2
    assert "checksum does not match" in capsys.readouterr().err
    before = sorted(p.name for p in config.state_dir.iterdir())
    assert main(["restore", str(backup), "--config", str(path)]) == 2
    assert sorted(p.name for p in config.state_dir.iterdir()) == before
    await check_restored(config, made)  # untouched


def test_backup_wants_a_new_folder_outside_the_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path)
    (tmp_path / "state").mkdir()
    assert main(["backup", str(tmp_path / "state" / "b"), "--config", str(path)]) == 2
    assert "inside the state folder" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["backup", str(tmp_path / "full"), "--config", str(path)]) == 2
    assert "not empty" in capsys.readouterr().err
