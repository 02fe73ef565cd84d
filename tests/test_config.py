from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, GatewayConfig, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_quickstart_ones() -> None:
    cfg = GatewayConfig()
    assert cfg.server.listen_address == ("127.0.0.1", 2525)
    assert cfg.upstream.host is None
    assert cfg.outbox_dir == Path("state") / "outbox"
    assert cfg.server.max_message_size == 20 * 1024 * 1024
    assert cfg.server.max_recipients == 100
    assert "co.jp" in cfg.marketplace.tlds and "com.mx" in cfg.marketplace.tlds


def test_unknown_key_is_an_error_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nlisten = '127.0.0.1:25'\nmax_recipient = 5\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == ["server.max_recipient: unknown key"]


def test_bad_value_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nmax_recipients = 0\n[upstream]\ntls = 'sometimes'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    keys = sorted(e.split(":")[0] for e in info.value.errors)
    assert keys == ["server.max_recipients", "upstream.tls"]


def test_bad_network_and_listen(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nallowed_networks = ['10.0.0.0/33']\nlisten = 'nohostport'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = " ".join(info.value.errors)
    assert "server.allowed_networks" in text and "server.listen" in text


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[state]\ndirectory = 'var'\n[tls]\ncert_file = 'c.pem'\nkey_file = 'k.pem'\n")
    cfg = load_config(path)
    assert cfg.state_dir == tmp_path.resolve() / "var"
    assert cfg.tls.cert_file == tmp_path.resolve() / "c.pem"


def test_tls_pair_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cert_file and key_file"):
        load_config(write(tmp_path, "[tls]\ncert_file = 'c.pem'\n"))


def test_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[server\n"))


def test_config_check_command(tmp_path: Path) -> None:
    good = write(tmp_path, "[server]\nlisten = '127.0.0.1:2626'\n")
    ok = subprocess.run([sys.executable, "-m", "gateway", "config", "check", str(good)],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[upstream]\nport = 70000\nfoo = 1\n")
    res = subprocess.run([sys.executable, "-m", "gateway", "config", "check", str(bad)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 1
    assert "upstream.port" in res.stderr and "upstream.foo: unknown key" in res.stderr
