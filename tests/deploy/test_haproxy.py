"""The HAProxy example (deploy/haproxy/haproxy.cfg): valid for HAProxy, and working end to end.

The end-to-end test runs a real haproxy with the shipped file, only its addresses changed (ports,
the runtime socket path, a faster check interval, no privilege drop), in front of two real gateways
with their own state directories and one recording upstream. What it proves:

- the PROXY header reaches the gateways: the client connects from 127.0.0.2, only that address
  is in allowed_networks, and HAProxy itself connects from 127.0.0.1; relaying works only if the
  gateway took the client's address from the header (and a client from 127.0.0.3 is refused with
  its own address in the reply);
- the health check passes through PROXY-expecting listeners (the gateway greets a trusted proxy's
  connection only after its header), and balance spreads sessions over both instances;
- draining an instance through the runtime API (as the example's notes say) sends new sessions
  elsewhere, and when one instance stops, the health check marks it down and new sessions go to
  the survivor.

Without haproxy installed the tests skip, unless CI is set (then they fail: CI installs it).
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import pytest

from gateway.app import Gateway
from tests.conftest import GatewayFactory, wait_until
from tests.procutil import free_port
from tests.sink import Sink

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy/haproxy/haproxy.cfg"
BACKEND = "gateways"
CLIENT = "127.0.0.2"  # the only address allowed to relay: proves the gateway read the PROXY header
OUTSIDER = "127.0.0.3"  # not allowed: its refusal must name this address, not HAProxy's


def haproxy_binary() -> str:
    # Debian puts it in /usr/sbin, which is not on every user's PATH.
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is not installed, and CI is set (.ci/run installs it)")
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    return found


def test_example_passes_haproxy_check() -> None:
    done = subprocess.run([haproxy_binary(), "-c", "-f", str(EXAMPLE)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_example_has_what_the_gateway_needs() -> None:
    text = EXAMPLE.read_text()
    assert re.search(r"^\s*mode tcp$", text, re.M)
    assert re.search(r"^\s*balance leastconn$", text, re.M)
    assert re.search(r"^\s*default-server .*\bsend-proxy-v2\b.*\bcheck-send-proxy\b", text, re.M)
    # Inactivity timeouts longer than the gateway's data_timeout (600 s): the gateway ends sessions.
    for side in ("client", "server"):
        found = re.search(rf"^\s*timeout {side} (\d+)m$", text, re.M)
        assert found and int(found.group(1)) * 60 > 600


@dataclass
class Balancer:
    frontend_ports: list[int]
    """The ports of the example's bind lines, in their order (587, then 25)."""
    gateway_ports: dict[str, int]
    """server name -> the port that gateway must listen on."""
    socket: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def render_example(text: str, *, frontend_ports: list[int], servers: dict[str, int], socket: Path) -> str:
    """The shipped file with test addresses: every directive kept except the privilege drop."""
    ports = iter(frontend_ports)
    out: list[str] = []
    servers_written = False
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        key = words[0]
        if key in ("user", "group", "chroot", "daemon"):
            continue  # the test's haproxy runs as whoever runs the tests
        if key == "stats" and words[1] == "socket":
            words[2] = str(socket)
        elif key == "bind":
            words[1] = f"127.0.0.1:{next(ports)}"
        elif key == "default-server":
            # Checks every 200 ms instead of 2 s, so failing over takes a fraction of a second here.
            words[words.index("inter") + 1] = "200ms"
        elif key == "server":
            if not servers_written:
                servers_written = True
                out.extend(f"{indent}server {name} 127.0.0.1:{port} {' '.join(words[3:])}".rstrip()
                           for name, port in servers.items())
            continue
        out.append(indent + " ".join(words))
    assert next(ports, None) is None, "the example has fewer bind lines than the test expects"
    assert servers_written, "the example has no server lines"
    return "\n".join(out) + "\n"


