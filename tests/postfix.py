"""A private Postfix instance for tests, and swaks: the real peers a seller runs beside the gateway.

Each instance has its own config_directory, queue_directory and data_directory under a fresh
world-traversable temporary folder (Postfix's own users must reach it), listens only on a
loopback port from port-0 allocation (``inet_interfaces = 127.0.0.1``), logs to its own
``maillog`` file, and runs as ``postfix -c DIR start-fg`` (the master in the foreground, so the
test owns the process); teardown is ``postfix -c DIR stop``, then a kill if need be. Postfix
must be started as root. ``POSTFIX``/``SWAKS`` are None when not installed; ``require`` then
skips the test, or fails it under CI=true (.ci/run installs both).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTFIX = shutil.which("postfix") or next(
    (p for p in ("/usr/sbin/postfix",) if os.access(p, os.X_OK)), None)
SWAKS = shutil.which("swaks")

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = {hostname}
mydomain = {hostname}
myorigin = {hostname}
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_transport = error:5.1.1 no local delivery here
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
smtp_dns_support_level = disabled
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
biff = no
"""

# The services a relay needs (no local delivery, no pickup of local submissions).
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def require(tool: str | None, name: str) -> str:
    """The tool's path; without it the test skips (fails under CI, which installs it)."""
    if tool is None:
        message = f"{name} not installed (apt-get install postfix swaks; .ci/run does this)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    if name == "postfix" and os.getuid() != 0:
        message = "a private Postfix instance must be started as root"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return tool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class PostfixInstance:
    root: Path
    port: int

    @property
    def config_directory(self) -> Path:
        return self.root / "conf"

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    async def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first maillog match of ``pattern``, waiting for it to appear."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.log())
            if match is not None:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in the Postfix log:\n{self.log()[-4000:]}")
            await asyncio.sleep(0.1)


def _postfix(command: str, conf: Path) -> subprocess.CompletedProcess[bytes]:
    assert POSTFIX is not None
    return subprocess.run([POSTFIX, "-c", str(conf), command], capture_output=True, timeout=60,
                          check=False)


@contextlib.contextmanager
def run_postfix(hostname: str, main: Mapping[str, str] | None = None,
                smtpd_options: Mapping[str, str] | None = None) -> Iterator[PostfixInstance]:
    """A running private Postfix whose smtpd listens on a loopback port; ``main`` adds or
    overrides main.cf settings, ``smtpd_options`` are ``-o`` overrides for its smtpd."""
    assert POSTFIX is not None
    root = Path(tempfile.mkdtemp(prefix="gw-postfix-"))
    root.chmod(0o755)
    try:
        for sub in ("conf", "queue", "data"):
            (root / sub).mkdir()
        shutil.chown(root / "data", "postfix", "postfix")
        instance = PostfixInstance(root, free_port())
        settings = MAIN_CF.format(root=root, hostname=hostname)
        settings += "".join(f"{key} = {value}\n" for key, value in (main or {}).items())
        (root / "conf" / "main.cf").write_text(settings)
        master = MASTER_CF.format(port=instance.port)
        if smtpd_options:
            first, rest = master.split("\n", 1)
            master = first + "".join(f"\n  -o {k}={v}" for k, v in smtpd_options.items()) + "\n" + rest
        (root / "conf" / "master.cf").write_text(master)
        proc = subprocess.Popen([POSTFIX, "-c", str(root / "conf"), "start-fg"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _wait_for_greeting(instance, proc)
            yield instance
        finally:
            _stop(root / "conf", proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_greeting(instance: PostfixInstance, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"postfix exited with {proc.returncode}: {output}\n{instance.log()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", instance.port),
                                                                    timeout=2) as s:
            if s.recv(100).startswith(b"220"):
                return
        time.sleep(0.1)
    raise RuntimeError(f"postfix did not greet in time:\n{instance.log()}")


def _stop(conf: Path, proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        _postfix("stop", conf)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _postfix("abort", conf)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


@dataclass(frozen=True)
class SwaksResult:
    returncode: int
    transcript: str

    def replies_to(self, command: str) -> list[str]:
        """The server's reply lines that follow the first client line starting with ``command``
        (client lines are `` -> `` or `` ~> `` in swaks' transcript, server lines ``<-``/``<~``)."""
        lines = self.transcript.splitlines()
        out: list[str] = []
        for i, line in enumerate(lines):
            if re.match(r"^ ?[-~*]> ", line) and line[4:].startswith(command):
                for reply in lines[i + 1:]:
                    if re.match(r"^ ?[-~*]> ", reply):
                        if out:
                            break
                        continue  # a pipelined command sent before the replies came
                    if re.match(r"^<[-~*]", reply):
                        out.append(re.sub(r"^<[-~*]+\s+", "", reply))
                break
        return out


async def swaks(*args: str, timeout: float = 60.0) -> SwaksResult:
    """Run swaks (without blocking the event loop the gateway runs on)."""
    tool = require(SWAKS, "swaks")
    proc = await asyncio.create_subprocess_exec(
        tool, "--hide-informational", *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    async with asyncio.timeout(timeout):
        out, _ = await proc.communicate()
    return SwaksResult(proc.returncode if proc.returncode is not None else -1,
                       out.decode("utf-8", "replace"))
