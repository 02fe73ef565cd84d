"""`gateway quarantine` and `gateway report` in a subprocess, against a running gateway's state."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.cli.report import parse_since
from tests.admin.support import ALIAS, EVIDENCE, REPO_ROOT, held_body, message, run_cli, send, write_config
from tests.conftest import GatewayFactory
from tests.sink import Sink, relayed_unchanged


async def hold(gw: Gateway, subject: str = "About your order") -> str:
    reply = await send(gw, message(subject, held_body()))
    assert "held for review as" in reply
    return reply.rsplit(" ", 1)[-1]


async def test_list_and_show_json(admin_gateway: Gateway, tmp_path: Path) -> None:
    qid = await hold(admin_gateway)
    config = str(write_config(tmp_path / "gateway.toml", admin_gateway))
    code, out, err = await run_cli("quarantine", "list", "--config", config, "--json")
    assert code == 0, err
    [entry] = json.loads(out)
    assert (entry["id"], entry["status"], entry["rcpt_tos"]) == (qid, "held", [ALIAS])
    assert entry["verdict"]["hits"][0]["rule"] == "off-platform-contact"
    code, out, err = await run_cli("quarantine", "list", "--config", config, "--json", "--tenant", "someone-else")
    assert code == 0, err
    assert json.loads(out) == []
    code, out, err = await run_cli("quarantine", "show", qid, "--config", config, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["verdict"]["hits"][0]["evidence"] == EVIDENCE
    assert EVIDENCE in shown["preview"]["text"]


async def test_show_highlights_evidence(admin_gateway: Gateway, tmp_path: Path) -> None:
    qid = await hold(admin_gateway)
    config = str(write_config(tmp_path / "gateway.toml", admin_gateway))
    code, out, _ = await run_cli("quarantine", "show", qid, "--config", config)
    assert code == 0
    assert "off-platform-contact [quarantine]" in out
    assert f"evidence: >>{EVIDENCE}<<" in out
    assert f"write me on >>{EVIDENCE}<< any time" in out  # marked inside the message text too
    code, out, _ = await run_cli("quarantine", "show", qid, "--config", config, "--color", "always")
    assert f"\x1b[7m{EVIDENCE}\x1b[0m" in out
    code, _, err = await run_cli("quarantine", "show", "QNOSUCH", "--config", config)
    assert code == 1 and "no quarantined message" in err


async def test_release_reaches_sink_exactly_once(admin_gateway: Gateway, tmp_path: Path, sink: Sink) -> None:
    qid = await hold(admin_gateway)
    config = str(write_config(tmp_path / "gateway.toml", admin_gateway))
    # No policy engine in this config: a plain release cannot re-check, so it is refused.
    code, out, _ = await run_cli("quarantine", "release", qid, "--config", config, "--json")
    assert code == 1
    assert json.loads(out)["error"] == "recheck-unavailable"
    code, _, err = await run_cli("quarantine", "release", qid, "--config", config, "--force")
    assert code == 2 and "--reason" in err
    code, out, err = await run_cli("quarantine", "release", qid, "--config", config, "--json", "--force",
                                   "--reason", "buyer asked for a phone call", "--actor", "cli:carol")
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] and result["quarantine_id"] == qid and result["forced"]
    # The running gateway's delivery finds the message in the spool on its next poll.
    received = await sink.handler.wait_for(1)
    assert received[0].rcpt_tos == [ALIAS] and EVIDENCE.encode() in received[0].data
    assert relayed_unchanged(received[0].data, message("About your order", held_body()))
    code, out, _ = await run_cli("quarantine", "release", qid, "--config", config, "--json", "--force",
                                 "--reason", "again")
    assert code == 1
    assert json.loads(out)["error"] == "not-held"
    assert admin_gateway.store is not None
    audit = [a for a in await admin_gateway.store.audit_log() if a.object == qid]
    assert [(a.actor, a.action) for a in audit] == [("cli:carol", "spooled"), ("cli:carol", "released")]
    assert audit[1].reason == "forced: buyer asked for a phone call"
    assert audit[0].reason == result["queue_id"]
    assert len(sink.messages) == 1


async def test_concurrent_releases_spool_once(admin_gateway: Gateway, tmp_path: Path, sink: Sink) -> None:
    import asyncio

    qid = await hold(admin_gateway)
    config = str(write_config(tmp_path / "gateway.toml", admin_gateway))
    runs = await asyncio.gather(*(run_cli("quarantine", "release", qid, "--config", config, "--json", "--force",
                                          "--reason", f"race {i}") for i in range(3)))
    assert sorted(code for code, _, _ in runs) == [0, 1, 1]
    await sink.handler.wait_for(1)
    await asyncio.sleep(0.5)  # several delivery polls: a duplicate would have arrived by now
    assert len(sink.messages) == 1


async def test_delete_is_audited_and_removes_bytes(admin_gateway: Gateway, tmp_path: Path, sink: Sink) -> None:
    qid = await hold(admin_gateway)
    assert admin_gateway.store is not None
    record = await admin_gateway.store.get_quarantine(qid)
    assert record is not None
    config = str(write_config(tmp_path / "gateway.toml", admin_gateway))
    code, out, err = await run_cli("quarantine", "delete", qid, "--config", config, "--reason", "spam")
    assert code == 0, err
    assert "deleted" in out
    assert not record.path.exists()
    code, out, _ = await run_cli("quarantine", "list", "--config", config, "--all", "--json")
    assert [(e["id"], e["status"]) for e in json.loads(out)] == [(qid, "deleted")]
    code, _, err = await run_cli("quarantine", "delete", qid, "--config", config)
    assert code == 1 and "already deleted" in err
    audit = await admin_gateway.store.audit_log()
    assert (audit[0].action, audit[0].reason) == ("deleted", "spam")
    assert audit[0].actor.startswith("cli:")
    assert sink.messages == []


async def test_quarantine_state_is_private(admin_gateway: Gateway) -> None:
    qid = await hold(admin_gateway)
    store = admin_gateway.store
    assert store is not None
    record = await store.get_quarantine(qid)
    assert record is not None
    assert stat.S_IMODE(record.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.quarantine_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.db_path.stat().st_mode) == 0o600


async def test_existing_state_dir_is_tightened(tmp_path: Path) -> None:
    from gateway.store.sqlite import SQLiteStore

    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    store = await SQLiteStore(state).open()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    await store.close()


async def test_cli_refuses_state_owned_by_someone_else(admin_gateway: Gateway, tmp_path: Path) -> None:
    import os

    config = str(write_config(tmp_path / "gateway.toml", admin_gateway))
    state = admin_gateway.config.state_dir
    os.chown(state, 12345, -1)
    try:
        code, _, err = await run_cli("quarantine", "list", "--config", config)
    finally:
        os.chown(state, os.geteuid(), -1)
    assert code == 2 and "belongs to uid 12345" in err


async def test_report_counts(admin_gateway: Gateway, tmp_path: Path, sink: Sink) -> None:
    await hold(admin_gateway, "One")
    await hold(admin_gateway, "Two")
    await send(admin_gateway, message("Shipped", "On its way.\r\n"))
    await send(admin_gateway, message("Not marketplace", "x\r\n", to="someone@example.com"), to="someone@example.com")
    assert admin_gateway.processor is not None
    await admin_gateway.processor.drain()  # relayed mail's decisions are recorded beside the reply
    config = str(write_config(tmp_path / "gateway.toml", admin_gateway))
    code, out, err = await run_cli("report", "--config", config, "--since", "1d", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["total"] == 3  # decisions on mail to marketplace buyers only
    assert report["by_action"] == {"quarantine": 2, "relay": 1}
    assert report["by_rule"] == {"off-platform-contact": 2}
    assert report["by_marketplace"] == {"de": 3}
    assert report["top_senders"] == [{"mail_from": "seller@shop.example", "messages": 2, "hits": 2}]
    code, out, _ = await run_cli("report", "--config", config)
    assert code == 0
    assert "off-platform-contact" in out and "seller@shop.example" in out
    code, out, _ = await run_cli("report", "--config", config, "--since", "2999-01-01", "--json")
    assert json.loads(out)["total"] == 0
    code, out, _ = await run_cli("report", "--config", config, "--tenant", "other", "--json")
    assert json.loads(out)["total"] == 0


def test_parse_since() -> None:
    assert parse_since("7d", now=1_000_000.0) == 1_000_000.0 - 7 * 86400
    assert parse_since("90m", now=10_000.0) == 10_000.0 - 5400
    assert parse_since("1970-01-02") == 86400
    assert parse_since("1970-01-01T01:00:00+01:00") == 0
    with pytest.raises(Exception, match="not a duration"):
        parse_since("yesterday")


async def test_release_rechecks_with_the_real_rule_packs(gateway_factory: GatewayFactory, tmp_path: Path,
                                                         sink: Sink) -> None:
    """Held by the shipped rules; a plain release re-checks the same bytes with them and refuses."""
    gw = await gateway_factory(policy="load")
    raw = (REPO_ROOT / "policies/examples/contact/ask-phone-en.eml").read_bytes()
    alias = "q8vrtn3kd2x7zm9@marketplace.amazon.com"
    reply = await send(gw, raw, to=alias)
    assert "held for review as" in reply, reply
    qid = reply.rsplit(" ", 1)[-1]
    config = tmp_path / "gateway.toml"
    config.write_text(f'[state]\ndirectory = "{gw.config.state_dir}"\n', encoding="utf-8")  # packaged rules
    code, out, err = await run_cli("quarantine", "release", qid, "--config", str(config), "--json")
    assert code == 1, err
    refused = json.loads(out)
    assert refused["error"] == "still-violating" and "buyer-contact-request" in refused["message"]
    code, out, err = await run_cli("quarantine", "show", qid, "--config", str(config))
    assert "buyer-contact-request" in out
    assert sink.messages == []
