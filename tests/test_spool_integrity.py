"""A damaged, vanished or truncated spool is noticed, never acknowledged into (issue 16 items 5 and 6).

Real SQLite files damaged the way the fault harness did it: garbage written into the middle of
the file, the file deleted, the file truncated to zero.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.spool import DB_NAME, Spool, SpoolCorrupt, SpoolMissing
from gateway.spool.integrity import check_file
from tests.conftest import REPO_ROOT, GatewayFactory

SENDER = "seller@shop.example"


def body(i: int) -> bytes:
    return f"Subject: n{i}\r\n\r\n".encode() + (f"{i:06d} ".encode() * 9 + b"\r\n") * 60  # ~4 KB


async def filled_spool(directory: Path, count: int = 300) -> list[str]:
    spool = await Spool.open(directory)
    try:
        return [await spool.put(SENDER, [f"b{i}@example.com"], body(i)) for i in range(count)]
    finally:
        await spool.close()


def damage(path: Path, size: int = 8192, seed: int = 16) -> None:
    """Overwrite ``size`` bytes in the middle of the file with garbage."""
    length = path.stat().st_size
    offset = (length // 2) // 4096 * 4096
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(random.Random(seed).randbytes(size))


async def test_open_refuses_a_damaged_spool_and_names_the_recovery(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    await filled_spool(directory)
    damage(directory / DB_NAME)
    with pytest.raises(SpoolCorrupt) as info:
        await Spool.open(directory)
    assert "gateway spool salvage" in str(info.value)
    assert info.value.smtp_reply.startswith("451 4.3.0")


async def test_damage_met_at_run_time_stops_new_mail_with_451(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    ids = await filled_spool(directory)
    spool = await Spool.open(directory)
    try:
        damage(directory / DB_NAME, size=64 * 1024)
        async def read_all() -> None:
            for queue_id in ids:  # delivery reading old entries meets the damage
                await spool.load(queue_id)

        with pytest.raises(SpoolCorrupt):
            await read_all()
        assert spool.problem is not None
        with pytest.raises(SpoolCorrupt) as info:
            await spool.put(SENDER, ["x@example.com"], body(0))
        assert info.value.smtp_reply.startswith("451 4.3.0")
    finally:
        await spool.close()


async def test_damaged_spool_makes_readyz_503_and_the_listener_answer_451(
        gateway_factory: GatewayFactory) -> None:
    from tests.admin.support import admin_url
    from tests.e2e.test_storage_faults import send_one

    gw = await gateway_factory()
    assert gw.spool is not None and gw.listener is not None
    gw.spool._note_damage("database disk image is malformed")  # what a failing read records
    async with aiohttp.ClientSession() as http, http.get(admin_url(gw, "/readyz")) as resp:
        assert resp.status == 503
        assert "spool damaged" in await resp.text()
    assert "gateway_spool_damaged 1.0" in gw.metrics.render().decode()
    reply = await send_one(gw.listener.port, "after damage")
    assert reply[0] == 451 and "4.3.0" in reply[1], reply


def gateway_cli(args: list[str]) -> tuple[int, str]:
    """The CLI as an admin runs it: its own process (it configures logging for itself)."""
    done = subprocess.run([sys.executable, "-m", "gateway", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=False)
    return done.returncode, done.stdout


async def test_check_and_salvage_recover_the_readable_entries(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "gateway.toml"
    config.write_text(f'[state]\ndirectory = "{state}"\n[log]\nlevel = "error"\n')
    ids = await filled_spool(state / "spool")
    damage(state / "spool" / DB_NAME)
    code, out = await asyncio.to_thread(gateway_cli, ["spool", "check", "--config", str(config)])
    assert code == 1 and "DAMAGED" in out
    code, out = await asyncio.to_thread(gateway_cli, ["spool", "salvage", "--config", str(config)])
    assert code == 0 and "damaged file is kept as" in out, out
    assert not check_file(state / "spool" / DB_NAME).problems
    code, out = await asyncio.to_thread(gateway_cli, ["spool", "check", "--config", str(config)])
    assert code == 0, out
    spool = await Spool.open(state / "spool")
    try:
        pending = await spool.depth()
        # 8 KB of garbage costs a few entries of 300, not the rest.
        assert len(ids) - 10 <= pending < len(ids)
        readable = [m for m in [await spool.load(q) for q in ids] if m is not None]
        assert len(readable) == pending
        for msg in readable:
            i = int(msg.data.split(b"\r\n", 1)[0][len(b"Subject: n"):])
            assert msg.data == body(i) and msg.pending == (f"b{i}@example.com",)
    finally:
        await spool.close()


@pytest.mark.parametrize("how", ["deleted", "truncated"])
async def test_vanished_spool_is_a_start_up_error_unless_accepted(tmp_path: Path, how: str) -> None:
    directory = tmp_path / "spool"
    await filled_spool(directory, count=30)
    path = directory / DB_NAME
    if how == "deleted":
        path.unlink()
    else:
        path.write_bytes(b"")
    with pytest.raises(SpoolMissing) as info:
        await Spool.open(directory)
    assert "30 messages pending" in str(info.value)
    assert "--accept-empty-spool" in str(info.value)
    spool = await Spool.open(directory, accept_empty=True)
    try:
        assert await spool.depth() == 0
    finally:
        await spool.close()
    # Accepted once: the new, empty spool is the one the state directory now remembers.
    spool = await Spool.open(directory)
    await spool.close()


async def test_a_new_state_directory_starts_without_complaint(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "fresh" / "spool")
    await spool.close()
