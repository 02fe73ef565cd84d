"""The ``[bounces.imap]`` configuration section: validated like every other section."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_imap_section_defaults_and_password_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "imap.secret").write_text("s3cret\n", encoding="utf-8")
    cfg = load_config(write(tmp_path, '[bounces.imap]\nhost = "imap.example.org"\nusername = "notices"\n'
                                      'password_file = "imap.secret"\n'))
    [imap] = cfg.bounces.imap
    assert (imap.effective_port, imap.tls, imap.folder, imap.processed_action) == (993, "implicit", "INBOX", "move")
    assert imap.password_file == tmp_path / "imap.secret"
    assert imap.resolved_password() == "s3cret"
    assert "s3cret" not in repr(imap)


def test_starttls_default_port_is_143(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[bounces.imap]\nhost = "h"\nusername = "u"\npassword = "p"\n'
                                      'tls = "starttls"\n'))
    assert [m.effective_port for m in cfg.bounces.imap] == [143]


@pytest.mark.parametrize(("body", "message"), [
    ('host = "h"\nusername = "u"\n', "exactly one of password or password_file"),
    ('host = "h"\nusername = "u"\npassword = "p"\npassword_file = "f"\n', "exactly one of password"),
    ('host = "h"\nusername = "u"\npassword = "p"\nprocessed_action = "delete"\n', "processed_action"),
    ('host = "h"\nusername = "u"\npassword = "p"\nprocessed_action = "flag"\nprocessed_flag = "a b"\n',
     "not an IMAP keyword"),
    ('host = "h"\nusername = "u"\npassword = "p"\nfolders = "x"\n', "bounces.imap.0.folders: unknown key"),
    ('username = "u"\npassword = "p"\n', "bounces.imap.0.host"),
    ('host = "h"\nusername = "u"\npassword = "p"\ntenant = "nobody"\n', "no tenant 'nobody'"),
])
def test_bad_imap_settings_are_refused_naming_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "[bounces.imap]\n" + body))
    assert message in "; ".join(err.value.errors)


def test_one_mailbox_per_tenant(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
[[tenants]]
id = "shop-a"
sender_domains = ["shop-a.example"]

[[bounces.imap]]
host = "imap.example.org"
username = "notices"
password_file = "a.secret"

[[bounces.imap]]
host = "imap.example.org"
username = "shop-a-notices"
password = "p"
tenant = "shop-a"
"""))
    assert [(m.username, m.tenant) for m in cfg.bounces.imap] == [("notices", ""), ("shop-a-notices", "shop-a")]
    assert cfg.bounces.imap[0].password_file == tmp_path / "a.secret"