@pytest.fixture
def balancer(tmp_path: Path) -> Iterator[Balancer]:
    binary = haproxy_binary()
    text = EXAMPLE.read_text()
    binds = len(re.findall(r"^\s*bind\s", text, re.M))
    b = Balancer(frontend_ports=[free_port() for _ in range(binds)],
                 gateway_ports={"gw1": free_port(), "gw2": free_port()},
                 socket=tmp_path / "haproxy.sock", log=tmp_path / "haproxy.log")
    config = tmp_path / "haproxy.cfg"
    config.write_text(render_example(text, frontend_ports=b.frontend_ports, servers=b.gateway_ports,
                                     socket=b.socket))
    with b.log.open("wb") as log:
        proc = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield b
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def runtime(socket: Path, command: str) -> str:
    """One command on HAProxy's runtime API (the example's "stats socket"); its answer."""
    reader, writer = await asyncio.open_unix_connection(str(socket))
    writer.write(command.encode() + b"\n")
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    return raw.decode()


async def server_states(socket: Path) -> dict[str, str]:
    """server name -> status in the backend ("UP", "DOWN", "DRAIN", ...), from the runtime API."""
    try:
        lines = (await runtime(socket, "show stat")).splitlines()
    except OSError:
        return {}
    if not lines or not lines[0].startswith("# "):
        return {}
    rows = csv.DictReader(lines[1:], fieldnames=lines[0][2:].split(","))
    return {row["svname"]: row["status"] for row in rows
            if row["pxname"] == BACKEND and row["svname"] not in ("FRONTEND", "BACKEND")}


async def wait_states(b: Balancer, want: dict[str, str], timeout: float = 15.0) -> None:
    states: dict[str, str] = {}
    try:
        async with asyncio.timeout(timeout):
            while True:
                states = await server_states(b.socket)
                if all(states.get(name) == status for name, status in want.items()):
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"haproxy servers {states}, wanted {want}; log:\n{b.log_text()}") from None


def message(n: int) -> bytes:
    return (f"From: erp@shop.example\r\nTo: buyer@example.com\r\nSubject: batch {n}\r\n"
            f"Message-ID: <batch-{n}@shop.example>\r\n\r\nOrder update {n}.\r\n").encode()


