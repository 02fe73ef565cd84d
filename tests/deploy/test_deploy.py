"""Deployment files: the systemd unit (systemd-analyze verify when available, and the sd_notify
handshake of a real `gateway serve`), the Dockerfile's references and the compose file.

The image itself is built and smoke-tested by CI (tests/smoke/container.sh, buildah); here the
Dockerfile is checked for what it copies, the user it runs as and its health check, the build
context filter for what it keeps out, the compose file for the files it mounts, and every example
configuration for loading and for relaying without AUTH from loopback only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from gateway.config import load_config

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy/systemd/seller-mail-gateway.service"
DROPIN = ROOT / "deploy/systemd/seller-mail-gateway.service.d/bind-port-25.conf"
CONTAINER = ROOT / "deploy/container"


def unit_settings(path: Path) -> dict[str, list[str]]:
    """key -> values of the [Service] section (systemd allows repeated keys)."""
    out: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}{key}", []).append(value)
    return out


def test_unit_has_the_promised_hardening() -> None:
    s = unit_settings(UNIT)
    svc = "[Service]"
    assert s[f"{svc}Type"] == ["notify"]
    assert s[f"{svc}User"] == ["smgw"] and s[f"{svc}User"] != ["root"]
    assert s[f"{svc}StateDirectory"] == ["seller-mail-gateway"]
    assert s[f"{svc}StateDirectoryMode"] == ["0700"]
    assert s[f"{svc}LogsDirectory"] == ["seller-mail-gateway"]
    assert s[f"{svc}ProtectSystem"] == ["strict"]
    assert s[f"{svc}NoNewPrivileges"] == ["yes"]
    assert s[f"{svc}PrivateTmp"] == ["yes"]
    assert s[f"{svc}UMask"] == ["0077"]
    # No capability unless the port-25 drop-in is installed.
    assert s[f"{svc}CapabilityBoundingSet"] == [""]
    assert s[f"{svc}AmbientCapabilities"] == [""]
    drop = unit_settings(DROPIN)
    assert drop[f"{svc}AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert drop[f"{svc}CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    argv = shlex.split(s[f"{svc}ExecStart"][0])
    assert argv[1:3] == ["serve", "--config"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that ExecStart exists and that User exists on this host: point them at things
    # that do, and keep every other line as shipped.
    text = UNIT.read_text()
    text = re.sub(r"^ExecStart=.*$", f"ExecStart={sys.executable} -m gateway serve", text, flags=re.M)
    text = re.sub(r"^(User|Group)=smgw$", r"\1=root", text, flags=re.M)
    unit = tmp_path / UNIT.name
    unit.write_text(text)
    dropdir = tmp_path / f"{UNIT.name}.d"
    dropdir.mkdir()
    shutil.copy(DROPIN, dropdir / DROPIN.name)
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=60, check=False)
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines() if UNIT.name in line]
    assert proc.returncode == 0, proc.stderr
    assert complaints == []  # unknown keys and bad values are only warnings: fail on any


def test_serve_tells_systemd_ready_and_stopping(tmp_path: Path) -> None:
    """What Type=notify relies on: READY=1 once serving, STOPPING=1 on SIGTERM, then a clean exit."""
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(30)
        config = tmp_path / "gateway.toml"
        config.write_text(f'[server]\nlisten = "127.0.0.1:0"\n[state]\ndirectory = "{tmp_path / "state"}"\n'
                          '[policy]\nenabled = false\n[admin]\nlisten = "127.0.0.1:0"\n'
                          '[log]\nformat = "json"\nlevel = "warning"\n')
        env = {**os.environ, "NOTIFY_SOCKET": str(sock_path)}
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert sock.recv(256) == b"READY=1"
            proc.send_signal(signal.SIGTERM)
            assert sock.recv(256) == b"STOPPING=1"
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stderr is not None
            proc.stderr.close()
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


def dockerfile_instructions() -> list[str]:
    logical = re.sub(r"\\\n", " ", (CONTAINER / "Dockerfile").read_text())
    return [line.strip() for line in logical.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_dockerfile_references_exist_and_run_as_non_root() -> None:
    instructions = dockerfile_instructions()
    # The base is a build argument (CI passes a Debian root file system it made; production pins
    # a digest); its default is a slim Python image.
    arg = instructions[0].split()
    assert arg[0] == "ARG" and re.fullmatch(r"BASE_IMAGE=python:3\.1[1-9]-slim(-\w+)?", arg[1])
    froms = [i.split() for i in instructions if i.startswith("FROM")]
    assert froms and all(f[1] == "${BASE_IMAGE}" for f in froms)
    copies = [i.split()[1:] for i in instructions if i.startswith("COPY")]
    assert copies
    for args in copies:
        if args[0].startswith("--from="):
            continue
        for source in args[:-1]:
            assert (ROOT / source).exists(), f"COPY source missing from the build context: {source}"
    users = [i.split()[1] for i in instructions if i.startswith("USER")]
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1])
    health = [i for i in instructions if i.startswith("HEALTHCHECK")]
    assert len(health) == 1 and health[0].endswith('CMD ["gateway", "health"]')
    assert any(i.startswith("ENV") and "GATEWAY_CONFIG=/etc/gateway/gateway.toml" in i for i in instructions)
    entry = next(i for i in instructions if i.startswith("ENTRYPOINT"))
    assert '"gateway"' in entry  # the console script pyproject.toml declares
    assert 'gateway = "gateway.cli:main"' in (ROOT / "pyproject.toml").read_text()
    cmd = next(i for i in instructions if i.startswith("CMD"))
    assert "/etc/gateway/gateway.toml" in cmd
    # The image installs the wheel (packs inside), not the checkout in place.
    assert not any("pip install -e" in i for i in instructions)


def test_dockerignore_keeps_state_venv_and_secrets_out_of_the_context() -> None:
    lines = [x.strip() for x in (ROOT / ".dockerignore").read_text().splitlines()
             if x.strip() and not x.startswith("#")]
    assert lines[0] == "*"  # everything out, then only what the Dockerfile copies back in
    allowed = {x[1:].rstrip("/") for x in lines if x.startswith("!")}
    for instruction in dockerfile_instructions():
        args = instruction.split()[1:]
        if instruction.startswith("COPY") and not args[0].startswith("--from="):
            for source in args[:-1]:
                assert source.rstrip("/") in allowed, source
    for never in ("state", ".venv", "deploy/container/admin-token", "tests", ".git"):
        assert never not in allowed and not any(never.startswith(a + "/") for a in allowed)


def test_compose_file_is_valid_and_complete() -> None:
    compose = yaml.safe_load((CONTAINER / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"gateway", "mailpit"}
    gw = services["gateway"]
    build_root = (CONTAINER / gw["build"]["context"]).resolve()
    assert build_root == ROOT
    assert (build_root / gw["build"]["dockerfile"]).is_file()
    mounted = {}
    for volume in gw["volumes"]:
        source, target = volume.split(":")[:2]
        mounted[target] = source
        if source.startswith("."):
            assert (CONTAINER / source).exists(), source
        else:
            assert source in compose["volumes"]
    for port in gw["ports"] + services["mailpit"]["ports"]:
        assert port.startswith("127.0.0.1:"), "demo ports are published on loopback only"
    assert "admin_token" in compose["secrets"]
    # The demo's own config: its upstream is the compose service it names, and it relays without
    # AUTH only from loopback and the compose network whose subnet compose.yaml fixes.
    config = load_config(CONTAINER / mounted["/etc/gateway/gateway.toml"])
    assert config.upstream.host in services
    assert config.admin.token_file == Path("/run/secrets/admin_token")
    assert config.state_dir == Path("/var/lib/gateway")
    subnets = {c["subnet"] for net in compose["networks"].values() for c in net["ipam"]["config"]}
    assert set(config.server.allowed_networks) - set(LOOPBACK) == subnets
    assert all(net in compose["networks"] for net in gw["networks"])


LOOPBACK = ("127.0.0.0/8", "::1/128")
EXAMPLES = sorted((ROOT / "deploy").rglob("*gateway.toml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_configs_load_and_relay_only_from_named_networks(example: Path) -> None:
    config = load_config(example)
    if example.name == "compose-gateway.toml":
        return  # names its compose network: checked with the compose file above
    assert config.server.allowed_networks == LOOPBACK, "no example relays without AUTH beyond loopback"


def test_systemd_install_uses_the_systemd_example() -> None:
    ops = (ROOT / "docs/OPERATIONS.md").read_text()
    install = re.findall(r"install .*?(deploy/\S+gateway\.toml) /etc/seller-mail-gateway/gateway\.toml", ops)
    assert install == ["deploy/systemd/gateway.toml"]
    config = load_config(ROOT / "deploy/systemd/gateway.toml")
    assert config.state_dir == Path("/var/lib/seller-mail-gateway")
    assert config.admin.listen is not None and config.admin.listen.startswith("127.0.0.1:")


def test_container_healthcheck_command_works_against_a_real_gateway(tmp_path: Path) -> None:
    """The image's HEALTHCHECK (`gateway health`, admin port from $GATEWAY_CONFIG) against a real gateway."""
    health = next(i for i in dockerfile_instructions() if i.startswith("HEALTHCHECK"))
    argv = json.loads(health[health.index("CMD") + 3:].strip())
    assert argv[0] == "gateway"
    command = [sys.executable, "-m", "gateway", *argv[1:]]
    config = tmp_path / "gateway.toml"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config.write_text(f'[server]\nlisten = "127.0.0.1:0"\n[state]\ndirectory = "{tmp_path / "state"}"\n'
                      f'[policy]\nenabled = false\n[admin]\nlisten = "127.0.0.1:{port}"\n'
                      '[log]\nlevel = "warning"\n')
    env = {**os.environ, "GATEWAY_CONFIG": str(config)}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "gateway did not come up"
                time.sleep(0.1)
        assert subprocess.run(command, env=env, cwd=ROOT, timeout=30, check=False).returncode == 0
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert subprocess.run(command, env=env, cwd=ROOT, timeout=30, check=False,
                          capture_output=True).returncode == 1


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_prune_timer_and_service_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    service = ROOT / "deploy/systemd/seller-mail-gateway-prune.service"
    timer = ROOT / "deploy/systemd/seller-mail-gateway-prune.timer"
    text = service.read_text()
    assert re.search(r"^ExecStart=\S+/gateway db prune --config ", text, flags=re.M)
    text = re.sub(r"^ExecStart=.*$", f"ExecStart={sys.executable} -m gateway db prune", text, flags=re.M)
    text = re.sub(r"^(User|Group)=smgw$", r"\1=root", text, flags=re.M)
    (tmp_path / service.name).write_text(text)
    shutil.copy(timer, tmp_path / timer.name)
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / timer.name),
                           str(tmp_path / service.name)], capture_output=True, text=True, timeout=60, check=False)
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines() if "seller-mail-gateway-prune" in line]
    assert proc.returncode == 0, proc.stderr
    assert complaints == []


def _exposure(unit: Path, tmp_path: Path) -> float:
    """systemd-analyze security's overall exposure of ``unit`` (as shipped, but runnable here)."""
    text = re.sub(r"^ExecStart=.*$", "ExecStart=/usr/bin/true", unit.read_text(), flags=re.M)
    text = re.sub(r"^(User|Group)=smgw$", r"\1=root", text, flags=re.M)
    copy = tmp_path / unit.name
    copy.write_text(text)
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", str(copy)], capture_output=True,
                          text=True, timeout=60, check=False)
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", proc.stdout + proc.stderr)
    assert match, proc.stdout + proc.stderr
    return float(match.group(1))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_prune_unit_is_hardened_like_the_main_unit(tmp_path: Path) -> None:
    prune = _exposure(ROOT / "deploy/systemd/seller-mail-gateway-prune.service", tmp_path)
    main = _exposure(UNIT, tmp_path)
    assert prune <= main + 0.5 and prune < 3.0, (prune, main)
    s = unit_settings(UNIT)
    assert s["[Service]WatchdogSec"] == ["60s"]
