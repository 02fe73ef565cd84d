"""`gateway auth add-user/remove-user` writes a file that the gateway's Credentials accept."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from gateway.auth import Credentials

ROOT = Path(__file__).resolve().parents[2]


def gateway(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", "auth", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=False)


def test_add_change_and_remove_users(tmp_path: Path) -> None:
    creds = tmp_path / "users"
    assert gateway("add-user", "--file", str(creds), "--password-stdin", "erp", stdin="s3cret-pass\n").returncode == 0
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert gateway("add-user", "--file", str(creds), "--password-stdin", "alice", stdin="alice-pass\n").returncode == 0
    loaded = Credentials.load(creds)
    assert set(loaded.users) == {"erp", "alice"}
    assert loaded.verify_sync("erp", "s3cret-pass") and not loaded.verify_sync("erp", "alice-pass")
    creds.chmod(0o640)
    result = gateway("add-user", "--file", str(creds), "--password-stdin", "erp", stdin="new-password\n")
    assert result.returncode == 0 and "updated erp" in result.stdout
    assert stat.S_IMODE(creds.stat().st_mode) == 0o640  # an admin's chosen mode is kept
    loaded = Credentials.load(creds)
    assert len(loaded.users) == 2 and loaded.verify_sync("erp", "new-password")
    assert gateway("remove-user", "--file", str(creds), "erp").returncode == 0
    assert set(Credentials.load(creds).users) == {"alice"}
    assert gateway("remove-user", "--file", str(creds), "erp").returncode == 1


def test_refuses_bad_names_short_passwords_and_broken_files(tmp_path: Path) -> None:
    creds = tmp_path / "users"
    assert gateway("add-user", "--file", str(creds), "--password-stdin", "a:b", stdin="long-enough\n").returncode == 2
    assert gateway("add-user", "--file", str(creds), "--password-stdin", "erp", stdin="short\n").returncode == 1
    assert not creds.exists()
    creds.write_text("erp:not-a-hash\n")
    result = gateway("add-user", "--file", str(creds), "--password-stdin", "bob", stdin="long-enough\n")
    assert result.returncode == 1 and "expected 'user:$argon2" in result.stderr
    assert creds.read_text() == "erp:not-a-hash\n"
