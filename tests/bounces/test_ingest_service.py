"""The ingest service on a real store, and ``gateway bounce import`` run as a real command."""

from __future__ import annotations

import asyncio
import json
import mailbox
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.bounces.ingest import BounceIngestService, assign_notice
from gateway.config import GatewayConfig, config_from_mapping
from gateway.store.sqlite import SQLiteStore
from tests.bounces.messages import dsn, optout_notice, plain_mail
from tests.conftest import REPO_ROOT

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
OTHER = "zxcvbnmlkjhgfds@marketplace.amazon.de"
ORDER = "302-4817265-9034712"


def make_cfg(tmp_path: Path) -> GatewayConfig:
    return config_from_mapping({"state": {"directory": str(tmp_path / "state")},
                                "bounces": {"correlation_days": 30}})


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[BounceIngestService]:
    cfg = make_cfg(tmp_path)
    store = await SQLiteStore(cfg.state_dir).open()
    yield BounceIngestService(store, cfg)
    await store.close()


async def test_optout_by_order_recorded_with_private_evidence(service: BounceIngestService) -> None:
    store = service.store
    await store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [ORDER], set())
    raw = optout_notice(ORDER)
    result = await service.ingest_result(raw, "smtp:test")
    assert result.outcome == "matched"
    assert result.changes == ((ALIAS, None, "optout"),)
    record = await store.get_alias(ALIAS)
    assert record is not None
    assert (record.status, record.marketplace, record.order_id, record.source) == (
        "optout", "de", ORDER, "smtp:test")
    evidence = store.evidence_path(record.evidence)
    assert evidence is not None and evidence.read_bytes() == raw
    assert stat.S_IMODE(evidence.stat().st_mode) == 0o600
    assert stat.S_IMODE(evidence.parent.stat().st_mode) == 0o700
    notices = await store.notices(alias=ALIAS)
    assert [(n.kind, n.matched_by, n.evidence, n.resolved) for n in notices] == [
        ("amazon-optout", "order", record.evidence, True)]
    assert await store.unmatched_notices() == []


async def test_same_notice_twice_is_recorded_once(service: BounceIngestService) -> None:
    await service.store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [ORDER], set())
    raw = optout_notice(ORDER)
    first = await service.ingest(raw, "imap:a")
    second = await service.ingest(raw, "file:b")
    assert "matched by order" in first and ALIAS in first
    assert "already recorded" in second
    assert len(await service.store.notices()) == 1


async def test_unmatched_notice_goes_to_review_and_admin_assigns_it(service: BounceIngestService) -> None:
    store = service.store
    result = await service.ingest_result(optout_notice(ORDER), "smtp:test")
    assert result.outcome == "unmatched"
    assert await store.get_alias(ALIAS) is None
    review = await store.unmatched_notices()
    assert [(n.kind, n.order_id, n.marketplace) for n in review] == [("amazon-optout", ORDER, "de")]
    assert await assign_notice(store, review[0].id, ALIAS, "alice") == "optout"
    assert await store.alias_status(ALIAS) == "optout"
    assert await store.unmatched_notices() == []
    assert (await store.audit_log())[0].actor == "alice"


async def test_policy_notice_recorded_without_status_change(service: BounceIngestService) -> None:
    policy = (REPO_ROOT / "tests/bounces/data/amazon-policy-en.eml").read_bytes()
    result = await service.ingest_result(policy, "file:policy")
    assert result.report.kind == "amazon-notice" and result.report.notice == "policy"
    assert result.notice_id is not None
    assert result.changes == ()
    assert await service.store.list_aliases() == []


async def test_invalid_alias_notice_marks_dead(service: BounceIngestService) -> None:
    raw = (REPO_ROOT / "tests/bounces/data/amazon-invalid-alias-en.eml").read_bytes()
    result = await service.ingest_result(raw, "file:invalid")
    assert result.outcome == "matched"
    [(alias, _before, now)] = result.changes
    assert now == "dead"
    assert await service.store.alias_status(alias) == "dead"


