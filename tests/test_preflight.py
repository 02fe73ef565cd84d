"""Broken configurations and environments: `gateway config check` names the key, and `gateway serve`
refuses in one JSON line naming it, exit 2, never a traceback (issue 15 item 2, issue 16 item 8).

Each case is fed to both commands as real subprocesses; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.tlsutil import make_self_signed

Setup = Callable[[Path], str]  # writes what the case needs into the folder, returns the TOML


def _base(tmp: Path, extra: str = "", *, admin: bool = False) -> str:
    admin_section = '[admin]\nlisten = "127.0.0.1:0"\n' if admin else "[admin]\nenabled = false\n"
    return (f'[server]\nlisten = "127.0.0.1:0"\n[state]\ndirectory = "{tmp / "state"}"\n'
            f'[log]\nformat = "json"\n{admin_section}{extra}')


def missing_upstream_password(tmp: Path) -> str:
    return _base(tmp, '[upstream]\nhost = "127.0.0.1"\nusername = "u"\npassword_file = "no-such-password"\n')


def missing_admin_token(tmp: Path) -> str:
    return _base(tmp).replace("[admin]\nenabled = false\n", '[admin]\nlisten = "127.0.0.1:0"\n'
                                                            'token_file = "no-such-token"\n')


def empty_admin_token(tmp: Path) -> str:
    (tmp / "token").write_text("\n")
    return _base(tmp).replace("[admin]\nenabled = false\n", '[admin]\nlisten = "127.0.0.1:0"\n'
                                                            'token_file = "token"\n')


def missing_credentials(tmp: Path) -> str:
    return _base(tmp, '[auth]\ncredentials_file = "no-such-credentials"\n')


def garbled_credentials(tmp: Path) -> str:
    (tmp / "credentials").write_text("alice plain-text-password\n")
    return _base(tmp, '[auth]\ncredentials_file = "credentials"\n')


def admin_on_the_smtp_port(tmp: Path) -> str:
    return _base(tmp).replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:2599"', 1).replace(
        "[admin]\nenabled = false\n", '[admin]\nlisten = "0.0.0.0:2599"\n')


def bounces_on_the_smtp_port(tmp: Path) -> str:
    return _base(tmp, '[bounces]\nlisten = "127.0.0.1:2599"\n').replace(
        'listen = "127.0.0.1:0"', 'listen = "127.0.0.1:2599"', 1)


def implicit_tls_without_tls(tmp: Path) -> str:
    return _base(tmp).replace('listen = "127.0.0.1:0"\n', 'listen = "127.0.0.1:0"\n'
                                                         'implicit_tls_listen = "127.0.0.1:0"\n', 1)


def missing_packs_dir(tmp: Path) -> str:
    return _base(tmp, '[policy]\npacks_dir = "no-such-packs"\n')


def missing_local_packs_dir(tmp: Path) -> str:
    return _base(tmp, '[policy]\nlocal_packs_dir = "no-such-local-packs"\n')


def broken_local_pack(tmp: Path) -> str:
    (tmp / "local").mkdir()
    (tmp / "local" / "mine.toml").write_text('[[rules]]\nid = "Not A Valid Id"\naction = "reject"\n')
    return _base(tmp, '[policy]\nlocal_packs_dir = "local"\n')


def unknown_tld(tmp: Path) -> str:
    return _base(tmp, '[marketplace]\ntlds = ["de", "xx"]\n')


def incomplete_bounce_wording(tmp: Path) -> str:
    (tmp / "wording").mkdir()
    (tmp / "wording" / "amazon.toml").write_text("")
    return _base(tmp, '[bounces]\nwording_dir = "wording"\n')


def garbage_certificate(tmp: Path) -> str:
    (tmp / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    (tmp / "key.pem").write_text("not a key\n")
    return _base(tmp, '[tls]\ncert_file = "cert.pem"\nkey_file = "key.pem"\n')


def missing_dkim_key(tmp: Path) -> str:
    return _base(tmp, '[[dkim.keys]]\ndomain = "shop.example"\nselector = "s1"\nkey_file = "no-such-key.pem"\n')


def garbage_dkim_key(tmp: Path) -> str:
    (tmp / "dkim.pem").write_text("not a key\n")
    return _base(tmp, '[[dkim.keys]]\ndomain = "shop.example"\nselector = "s1"\nkey_file = "dkim.pem"\n')


def state_dir_is_a_file(tmp: Path) -> str:
    (tmp / "state").write_text("oops")
    return _base(tmp)


CONFIG_CASES: dict[str, tuple[Setup, str]] = {
    "missing upstream password_file": (missing_upstream_password, "upstream.password_file"),
    "missing admin token_file": (missing_admin_token, "admin.token_file"),
    "empty admin token_file": (empty_admin_token, "admin.token_file"),
    "missing credentials_file": (missing_credentials, "auth.credentials_file"),
    "garbled credentials_file": (garbled_credentials, "auth.credentials_file"),
    "admin on the SMTP port": (admin_on_the_smtp_port, "admin.listen"),
    "bounce listener on the SMTP port": (bounces_on_the_smtp_port, "bounces.listen"),
    "implicit_tls_listen without [tls]": (implicit_tls_without_tls, "server.implicit_tls_listen"),
    "missing packs_dir": (missing_packs_dir, "policy.packs_dir"),
    "missing local_packs_dir": (missing_local_packs_dir, "policy.local_packs_dir"),
    "broken local pack": (broken_local_pack, "policy.local_packs_dir"),
    "unknown marketplace tld": (unknown_tld, "marketplace.tlds"),
    "incomplete bounce wording": (incomplete_bounce_wording, "bounces.wording_dir"),
    "garbage certificate": (garbage_certificate, "tls.cert_file"),
    "state directory is a file": (state_dir_is_a_file, "state.directory"),
    "missing DKIM key": (missing_dkim_key, "dkim.keys[0].key_file"),
    "garbage DKIM key": (garbage_dkim_key, "dkim.keys[0].key_file"),
}


def gateway(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False, timeout=60, stdin=subprocess.DEVNULL)


def assert_refused(done: subprocess.CompletedProcess[str], key: str) -> None:
    """Exit 2, no traceback, every stderr line a JSON object, a startup_refused line naming ``key``."""
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # raises on a plain-text line
    refused = [e for e in events if e["event"] == "startup_refused"]
    assert refused, events
    assert key in [e["key"] for e in refused], refused
    assert all(key in e["error"] or e["key"] == key for e in refused)


def config_check(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`gateway config check` in this process (it only reads): exit code and stderr."""
    from gateway.cli import main

    code = main(["config", "check", str(config)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_check_and_serve_name_the_key(case: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    setup, key = CONFIG_CASES[case]
    config = tmp_path / "gateway.toml"
    config.write_text(setup(tmp_path))
    code, err = config_check(config, capsys)
    assert code == 1, err
    assert f"  {key}" in err, err
    assert_refused(gateway("serve", "--config", str(config), cwd=tmp_path), key)


def test_a_good_config_passes_the_check(tmp_path: Path) -> None:
    pair = make_self_signed(tmp_path)
    (tmp_path / "token").write_text("a-token-of-sufficient-length\n")
    config = tmp_path / "gateway.toml"
    config.write_text(_base(tmp_path, f'[tls]\ncert_file = "{pair.cert_file}"\nkey_file = "{pair.key_file}"\n')
                      .replace("[admin]\nenabled = false\n", '[admin]\nlisten = "127.0.0.1:0"\ntoken_file = "token"\n'))
    done = gateway("config", "check", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout


def test_port_taken_by_another_process(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = tmp_path / "gateway.toml"
        config.write_text(_base(tmp_path).replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"', 1))
        assert_refused(gateway("serve", "--config", str(config), cwd=tmp_path), "server.listen")


def test_corrupt_spool_is_refused_in_one_line(tmp_path: Path) -> None:
    spool = tmp_path / "state" / "spool"
    spool.mkdir(parents=True)
    (spool / "spool.sqlite3").write_bytes(b"this is not a database" * 500)
    config = tmp_path / "gateway.toml"
    config.write_text(_base(tmp_path))
    assert_refused(gateway("serve", "--config", str(config), cwd=tmp_path), "state.directory")


def test_truncated_state_database_is_refused_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(_base(tmp_path))
    state = tmp_path / "state"
    state.mkdir()
    # A real gateway.db, cut short after its header page (as a full disk or a bad copy leaves it).
    import sqlite3

    db = state / "gateway.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE filler (x BLOB)")
    conn.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(4000),) for _ in range(50)])
    conn.commit()
    conn.close()
    with db.open("r+b") as f:
        f.truncate(6000)
    assert_refused(gateway("serve", "--config", str(config), cwd=tmp_path), "state.directory")


def _can_switch_to(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return os.geteuid() == 0


@pytest.mark.skipif(not _can_switch_to("nobody"), reason="needs root and the user nobody")
def test_as_user_finds_files_the_service_user_cannot_read(tmp_path: Path) -> None:
    secret = tmp_path / "credentials"
    secret.write_text("alice:$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\n")
    secret.chmod(0o600)  # root's own: the service user cannot read it
    token = tmp_path / "token"
    token.write_text("a-token-of-sufficient-length\n")
    token.chmod(0o600)
    config = tmp_path / "gateway.toml"
    config.write_text(_base(tmp_path, '[auth]\ncredentials_file = "credentials"\n').replace(
        "[admin]\nenabled = false\n", '[admin]\nlisten = "127.0.0.1:0"\ntoken_file = "token"\n'))
    assert gateway("config", "check", str(config), cwd=tmp_path).returncode == 0  # root reads both
    done = gateway("config", "check", "--as-user", "nobody", str(config), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "auth.credentials_file: as nobody:" in done.stderr
    assert "admin.token_file: as nobody:" in done.stderr


def test_bounce_import_with_a_missing_wording_dir_says_so(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(_base(tmp_path, '[bounces]\nwording_dir = "nowhere"\n'))
    notice = REPO_ROOT / "tests/bounces/data/amazon-optout-en.eml"
    done = gateway("bounce", "import", "--config", str(config), "--dry-run", str(notice), cwd=tmp_path)
    assert done.returncode == 2
    assert "bounces.wording_dir" in done.stderr and str(tmp_path / "nowhere") in done.stderr


def test_full_state_disk_is_never_a_traceback(tmp_path: Path, small_fs: Path) -> None:
    """A state file system with no space left: serve either starts (and drains, issue 16 item 1)
    or refuses in one line naming the state, exit 2; it never dies with a traceback."""
    config = tmp_path / "gateway.toml"
    config.write_text(_base(small_fs))
    (small_fs / "filler").write_bytes(b"\0" * (1024 * 1024))  # tmpfs stops it at its 1 MB
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)], cwd=tmp_path,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    events = []
    for line in proc.stderr:
        events.append(json.loads(line))  # every line JSON, a traceback included would fail here
        if events[-1]["event"] in ("gateway_started", "startup_refused"):
            break
    if events and events[-1]["event"] == "gateway_started":
        proc.terminate()
    _, rest = proc.communicate(timeout=60)
    events += [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert "Traceback" not in rest
    refused = [e for e in events if e["event"] == "startup_refused"]
    if refused:
        assert proc.returncode == 2 and refused[0]["key"] == "state.directory", refused
    else:
        assert proc.returncode == 0, events
