"""``gateway optouts`` run as the admin runs it: a subprocess against a state directory."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.bounces.messages import optout_notice
from tests.conftest import REPO_ROOT

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
DEAD = "zxcvbnmlkjhgfds@marketplace.amazon.co.uk"
ORDER = "302-4817265-9034712"


def config_file(tmp_path: Path, name: str = "state") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[state]\ndirectory = "{name}"\n', encoding="utf-8")
    return path


def optouts(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "gateway", "optouts", *args, "--config", str(cfg)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def listed(cfg: Path) -> list[dict[str, str]]:
    done = optouts(cfg, "list", "--json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, str]] = json.loads(done.stdout)
    return rows


def test_add_list_remove_with_audit(tmp_path: Path) -> None:
    cfg = config_file(tmp_path)
    done = optouts(cfg, "add", "BCDFGHJKLMNPQRS+thread1@marketplace.amazon.de", "--order", ORDER,
                   "--reason", "buyer asked by phone", "--actor", "alice")
    assert done.returncode == 0, done.stderr
    assert optouts(cfg, "add", DEAD, "--status", "dead").returncode == 0
    rows = {r["alias"]: r for r in listed(cfg)}
    assert set(rows) == {ALIAS, DEAD}  # the +token is not part of the alias
    assert (rows[ALIAS]["status"], rows[ALIAS]["marketplace"], rows[ALIAS]["order_id"]) == ("optout", "de", ORDER)
    assert rows[ALIAS]["evidence"] == "manual entry by alice: buyer asked by phone"
    assert rows[DEAD]["marketplace"] == "co.uk"
    assert [r["alias"] for r in json.loads(optouts(cfg, "list", "--json", "--status", "dead").stdout)] == [DEAD]

    text = optouts(cfg, "list")
    assert ALIAS in text.stdout and "optout" in text.stdout

    assert optouts(cfg, "remove", ALIAS, "--reason", "wrong buyer", "--actor", "bob").returncode == 0
    assert [r["alias"] for r in listed(cfg)] == [DEAD]
    again = optouts(cfg, "remove", ALIAS)
    assert again.returncode == 1 and "not registered" in again.stderr

    with sqlite3.connect(tmp_path / "state" / "gateway.db") as db:
        audit = db.execute("SELECT actor, action, object FROM audit ORDER BY id").fetchall()
    assert ("alice", "optout-add", ALIAS) in audit
    assert ("bob", "optout-remove", ALIAS) in audit


def test_add_refuses_an_address_that_is_not_an_alias(tmp_path: Path) -> None:
    cfg = config_file(tmp_path)
    done = optouts(cfg, "add", "buyer@example.org")
    assert done.returncode == 2
    assert "not a marketplace buyer alias" in done.stderr
    assert listed(cfg) == []


def test_csv_and_json_export_import_round_trip(tmp_path: Path) -> None:
    source = config_file(tmp_path, "source")
    assert optouts(source, "add", ALIAS, "--order", ORDER).returncode == 0
    assert optouts(source, "add", DEAD, "--status", "dead", "--reason", 'said "gone", twice').returncode == 0
    for fmt in ("csv", "json"):
        exported = tmp_path / f"registry.{fmt}"
        done = optouts(source, "export", "--format", fmt, "--output", str(exported))
        assert done.returncode == 0, done.stderr
        target = config_file(tmp_path, f"target-{fmt}")
        done = optouts(target, "import", str(exported))
        assert done.returncode == 0, done.stderr
        assert "2 aliases imported" in done.stdout
        assert listed(target) == listed(source)
        # Exporting the imported registry gives the same bytes: nothing lost, nothing reformatted.
        again = optouts(target, "export", "--format", fmt)
        assert again.stdout == exported.read_text(encoding="utf-8")

    rows = list(csv.DictReader(io.StringIO((tmp_path / "registry.csv").read_text(encoding="utf-8"))))
    assert [r["alias"] for r in rows] == sorted([ALIAS, DEAD])
    assert rows[0]["first_seen"].endswith("+00:00")


def test_import_merges_keeping_first_seen_and_newest_status(tmp_path: Path) -> None:
    cfg = config_file(tmp_path)
    assert optouts(cfg, "add", ALIAS).returncode == 0
    [current] = listed(cfg)
    older = tmp_path / "older.csv"
    older.write_text("alias,status,first_seen,last_seen\n"
                     f"{ALIAS},dead,2020-01-01T00:00:00+00:00,2020-02-01T00:00:00+00:00\n", encoding="utf-8")
    assert optouts(cfg, "import", str(older)).returncode == 0
    [merged] = listed(cfg)
    assert merged["first_seen"] == "2020-01-01T00:00:00+00:00"
    assert (merged["status"], merged["last_seen"]) == ("optout", current["last_seen"])


def test_import_with_a_bad_entry_imports_nothing(tmp_path: Path) -> None:
    cfg = config_file(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"alias": ALIAS, "status": "optout"},
                               {"alias": DEAD, "status": "maybe"},
                               {"alias": "someone@example.org"}]), encoding="utf-8")
    done = optouts(cfg, "import", str(bad))
    assert done.returncode == 2
    assert "entry 2" in done.stderr and "entry 3" in done.stderr
    assert listed(cfg) == []


def test_review_and_assign_an_unmatched_notice(tmp_path: Path) -> None:
    cfg = config_file(tmp_path)
    notice = tmp_path / "notice.eml"
    notice.write_bytes(optout_notice(ORDER))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    imported = subprocess.run([sys.executable, "-m", "gateway", "bounce", "import", "--config", str(cfg),
                               str(notice)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
    assert imported.returncode == 0, imported.stderr
    assert "unmatched: 1" in imported.stdout

    review = optouts(cfg, "review", "--json")
    [pending] = json.loads(review.stdout)
    assert (pending["kind"], pending["order_id"]) == ("amazon-optout", ORDER)
    assert ORDER in optouts(cfg, "review").stdout

    done = optouts(cfg, "assign", str(pending["id"]), ALIAS, "--actor", "carol")
    assert done.returncode == 0, done.stderr
    assert f"{ALIAS}: optout" in done.stdout
    [row] = listed(cfg)
    assert (row["alias"], row["status"], row["order_id"]) == (ALIAS, "optout", ORDER)
    assert json.loads(optouts(cfg, "review", "--json").stdout) == []

    shown = optouts(cfg, "show", ALIAS, "--json")
    assert shown.returncode == 0
    detail = json.loads(shown.stdout)
    assert Path(detail["evidence_file"]).read_bytes() == notice.read_bytes()
    assert [n["matched_by"] for n in detail["notices"]] == ["admin"]

    missing = optouts(cfg, "assign", "999", ALIAS)
    assert missing.returncode == 2 and "no notice #999" in missing.stderr


def test_tenants_have_separate_registries(tmp_path: Path) -> None:
    cfg = tmp_path / "tenants.toml"
    cfg.write_text('[state]\ndirectory = "state"\n\n[[tenants]]\nid = "shop-a"\nsender_domains = ["a.example"]\n'
                   '\n[[tenants]]\nid = "shop-b"\nsender_domains = ["b.example"]\n', encoding="utf-8")
    assert optouts(cfg, "add", ALIAS, "--tenant", "shop-a").returncode == 0
    assert optouts(cfg, "add", DEAD, "--status", "dead").returncode == 0  # the implicit tenant
    rows = json.loads(optouts(cfg, "list", "--json").stdout)
    assert sorted((r["tenant"], r["alias"]) for r in rows) == [("", DEAD), ("shop-a", ALIAS)]
    assert json.loads(optouts(cfg, "list", "--json", "--tenant", "shop-b").stdout) == []
    assert "shop-a" in optouts(cfg, "list").stdout  # a TENANT column once tenants are in use

    exported = optouts(cfg, "export", "--format", "csv")
    other = tmp_path / "other.toml"
    other.write_text(cfg.read_text(encoding="utf-8").replace('directory = "state"', 'directory = "other"'),
                     encoding="utf-8")
    (tmp_path / "registry.csv").write_text(exported.stdout, encoding="utf-8")
    assert optouts(other, "import", str(tmp_path / "registry.csv")).returncode == 0
    assert json.loads(optouts(other, "list", "--json").stdout) == rows

    unknown = optouts(cfg, "add", ALIAS, "--tenant", "shop-z")
    assert unknown.returncode == 2 and "no tenant 'shop-z'" in unknown.stderr
    assert optouts(cfg, "remove", ALIAS).returncode == 1  # not in the implicit tenant's registry
    assert optouts(cfg, "remove", ALIAS, "--tenant", "shop-a").returncode == 0


def test_log_lines_of_any_command_go_to_stderr(tmp_path: Path) -> None:
    # The optouts commands read their configuration themselves (no logging set-up of their own): a
    # structlog line from such a command, here one logged after the command ran in the same
    # process, must land on stderr, so --json leaves one JSON document on stdout.
    cfg = config_file(tmp_path)
    assert optouts(cfg, "add", ALIAS).returncode == 0
    script = ("import sys\nfrom gateway.cli import main\nfrom gateway.log import get_logger\n"
              "code = main(sys.argv[1:])\nget_logger('probe').warning('probe_line', code=code)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    commands = (["optouts", "list", "--json"], ["optouts", "show", ALIAS, "--json"], ["optouts", "review", "--json"])
    for command in commands:
        done = subprocess.run([sys.executable, "-c", script, *command, "--config", str(cfg)], cwd=REPO_ROOT,
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        json.loads(done.stdout)  # one JSON document, nothing else
        assert "probe_line" in done.stderr and "probe_line" not in done.stdout
