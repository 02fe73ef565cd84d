"""`gateway policy test|list`."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main


def test_policy_test_passes_on_shipped_packs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test"]) == 0
    out = capsys.readouterr().out
    assert "examples passed" in out
    assert "FAIL" not in out


def test_policy_test_fails_on_a_wrong_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local = tmp_path / "local"
    (local / "examples").mkdir(parents=True)
    (local / "examples" / "plain.eml").write_bytes(
        b"To: b7d3kq9xz2m4np5@marketplace.amazon.de\r\nSubject: 302-4817265-9034712\r\n\r\nNothing here.\r\n"
    )
    (local / "extra.toml").write_text(
        """
[[rules]]
id = "local-word"
description = "d"
action = "reject"
reason = "r"
examples = { hit = ["plain.eml"] }
[[rules.match]]
type = "phrases"
phrases.en = ["forbidden word"]
""",
        encoding="utf-8",
    )
    config = tmp_path / "gw.toml"
    config.write_text('[policy]\nlocal_packs_dir = "local"\n', encoding="utf-8")
    assert main(["policy", "test", "--config", str(config)]) == 1
    assert "FAIL local-word" in capsys.readouterr().out


def test_policy_list_shows_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "list"]) == 0
    out = capsys.readouterr().out
    assert "critical-keyword-missing" in out
    assert "score 3" in out