async def test_dsn_user_unknown_marks_alias_dead(service: BounceIngestService) -> None:
    result = await service.ingest_result(dsn(ALIAS, "5.1.1", "550 5.1.1 User unknown"), "smtp:test")
    assert result.changes == ((ALIAS, None, "dead"),)
    assert "dead" in result.summary()


def plain_failure(verdict: str, *, status: str | None = None) -> bytes:
    """A non-delivery report as older MTAs write it: the recipient and the server's words, with no
    SMTP command named; with ``status``, also a delivery-status part carrying that code."""
    text = (f"I'm sorry to have to inform you that your message could not be delivered to one or more "
            f"recipients.\r\n\r\n<{ALIAS}>: {verdict}\r\n")
    head = ("From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\nTo: orders@shop.example\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n")
    if status is None:
        return (head + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + text).encode()
    return (head + 'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
            f"--b\r\nContent-Type: text/plain\r\n\r\n{text}\r\n--b\r\n"
            "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
            f"Final-Recipient: rfc822; {ALIAS}\r\nAction: failed\r\nStatus: {status}\r\n"
            f"Diagnostic-Code: smtp; {verdict}\r\n\r\n--b--\r\n").encode()


@pytest.mark.parametrize(("verdict", "status"), [
    ("user unknown", None),
    ("550 No such user here", None),
    ("Recipient not found", None),
    ("Benutzer unbekannt", None),
    ("The email account that you tried to reach does not exist.", "5.0.0"),
    ("550 Unknown user", "5.0.0"),
])
async def test_unknown_mailbox_without_a_specific_status_marks_alias_dead(
        service: BounceIngestService, verdict: str, status: str | None) -> None:
    # Sisimai's vocabulary calls these "filtered" (no RCPT named); the words say the alias is gone.
    result = await service.ingest_result(plain_failure(verdict, status=status), "smtp:test")
    assert result.report.kind == "dsn"
    assert [r.address for r in result.report.recipients] == [ALIAS]
    assert result.changes == ((ALIAS, None, "dead"),)
    assert await service.store.alias_status(ALIAS) == "dead"


@pytest.mark.parametrize(("verdict", "status"), [
    # after DATA the address had been accepted: a filter's words (as Japanese carriers write them)
    ("550 Unknown user (in reply to end of DATA command)", None),
    # 5.2.x: the mailbox exists but takes nothing
    ("550 5.2.1 User Unknown", "5.2.1"),
    ("550 Message rejected due to user rules", None),
])
async def test_filtered_recipient_is_not_marked_dead(service: BounceIngestService, verdict: str,
                                                     status: str | None) -> None:
    result = await service.ingest_result(plain_failure(verdict, status=status), "smtp:test")
    assert [r.reason for r in result.report.recipients] == ["filtered"]
    assert result.changes == ()
    assert await service.store.alias_status(ALIAS) is None


async def test_plain_mail_records_nothing(service: BounceIngestService) -> None:
    result = await service.ingest_result(plain_mail(), "smtp:test")
    assert result.outcome == "not-bounce"
    assert await service.store.notices() == []
    assert list(service.store.evidence_dir.iterdir()) == []


async def test_amazon_mail_not_understood_is_held_for_review(service: BounceIngestService) -> None:
    raw = (b"From: Amazon <seller-notification@amazon.de>\r\nTo: orders@shop.example\r\n"
           b"Subject: Wichtige Information\r\nMessage-ID: <n1@amazon.example>\r\n\r\n"
           b"Zu Bestellung 302-4817265-9034712 gibt es eine neue Mitteilung in einer Formulierung,"
           b" die wir noch nicht kennen.\r\n")
    result = await service.ingest_result(raw, "smtp:test")
    assert result.outcome == "unrecognised"
    review = await service.store.unmatched_notices()
    assert [(n.kind, n.order_id) for n in review] == [("unrecognised", ORDER)]
    assert "held for review" in result.summary()


