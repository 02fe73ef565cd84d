"""Disk full: new mail gets 452 4.3.1, and nothing acknowledged before is lost."""

from __future__ import annotations

import asyncio
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
        small_fs: Path, gateway_factory: GatewayFactory, sink: Sink) -> None:
    sink.behaviour.data_reply = "451 4.3.0 upstream busy"  # keep everything in the spool for now
    # The reserve is what keeps delivery able to record results; with min_free_bytes = 0 a full
    # disk can wedge the spool (that is what the setting turns off).
    gw = await gateway_factory(state={"directory": str(small_fs / "state"), "min_free_bytes": 300_000})
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



# A fresh gateway's own state (gateway.db with its schema and WAL, the spool) takes about 480 KB; a
# test that needs the ballast laid down (free space >= min_free_bytes + ballast) uses 2 MB, or on
# 1 MB there is no room for it and delivery has nothing to drain with once others fill the disk.
ROOM_FOR_BALLAST = pytest.mark.parametrize("small_fs", [2 * 1024 * 1024], indirect=True)


def fill_up(directory: Path) -> Path:
    """Take every free byte of the file system, as another program's logs would."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as fh:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    fh.write(b"f" * size)
                except OSError:
                    break
    return filler


async def wait_drained(gw: Gateway, timeout: float = 30.0) -> None:
    assert gw.spool is not None
    async with asyncio.timeout(timeout):
        while await gw.spool.depth():
            await asyncio.sleep(0.1)


@ROOM_FOR_BALLAST
async def test_reserve_refuses_new_mail_while_delivery_drains_a_disk_filled_by_others(
        small_fs: Path, gateway_factory: GatewayFactory, sink: Sink) -> None:
    # Issue 16.1: the spool filled the file system and then could not record a single delivery
    # result, so nothing left it. Now new mail stops at the reserve, and if something else takes
    # the rest of the disk the ballast file gives delivery room to drain.
    sink.behaviour.data_reply = "451 4.3.0 upstream busy"
    gw = await gateway_factory(state={"directory": str(small_fs / "state"), "min_free_bytes": 400_000})
    port = listener_port(gw)
    acknowledged = []
    for i in range(200):
        reply = await send_one(port, f"held {i}", body=(b"y" * 70 + b"\r\n") * 140)  # about 10 KB each
        if reply[0] != 250:
            break
        acknowledged.append(f"held {i}")
    assert reply[0] == 452 and "4.3.1" in reply[1], reply
    assert 0 < len(acknowledged) < 200
    filler = fill_up(small_fs)
    assert filler.stat().st_size > 0
    sink.behaviour.data_reply = None
    assert gw.delivery is not None
    gw.delivery.notify()
    await wait_drained(gw)  # every result recorded although the disk is full
    subjects = sorted(split_trace(m.data)[1].split(b"\r\n", 1)[0].decode() for m in sink.messages)
    assert subjects == sorted(f"Subject: {s}" for s in acknowledged)
    # New mail is still refused, with the standard reply, while the disk stays full.
    reply = await send_one(port, "still full")
    assert reply[0] == 452 and "4.3.1" in reply[1], reply


async def test_retry_records_on_a_small_disk_never_wedge_the_spool(
        small_fs: Path, gateway_factory: GatewayFactory, sink: Sink) -> None:
    # Every retried attempt is a small commit; until a checkpoint they pile up in the WAL, and
    # a checkpoint needs room in the database file too. With SQLite's default of 1000 pages (4 MB)
    # a small disk filled with WAL, no checkpoint could run, and nothing was recorded any more.
    sink.behaviour.data_reply = "451 4.3.0 upstream busy"
    gw = await gateway_factory(state={"directory": str(small_fs / "state"), "min_free_bytes": 300_000},
                               delivery={"retry_initial": 0.05, "retry_max": 0.1, "poll_interval": 0.05})
    port = listener_port(gw)
    acknowledged = [f"r{i}" for i in range(30) if (await send_one(port, f"r{i}"))[0] == 250]
    await asyncio.sleep(4.0)  # a few hundred retry records
    sink.behaviour.data_reply = None
    await wait_drained(gw)
    assert sorted(split_trace(m.data)[1].split(b"\r\n", 1)[0].decode() for m in sink.messages) == sorted(
        f"Subject: {s}" for s in acknowledged)


@ROOM_FOR_BALLAST
async def test_starts_on_a_full_disk_and_drains_the_spool(tmp_path: Path, sink: Sink, small_fs: Path) -> None:
    sink.behaviour.data_reply = "451 4.3.0 upstream busy"
    config = make_config(tmp_path, sink.port, state={"directory": str(small_fs / "state"),
                                                     "min_free_bytes": 400_000},
                         delivery={"retry_initial": 0.2, "retry_max": 0.5, "poll_interval": 0.1})
    first = Gateway(config, policy=None)
    await first.start()
    for i in range(5):
        assert (await send_one(listener_port(first), f"before {i}"))[0] == 250
    await first.stop(grace=2.0)
    fill_up(small_fs)
    sink.behaviour.data_reply = None
    again = Gateway(config, policy=None)
    try:
        await again.start()  # used to fail: "database or disk is full"
        await wait_drained(again)
        assert sorted(split_trace(m.data)[1].split(b"\r\n", 1)[0] for m in sink.messages) == [
            f"Subject: before {i}".encode() for i in range(5)]
    finally:
        await again.stop(grace=2.0)


async def send_one(port: int, subject: str, body: bytes = b"body", to: str = "buyer@example.com"
                   ) -> tuple[int, str]:
    client, _ = await RawSMTP.connect(port)
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<seller@shop.example>")
    await client.cmd(f"RCPT TO:<{to}>")
    assert (await client.cmd("DATA"))[0] == 354
    reply = await client.cmd(f"Subject: {subject}\r\n\r\n".encode() + body + b"\r\n.")
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
    gw = Gateway(make_config(tmp_path, sink.port, state={"directory": str(state), "min_free_bytes": 0}), policy=None)
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


async def test_spool_size_cap_from_config_refuses_with_452_and_delivers_what_it_took(
        gateway_factory: GatewayFactory, sink: Sink) -> None:
    # Issue 16.1: the spool's cap (Spool.open(max_size_bytes=)) could not be set from the config.
    sink.behaviour.data_reply = "451 4.3.0 upstream busy"
    gw = await gateway_factory(state={"spool_max_bytes": 400_000, "min_free_bytes": 0})
    port = listener_port(gw)
    acknowledged: list[str] = []
    reply = (0, "")
    for i in range(40):
        reply = await send_one(port, f"cap {i}", body=(b"c" * 70 + b"\r\n") * 900)  # about 64 KB
        if reply[0] != 250:
            break
        acknowledged.append(f"cap {i}")
    assert reply[0] == 452 and "4.3.1" in reply[1], reply
    assert 0 < len(acknowledged) < 8  # 400 KB, less a tenth kept for delivery
    sink.behaviour.data_reply = None
    assert gw.delivery is not None
    gw.delivery.notify()
    await wait_drained(gw)
    assert sorted(split_trace(m.data)[1].split(b"\r\n", 1)[0].decode() for m in sink.messages) == sorted(
        f"Subject: {s}" for s in acknowledged)
