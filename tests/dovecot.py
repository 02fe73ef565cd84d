"""A private Dovecot IMAP server for tests: own config, ports, TLS certificate, passwd file and Maildir.

Started as ``dovecot -F -c CONF`` (foreground) and stopped after the test. As an ordinary user the
current user runs every Dovecot process. As root Dovecot refuses to run its login process as root,
so the packaged ``dovecot``/``dovenull`` users run those, and everything lives in a private
world-traversable temporary folder (pytest's tmp_path is 0700 and unreachable for them) that is
removed afterwards. ``DOVECOT`` is None when the binary is not installed; tests then skip.
"""

from __future__ import annotations

import contextlib
import getpass
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.tlsutil import CertPair, make_self_signed

DOVECOT = shutil.which("dovecot") or next(
    (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None)

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/lib
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    user = {user}
  }}
  unix_listener stats-writer {{
    user = {user}
  }}
}}
"""


@dataclass(frozen=True)
class DovecotServer:
    root: Path
    imap_port: int
    imaps_port: int
    cert: CertPair
    username: str
    password: str

    def maildir(self, folder: str = "INBOX") -> Path:
        base = self.root / "mail" / self.username
        return base if folder == "INBOX" else base / f".{folder}"

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_greeting(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dovecot exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            if s.recv(100).startswith(b"* OK"):
                return
        time.sleep(0.05)
    raise RuntimeError("dovecot did not greet in time")


def _users() -> tuple[str, str, str]:
    """(internal user, its group, login user)."""
    if os.getuid() != 0:
        me = getpass.getuser()
        return me, grp.getgrgid(os.getgid()).gr_name, me
    try:
        pwd.getpwnam("dovecot")
        pwd.getpwnam("dovenull")
        group = grp.getgrgid(pwd.getpwnam("dovecot").pw_gid).gr_name
    except KeyError:
        raise RuntimeError("running as root needs the packaged 'dovecot' and 'dovenull' users") from None
    return "dovecot", group, "dovenull"


@contextlib.contextmanager
def run_dovecot(username: str = "notices", password: str = "s3cret-pass") -> Iterator[DovecotServer]:
    assert DOVECOT is not None
    root = Path(tempfile.mkdtemp(prefix="gw-dovecot-"))
    root.chmod(0o755)
    try:
        with _run(root, username, password) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _run(root: Path, username: str, password: str) -> Iterator[DovecotServer]:
    internal_user, internal_group, login_user = _users()
    for sub in ("run", "lib", "mail", "home"):
        (root / sub).mkdir(exist_ok=True)
    cert = make_self_signed(root / "tls")
    (root / "passwd").write_text(f"{username}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
    server = DovecotServer(root, free_port(), free_port(), cert, username, password)
    # Mail is never accessed as root (Dovecot refuses uid 0): as root, as the internal user.
    owner = pwd.getpwnam(internal_user)
    mail_uid, mail_gid = (owner.pw_uid, owner.pw_gid) if os.getuid() == 0 else (os.getuid(), os.getgid())
    for sub in ("mail", "home"):
        os.chown(root / sub, mail_uid, mail_gid)
    conf = root / "dovecot.conf"
    conf.write_text(CONFIG.format(
        root=root, cert=cert.cert_file, key=cert.key_file, user=internal_user, group=internal_group,
        login_user=login_user, uid=mail_uid, gid=mail_gid,
        imap_port=server.imap_port, imaps_port=server.imaps_port), encoding="utf-8")
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        try:
            _wait_for_greeting(server.imap_port, proc)
        except RuntimeError as exc:
            output = proc.stdout.read().decode(errors="replace") if proc.poll() is not None and proc.stdout else ""
            raise RuntimeError(f"{exc}\n{output}\n{server.log()}") from None
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