# -- gateway bounce import ---------------------------------------------------------------------------
def gateway_cmd(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


async def test_bounce_import_eml_mbox_and_maildir_records_and_counts(tmp_path: Path) -> None:
    cfg_file = tmp_path / "gateway.toml"
    cfg_file.write_text('[state]\ndirectory = "state"\n', encoding="utf-8")
    store = await SQLiteStore(tmp_path / "state").open()
    await store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [ORDER], set())
    await store.record_relay("Q2", "<m2@shop.example>", [(OTHER, "de")], [], set())
    await store.close()

    eml_dir = tmp_path / "eml"
    eml_dir.mkdir()
    (eml_dir / "optout.eml").write_bytes(optout_notice(ORDER))                      # matched by order
    mbox = mailbox.mbox(tmp_path / "notices.mbox")
    mbox.add(optout_notice("111-1111111-1111111"))                                   # unmatched
    mbox.add(plain_mail())                                                           # not a bounce
    mbox.add(dsn("someone@example.org", "5.1.1", "550 5.1.1 User unknown"))          # unrelated
    mbox.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(optout_notice("999-9999999-9999999", in_reply_to="<m2@shop.example>"))  # by Message-ID
    maildir.add(optout_notice(ORDER))                          # another notice for the same order
    maildir.close()

    done = gateway_cmd("bounce", "import", "--config", str(cfg_file), "--json",
                       str(eml_dir), str(tmp_path / "notices.mbox"), str(tmp_path / "Maildir"))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["messages"] == 6
    assert summary["not_bounce"] == 1
    assert summary["parsed"] == 5
    # optout.eml and the Maildir copy are two different messages for the same order: both match.
    assert (summary["matched"], summary["unmatched"], summary["unrelated"]) == (3, 1, 1)
    assert summary["optout"] == 3

    listed = gateway_cmd("optouts", "list", "--config", str(cfg_file), "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted((r["alias"], r["status"]) for r in json.loads(listed.stdout)) == [
        (ALIAS, "optout"), (OTHER, "optout")]

    again = gateway_cmd("bounce", "import", "--config", str(cfg_file), str(eml_dir / "optout.eml"))
    assert again.returncode == 0, again.stderr
    assert "already recorded: 1" in again.stdout


def test_bounce_import_without_config_or_with_dry_run_records_nothing(tmp_path: Path) -> None:
    (tmp_path / "n.eml").write_bytes(optout_notice(ORDER))
    cfg_file = tmp_path / "gateway.toml"
    cfg_file.write_text('[state]\ndirectory = "state"\n', encoding="utf-8")
    for args in (["--config", str(cfg_file), "--dry-run"], []):
        done = gateway_cmd("bounce", "import", *args, "--json", str(tmp_path / "n.eml"), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["by_kind"] == {"amazon-optout": 1}
        assert "matched" not in summary  # no registry counters: nothing was looked up
        # Not even the state directory (./state by default) is created.
        assert not (tmp_path / "state").exists()
    text = gateway_cmd("bounce", "import", str(tmp_path / "n.eml"), cwd=tmp_path)
    assert "nothing recorded" in text.stdout


async def test_same_notice_arriving_concurrently_is_recorded_once(service: BounceIngestService) -> None:
    await service.store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [ORDER], set())
    raw = optout_notice(ORDER)
    results = await asyncio.gather(*(service.ingest_result(raw, f"source-{i}") for i in range(6)))
    assert sorted(r.outcome for r in results) == ["duplicate"] * 5 + ["matched"]
    assert len(await service.store.notices()) == 1
    files = list(service.store.evidence_dir.iterdir())
    assert [f.read_bytes() for f in files] == [raw]  # one complete file, no temp files left
