"""`gateway check`: the JSON contract other tools depend on, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.policy.mail import ALIAS_DE, ORDER, message

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "check", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_json_contract_exact_keys_and_types(tmp_path: Path) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(message(f"Lieferadresse {ORDER}", f"Die Lieferadresse zu {ORDER} ist unvollständig."))
    proc = run(str(eml), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    # The original contract; later fields are additions (language and purpose from issue 13, the
    # pipeline's stages: see test_json_says_which_stages_decided).
    assert {"action", "subject", "critical", "reply", "marketplace", "hits"} <= set(data)
    assert data["language"] in ("de", None)
    assert data["purpose"] is None or isinstance(data["purpose"], str)
    assert data["action"] == "rewrite"
    assert data["subject"] == f"[Wichtig] Lieferadresse {ORDER}"
    assert data["critical"] is True
    assert data["reply"] is False
    assert data["marketplace"] == "de"
    assert data["hits"]
    for hit in data["hits"]:
        assert set(hit) == {"rule", "action", "reason", "evidence"}
        assert all(isinstance(v, str) for v in hit.values())
        assert hit["action"] in {"relay", "rewrite", "quarantine", "reject"}


def test_rcpt_overrides_header_recipients(tmp_path: Path) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(
        message(f"Liefertermin {ORDER}", f"Welcher Liefertermin passt für {ORDER}?", to="x@example.com")
    )
    plain = json.loads(run(str(eml), "--json").stdout)
    assert plain["marketplace"] is None
    assert plain["action"] == "relay"
    assert plain["hits"] == []
    fr = json.loads(run(str(eml), "--json", "--rcpt", "h4pzt9mkr3b8xvd@marketplace.amazon.fr").stdout)
    assert fr["marketplace"] == "fr"
    assert fr["subject"].startswith("[Important] ")


def test_readable_output_and_stdin(tmp_path: Path) -> None:
    proc = run("-", stdin=message(f"Bestellung {ORDER}", f"Zu {ORDER}: Gutscheincode SPAR10.", to=ALIAS_DE))
    assert proc.returncode == 0
    out = proc.stdout.decode()
    assert "Action:      reject" in out
    assert "promotion-discount" in out
    assert "evidence:" in out


def test_unreadable_input_exits_2_with_message(tmp_path: Path) -> None:
    proc = run(str(tmp_path / "missing.eml"), "--json")
    assert proc.returncode == 2
    assert b"cannot read" in proc.stderr
    assert proc.stdout == b""
    proc = run(str(tmp_path), "--json")  # a directory
    assert proc.returncode == 2


def test_garbage_input_still_gets_a_verdict(tmp_path: Path) -> None:
    eml = tmp_path / "junk.eml"
    eml.write_bytes(b"\x00\xff\xfe" * 1000)
    proc = run(str(eml), "--json", "--rcpt", ALIAS_DE)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["action"] in {"relay", "rewrite", "quarantine", "reject"}


def test_config_file_is_used_and_bad_packs_exit_1(tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "off.toml").write_text('disable = ["order-id-missing"]\n', encoding="utf-8")
    config = tmp_path / "gateway.toml"
    config.write_text('[policy]\nlocal_packs_dir = "local"\n', encoding="utf-8")
    eml = tmp_path / "m.eml"
    eml.write_bytes(message("Ihre Rechnung", "Anbei die Rechnung."))
    assert json.loads(run(str(eml), "--json").stdout)["action"] == "quarantine"
    assert json.loads(run(str(eml), "--json", "--config", str(config)).stdout)["action"] == "relay"
    (local / "off.toml").write_text('disable = ["no-such-rule"]\n', encoding="utf-8")
    proc = run(str(eml), "--json", "--config", str(config))
    assert proc.returncode == 1
    assert b"off.toml" in proc.stderr
    assert b"no-such-rule" in proc.stderr


def test_a_timed_out_evaluation_still_prints_only_json(tmp_path: Path) -> None:
    """Log lines go to stderr: stdout is the one JSON object, also when the evaluation timed out."""
    config = tmp_path / "gateway.toml"
    config.write_text(f'[state]\ndirectory = "{tmp_path / "state"}"\n'
                      '[policy]\nevaluation_timeout = 0.000001\n', encoding="utf-8")
    eml = tmp_path / "m.eml"
    eml.write_bytes(message(f"Lieferadresse {ORDER}", f"Die Lieferadresse zu {ORDER} ist unvollständig."))
    proc = run(str(eml), "--json", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["outcome"], data["cause"]) == ("deferred", "timeout")
    assert data["smtp_reply"].startswith("451")
    assert b"policy_timeout" in proc.stderr
