"""Disk full: new mail gets 452 4.3.1, and nothing acknowledged before is lost."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.errors import GatewayError
from tests.conftest import GatewayFactory, listener_port, make_config
from tests.sink import Sink, split_trace
from tests.smtpclient import RawSMTP


async def test_disk_full_answers_452_and_keeps_acknowledged_mail(
        gateway_factory: GatewayFactory, sink: Sink, small_fs: Path) -> None:
    sink.behaviour.data_reply = "451 4.3.0 upstream busy"  # keep everything in the spool for now
    gw = await gateway_factory(state={"directory": str(small_fs / "state")})
    body = (b"Z" * 70 + b"\r\n") * 900  # about 64 KB
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    acknowledged = 0
    last = (0, "")
    for i in range(40):
        await client.cmd("MAIL FROM:<seller@shop.example>")
        await client.cmd("RCPT TO:<buyer@example.com>")
        assert (await client.cmd("DATA"))[0] == 354
        last = await client.cmd(f"Subject: fill {i}\r\n\r\n".encode() + body + b".")
        if last[0] != 250:
            break
        acknowledged += 1
    assert acknowledged > 0
    assert last[0] == 452, last
    assert "4.3.1" in last[1]
    await client.cmd("QUIT")
    await client.close()
    # The upstream recovers: exactly the acknowledged messages arrive, once each.
    sink.behaviour.data_reply = None
    assert gw.delivery is not None
    gw.delivery.notify()
    received = await sink.handler.wait_for(acknowledged, timeout=30)
    subjects = sorted(split_trace(m.data)[1].split(b"\r\n", 1)[0] for m in received)
    assert len(subjects) == len(set(subjects)) == acknowledged



async def send_one(port: int, subject: str) -> tuple[int, str]:
    client, _ = await RawSMTP.connect(port)
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    await client.cmd("RCPT TO:<buyer@example.com>")
    assert (await client.cmd("DATA"))[0] == 354
    reply = await client.cmd(f"Subject: {subject}\r\n\r\nbody\r\n.".encode())
    await client.cmd("QUIT")
    await client.close()
    return reply


def remount(mnt: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mnt)], check=True, capture_output=True)


async def test_read_only_state_directory_refuses_to_start_rather_than_take_mail(
        tmp_path: Path, sink: Sink, small_fs: Path) -> None:
    # A file system cannot be made read-only under open writers (mount says busy), so the
    # read-only case is the one an operator meets: the state directory is read-only at start-up.
    state = small_fs / "state"
    gw = Gateway(make_config(tmp_path, sink.port, state={"directory": str(state)}), policy=None)
    await gw.start()
    port = listener_port(gw)
    assert (await send_one(port, "before"))[0] == 250
    await sink.handler.wait_for(1)
    await gw.stop(grace=2.0)
    remount(small_fs, "ro")
    try:
        again = Gateway(gw.config, policy=None)
        with pytest.raises((OSError, GatewayError, sqlite3.Error)) as info:
            await again.start()
        assert "read-only" in str(info.value).lower() or "readonly" in str(info.value).lower(), info.value
        assert again.listener is None  # never listened, so never acknowledged anything
        with pytest.raises(ConnectionRefusedError):
            await RawSMTP.connect(port)
        await again.stop(grace=1.0)
    finally:
        remount(small_fs, "rw")
