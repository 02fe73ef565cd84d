"""The `gateway bounce` command contract, run as other tools run it: a subprocess."""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
from pathlib import Path

from tests.bounces.conftest import DATA

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", "bounce", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)


def assert_contract(data: dict[str, object]) -> None:
    assert {"kind", "order_id", "marketplace", "recipients"} <= data.keys()
    assert data["kind"] in ("amazon-optout", "amazon-notice", "dsn", "not-bounce")
    assert data["order_id"] is None or isinstance(data["order_id"], str)
    assert data["marketplace"] is None or isinstance(data["marketplace"], str)
    assert isinstance(data["recipients"], list)
    for r in data["recipients"]:
        assert isinstance(r, dict)
        assert {"address", "reason", "status"} <= r.keys()
        assert all(isinstance(r[k], str) for k in ("address", "reason", "status"))


def test_parse_json_amazon_optout() -> None:
    proc = run("parse", str(DATA / "amazon-optout-ja.eml"), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert_contract(data)
    assert (data["kind"], data["order_id"], data["marketplace"]) == ("amazon-optout", "503-1111111-2222222",
                                                                     "co.jp")
    assert len(proc.stdout.strip().splitlines()) == 1


def test_parse_json_dsn(corpus: Path) -> None:
    proc = run("parse", str(corpus / "lhost-postfix-01.eml"), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert_contract(data)
    assert data["kind"] == "dsn"
    assert data["recipients"][0]["address"] == "r@p351355.pool.example.ne.jp"


def test_parse_not_bounce_exits_zero(corpus: Path) -> None:
    proc = run("parse", str(corpus / "not-bounce" / "is-not-bounce-01.eml"), "--json")
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert_contract(data)
    assert (data["kind"], data["recipients"]) == ("not-bounce", [])


def test_parse_unreadable_exits_two(tmp_path: Path) -> None:
    proc = run("parse", str(tmp_path / "missing.eml"), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "cannot read" in proc.stderr


def test_parse_readable_summary() -> None:
    proc = run("parse", str(DATA / "amazon-policy-en.eml"))
    assert proc.returncode == 0
    assert "amazon-notice (policy)" in proc.stdout
    assert "bcdf9ghjk2lmnpq@marketplace.amazon.co.uk" in proc.stdout


def _messages() -> list[bytes]:
    return [(DATA / "amazon-optout-en.eml").read_bytes(), (DATA / "amazon-policy-en.eml").read_bytes(),
            b"From: a@example.org\nTo: b@example.org\nSubject: hello\n\nhi\n"]


def test_import_mbox_and_maildir(tmp_path: Path) -> None:
    mbox = mailbox.mbox(tmp_path / "bounces.mbox")
    for raw in _messages():
        mbox.add(raw)
    mbox.close()
    md = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for raw in _messages():
        md.add(raw)
    eml = tmp_path / "single.eml"
    eml.write_bytes((DATA / "amazon-optout-fr.eml").read_bytes())

    proc = run("import", str(tmp_path / "bounces.mbox"), str(tmp_path / "Maildir"), str(eml), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["messages"] == 7
    assert summary["parsed"] == 5
    assert summary["not_bounce"] == 2
    assert summary["by_kind"] == {"amazon-notice": 2, "amazon-optout": 3, "not-bounce": 2}
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal


def test_import_readable_summary_and_missing_path(tmp_path: Path) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes((DATA / "amazon-optout-en.eml").read_bytes())
    proc = run("import", str(eml), str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert "no such file or folder" in proc.stderr
    assert "parsed: 1" in proc.stdout
    assert "amazon-optout 1" in proc.stdout