async def send_through(port: int, n: int, *, source: str = CLIENT) -> str:
    """Send message n through HAProxy from ``source``; the hostname of the gateway that took it."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, source_address=(source, 0),
                           local_hostname="erp.shop.example", start_tls=False, timeout=10)
    greeting = await smtp.connect()
    try:
        errors, _ = await smtp.sendmail("erp@shop.example", ["buyer@example.com"], message(n))
        assert errors == {}
    finally:
        await smtp.quit()
    return greeting.message.split()[0]


async def start_instance(factory: GatewayFactory, tmp_path: Path, name: str, port: int) -> Gateway:
    return await factory(
        server={"listen": f"127.0.0.1:{port}", "hostname": f"{name}.test",
                "trusted_proxies": ["127.0.0.1/32"], "allowed_networks": [f"{CLIENT}/32"]},
        state={"directory": str(tmp_path / name)})


def idle(gw: Gateway) -> bool:
    return gw.listener is not None and gw.listener.active_sessions == 0


@pytest.mark.slow
async def test_two_gateways_behind_haproxy(balancer: Balancer, gateway_factory: GatewayFactory,
                                           sink: Sink, tmp_path: Path) -> None:
    gw1 = await start_instance(gateway_factory, tmp_path, "gw1", balancer.gateway_ports["gw1"])
    gw2 = await start_instance(gateway_factory, tmp_path, "gw2", balancer.gateway_ports["gw2"])
    # UP means the SMTP check got a greeting and a 250 to EHLO: with a PROXY header on the check,
    # since the gateway greets a trusted proxy's connection only after its header.
    await wait_states(balancer, {"gw1": "UP", "gw2": "UP"})

    # Ten messages, alternately through both frontend ports (587 and 25 in the example).
    ports = balancer.frontend_ports
    handled = Counter([await send_through(ports[n % len(ports)], n) for n in range(10)])
    received = await sink.handler.wait_for(10)
    assert sorted(m.data.split(b"Subject: ")[1].split(b"\r\n")[0] for m in received) == sorted(
        f"batch {n}".encode() for n in range(10))
    assert set(handled) == {"gw1.test", "gw2.test"}, handled
    assert sum(handled.values()) == 10

    # The refusal names the client's address from the PROXY header, not HAProxy's 127.0.0.1.
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=ports[0], source_address=(OUTSIDER, 0),
                           local_hostname="elsewhere.example", start_tls=False, timeout=10)
    await smtp.connect()
    await smtp.ehlo()
    await smtp.mail("erp@shop.example")
    reply = await smtp.execute_command(b"RCPT", b"TO:<buyer@example.com>")
    await smtp.quit()
    assert reply.code == 554 and OUTSIDER in reply.message, reply

    # Health checks and finished sessions leave no session counted open on either instance.
    await wait_until(lambda: idle(gw1) and idle(gw2))

    # The drain step of the example's notes: no new sessions for gw1 while it is still up.
    assert (await runtime(balancer.socket, "set server gateways/gw1 state drain")).strip() == ""
    await wait_states(balancer, {"gw1": "DRAIN", "gw2": "UP"})
    drained = Counter([await send_through(ports[0], n) for n in range(100, 104)])
    assert drained == {"gw2.test": 4}

    # One instance goes away: the check marks it down, and new sessions all go to the survivor.
    assert (await runtime(balancer.socket, "set server gateways/gw1 state ready")).strip() == ""
    await gw1.stop(grace=2.0)
    await wait_states(balancer, {"gw1": "DOWN", "gw2": "UP"})
    after = Counter([await send_through(ports[0], n) for n in range(10, 15)])
    assert after == {"gw2.test": 5}
    await sink.handler.wait_for(19)
    assert len(sink.messages) == 19


@pytest.mark.slow
async def test_opt_out_holds_whichever_instance_haproxy_picks(
        balancer: Balancer, gateway_factory: GatewayFactory, sink: Sink, tmp_path: Path, pg_dsn: str) -> None:
    """The whole topology of issue 7: balancer, two instances, one PostgreSQL. An opt-out recorded
    once is enforced on every session, whichever instance the balancer sends it to."""
    from gateway.store.migrate import upgrade
    from tests.bounces.messages import seller_message

    await upgrade(pg_dsn)
    gateways = []
    for name in ("gw1", "gw2"):
        gateways.append(await gateway_factory(
            policy="load",
            server={"listen": f"127.0.0.1:{balancer.gateway_ports[name]}", "hostname": f"{name}.test",
                    "trusted_proxies": ["127.0.0.1/32"], "allowed_networks": [f"{CLIENT}/32"]},
            state={"directory": str(tmp_path / name), "database": pg_dsn}))
    await wait_states(balancer, {"gw1": "UP", "gw2": "UP"})
    alias = "bcdfghjklmnpqrs@marketplace.amazon.de"
    assert gateways[0].store is not None
    await gateways[0].store.record_alias(alias, "optout", marketplace="de", order_id=None,
                                         evidence="notice", source="test")

    refused_by: Counter[str] = Counter()
    for n in range(6):
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=balancer.frontend_ports[0], source_address=(CLIENT, 0),
                               local_hostname="erp.shop.example", start_tls=False, timeout=10)
        greeting = await smtp.connect()
        try:
            proactive = seller_message(alias, f"Neue Angebote {n}", "Guten Tag,\n\nunser neuer Katalog ist da.\n")
            with pytest.raises(aiosmtplib.SMTPDataError) as refused:
                await smtp.sendmail("erp@shop.example", [alias], proactive)
            assert 500 <= refused.value.code < 600 and "opted out" in refused.value.message
        finally:
            await smtp.quit()
        refused_by[greeting.message.split()[0]] += 1
    assert set(refused_by) == {"gw1.test", "gw2.test"}, refused_by
    await asyncio.sleep(0.3)
    assert sink.messages == []
