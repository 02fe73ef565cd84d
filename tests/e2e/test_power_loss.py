"""Power loss: kill -9 proves nothing about what reached the disk; a file system that forgets does.

The gateway's state lives on tests/lazyfs.py, which holds every write in memory until fsync. The
plug is pulled under load (the gateway and its file system SIGKILLed, the file system mounted
again from what was fsync'd); after a restart every acknowledged message must still be delivered.
Skips with the reason where FUSE is unavailable.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.faults import run_round
from tests.powerloss import LazyMount, unavailable
from tests.sink import Sink

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(unavailable() is not None, reason=f"power-loss test: {unavailable()}")]


def test_the_file_system_really_forgets_what_was_not_fsynced(tmp_path: Path) -> None:
    mount = LazyMount(tmp_path / "backing", tmp_path / "mnt")
    mount.mount()
    try:
        mnt = tmp_path / "mnt"
        (mnt / "kept").write_bytes(b"fsync'd")
        fd = os.open(mnt / "kept", os.O_RDWR)
        os.fsync(fd)
        os.close(fd)
        (mnt / "forgotten").write_bytes(b"only written")
        assert (mnt / "forgotten").read_bytes() == b"only written"  # reads see held data
        unsafe = sqlite3.connect(mnt / "unsafe.db")
        unsafe.execute("PRAGMA journal_mode=WAL")
        unsafe.execute("PRAGMA synchronous=OFF")  # never fsyncs: what a lying disk would do
        unsafe.execute("CREATE TABLE t (x)")
        unsafe.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
        unsafe.commit()
        mount.power_cut()
        unsafe.close()
        assert (mnt / "kept").read_bytes() == b"fsync'd"
        assert (mnt / "forgotten").read_bytes() == b""
        after = sqlite3.connect(mnt / "unsafe.db")
        try:
            with pytest.raises(sqlite3.Error):  # the table itself was never on disk
                after.execute("SELECT count(*) FROM t").fetchone()
        finally:
            after.close()
    finally:
        mount.unmount()


async def test_power_cut_under_load_loses_no_acknowledged_message(tmp_path: Path, sink: Sink) -> None:
    result = await run_round(tmp_path, sink, scenario="power", fault="power", clients=6, per_client=30)
    print(f"power cut round: {result}")
    assert result.acknowledged > 0
    assert result.lost == 0, result
