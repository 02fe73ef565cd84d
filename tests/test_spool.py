"""The spool on real SQLite files: durability, group commit, refusal of what cannot be stored."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.spool import DB_NAME, NewMessage, RecipientResult, Spool, SpoolError

MSG = b"From: seller@example.com\r\nTo: buyer@example.net\r\nSubject: hi\r\n\r\nHello\r\n"


async def _fill(spool: Spool, body: bytes, stored: list[str], count: int) -> None:
    for _ in range(count):
        stored.append(await spool.put("s@example.com", ["r@example.net"], body))


async def test_put_is_durable_and_seen_by_a_new_instance(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path)
    qid = await spool.put("seller@example.com", ["a@example.net", "b@example.net"], MSG,
                          {"message_id": "<m1@x>", "tenant": "acme"})
    await spool.close()

    again = await Spool.open(tmp_path)
    try:
        assert await again.depth() == 1
        msg = await again.load(qid)
        assert msg is not None
        assert msg.data == MSG
        assert msg.mail_from == "seller@example.com"
        assert msg.pending == ("a@example.net", "b@example.net")
        assert msg.meta == {"message_id": "<m1@x>", "tenant": "acme"}
        assert msg.attempts == 0
    finally:
        await again.close()


async def test_committed_put_is_in_the_database_file_before_close(tmp_path: Path) -> None:
    # Another connection (as after a crash: no clean close) must see the entry once put returned.
    spool = await Spool.open(tmp_path)
    try:
        qid = await spool.put("s@example.com", ["r@example.net"], MSG)
        conn = sqlite3.connect(tmp_path / DB_NAME)
        try:
            row = conn.execute("SELECT data FROM messages WHERE id=?", (qid,)).fetchone()
            assert row is not None
            assert bytes(row[0]) == MSG
        finally:
            conn.close()
    finally:
        await spool.close()


async def test_concurrent_puts_get_distinct_ids_and_share_commits(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path)
    try:
        before = spool.commits
        ids = await asyncio.gather(*(spool.put("s@example.com", [f"r{i}@example.net"], MSG)
                                     for i in range(300)))
        assert len(set(ids)) == 300
        assert await spool.depth() == 300
        # Group commit: far fewer transactions than puts.
        assert spool.commits - before < 300
        loaded = await spool.load(ids[123])
        assert loaded is not None
        assert loaded.pending == ("r123@example.net",)
    finally:
        await spool.close()


async def test_unusable_directory_raises_spool_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a directory")
    with pytest.raises(SpoolError):
        await Spool.open(blocker / "spool")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
async def test_read_only_directory_raises_spool_error(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(SpoolError):
            await Spool.open(ro)
    finally:
        ro.chmod(0o755)


async def test_read_only_filesystem_raises_spool_error(small_fs: Path) -> None:
    spool = await Spool.open(small_fs / "spool")
    await spool.put("s@example.com", ["r@example.net"], MSG)
    await spool.close()
    remount = await asyncio.to_thread(subprocess.run, ["mount", "-o", "remount,ro", str(small_fs)],
                                      capture_output=True, check=False)
    assert remount.returncode == 0, remount.stderr
    with pytest.raises(SpoolError):
        await Spool.open(small_fs / "spool")


async def test_disk_full_raises_spool_error_and_keeps_earlier_entries(small_fs: Path) -> None:
    spool = await Spool.open(small_fs / "spool")
    try:
        body = (b"Y" * 62 + b"\r\n") * 1000  # 64 KB
        stored: list[str] = []
        with pytest.raises(SpoolError):
            await _fill(spool, body, stored, 40)
        assert stored, "the first puts should fit"
        assert await spool.depth() == len(stored)
        loaded = await spool.load(stored[-1])
        assert loaded is not None
        assert loaded.data == body
    finally:
        await spool.close()


def test_space_guard_on_an_unreachable_directory_answers_instead_of_raising(tmp_path: Path) -> None:
    # The writer asks the guard for room while handling a failed commit. When the state directory
    # could not be looked up any more (a lazily unmounted file system, a stale network mount),
    # statvfs raised inside that handler and killed the writer thread: every later write, and
    # the gateway's stop, waited forever for a thread that was gone.
    from gateway.spool.space import SpaceGuard

    gone = tmp_path / "state" / "spool"
    gone.mkdir(parents=True)
    guard = SpaceGuard(gone, min_free_bytes=1_000_000, max_size_bytes=None)
    gone.rmdir()
    assert guard.on_disk_full() is False  # no room to be found there; the batch fails, as SpoolFull


async def test_full_spool_raises_spool_error_and_keeps_earlier_entries(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, max_size_bytes=256 * 1024)
    try:
        stored: list[str] = []
        big = b"X" * 62 + b"\r\n"
        body = big * 1000  # 64 KB
        with pytest.raises(SpoolError):
            await _fill(spool, body, stored, 20)
        assert stored, "the first puts should fit"
        assert await spool.depth() == len(stored)
        # The spool still works for reads after the failure.
        loaded = await spool.load(stored[0])
        assert loaded is not None
        assert loaded.data == body
    finally:
        await spool.close()


async def test_put_refuses_what_the_client_library_would_rewrite(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path)
    try:
        with pytest.raises(ValueError, match="CR"):
            await spool.put("s@example.com", ["r@example.net\r\nRCPT TO:<x@evil>"], MSG)
        with pytest.raises(ValueError, match="bare"):
            await spool.put("s@example.com", ["r@example.net"], b"Subject: x\n\nbare LF\n")
        with pytest.raises(ValueError, match="recipient"):
            await spool.put("s@example.com", [], MSG)
        # A refused put does not disturb good ones in the same batch.
        results = await asyncio.gather(
            spool.put("s@example.com", ["r@example.net"], MSG),
            spool.put("s@example.com", ["r@example.net"], b"bad\rdata\r\n"),
            spool.put("s@example.com", ["r@example.net"], MSG),
            return_exceptions=True)
        assert isinstance(results[1], ValueError)
        assert isinstance(results[0], str)
        assert isinstance(results[2], str)
        assert await spool.depth() == 2
    finally:
        await spool.close()


async def test_record_attempt_finishes_and_spools_dsn_in_one_step(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path)
    try:
        qid = await spool.put("s@example.com", ["a@example.net", "b@example.net"], MSG)
        await spool.record_attempt(qid, [RecipientResult("a@example.net", "delivered", 250, "ok"),
                                         RecipientResult("b@example.net", "pending", 450, "busy")],
                                   next_attempt=0.0)
        msg = await spool.load(qid)
        assert msg is not None
        assert msg.pending == ("b@example.net",)
        assert msg.attempts == 1
        dsn_id = await spool.record_attempt(
            qid, [RecipientResult("b@example.net", "failed", 550, "no")], None,
            NewMessage("", ["s@example.com"], b"DSN\r\n", {"dsn_for": qid}))
        assert dsn_id is not None
        assert await spool.load(qid) is None
        info = await spool.info(qid)
        assert info is not None
        assert info.state == "done"
        assert info.attempts == 2
        assert [(r.address, r.state, r.code) for r in info.recipients] == [
            ("a@example.net", "delivered", 250), ("b@example.net", "failed", 550)]
        dsn = await spool.load(dsn_id)
        assert dsn is not None
        assert dsn.mail_from == ""
        assert dsn.pending == ("s@example.com",)
        assert await spool.depth() == 1
    finally:
        await spool.close()


async def test_closed_spool_refuses_puts(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path)
    await spool.close()
    with pytest.raises(SpoolError):
        await spool.put("s@example.com", ["r@example.net"], MSG)


REPO = Path(__file__).resolve().parent.parent
_CHILD = """
import asyncio, os, signal, sys
from pathlib import Path
from gateway.spool import Spool

async def main() -> None:
    spool = await Spool.open(Path(sys.argv[1]))
    ids = await asyncio.gather(*(spool.put("s@example.com", [f"r{i}@example.net"],
                                           b"Subject: %d\\r\\n\\r\\nbody\\r\\n" % i) for i in range(50)))
    print("\\n".join("ID " + i for i in ids), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close(), no atexit: as abrupt as a crash gets

asyncio.run(main())
"""


async def test_entries_survive_a_killed_process(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, str(tmp_path / "spool"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        cwd=REPO)
    out, _ = await proc.communicate()
    assert proc.returncode == -9
    ids = [line[3:] for line in out.decode().splitlines() if line.startswith("ID ")]
    assert len(ids) == 50
    spool = await Spool.open(tmp_path / "spool")
    try:
        assert await spool.depth() == 50
        for i, qid in enumerate(ids):
            msg = await spool.load(qid)
            assert msg is not None
            assert msg.pending == (f"r{i}@example.net",)
            assert msg.data == b"Subject: %d\r\n\r\nbody\r\n" % i
    finally:
        await spool.close()


async def test_purge_forgets_only_old_finished_entries(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path)
    try:
        done = await spool.put("s@example.com", ["r@example.net"], MSG)
        pending = await spool.put("s@example.com", ["r@example.net"], MSG)
        await spool.record_attempt(done, [RecipientResult("r@example.net", "delivered", 250, "ok")], None)
        assert await spool.purge_finished(time.time() - 3600) == 0
        assert await spool.purge_finished(time.time() + 1) == 1
        assert await spool.info(done) is None
        assert await spool.info(pending) is not None
        assert await spool.depth() == 1
    finally:
        await spool.close()


async def test_results_of_concurrent_attempts_commit_together_each_as_its_own(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path)
    try:
        delivered, retried, bounced = [await spool.put("s@example.com", ["a@example.net", "b@example.net"], MSG)
                                       for _ in range(3)]
        commits = spool.commits
        later = time.time() + 600
        _, _, dsn_id = await asyncio.gather(
            spool.record_attempt(delivered, [RecipientResult("a@example.net", "delivered", 250, "ok"),
                                             RecipientResult("b@example.net", "delivered", 250, "ok")], None),
            spool.record_attempt(retried, [RecipientResult("a@example.net", "delivered", 250, "ok"),
                                           RecipientResult("b@example.net", "pending", 451, "later")], later),
            spool.record_attempt(bounced, [RecipientResult("a@example.net", "failed", 550, "gone"),
                                           RecipientResult("b@example.net", "delivered", 250, "ok")], None,
                                 NewMessage("", ["s@example.com"], b"DSN\r\n", {"dsn_for": bounced})))
        assert spool.commits == commits + 1  # one writer pass, one commit for the three
        states = {}
        for qid in (delivered, retried, bounced):
            info = await spool.info(qid)
            assert info is not None and info.attempts == 1
            states[qid] = (info.state, info.next_attempt, [(r.state, r.code) for r in info.recipients])
        assert states[delivered][0] == "done"
        assert states[retried] == ("pending", later, [("delivered", 250), ("pending", 451)])
        assert states[bounced][0] == "done"
        assert states[bounced][2] == [("failed", 550), ("delivered", 250)]
        assert await spool.load(delivered) is None and await spool.load(bounced) is None
        assert dsn_id is not None
        dsn = await spool.load(dsn_id)
        assert dsn is not None and dsn.data == b"DSN\r\n" and dsn.pending == ("s@example.com",)
        assert await spool.depth() == 2  # the retried message and the DSN
    finally:
        await spool.close()


async def test_a_failing_operation_does_not_kill_the_writer(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path)
    try:
        with pytest.raises(SpoolError):
            # Not a valid recipient result: the batch fails as a whole, with a SpoolError.
            await spool.record_attempt("nope", [object()], None)  # type: ignore[list-item]
        qid = await spool.put("s@example.com", ["r@example.net"], MSG)
        assert await spool.load(qid) is not None
    finally:
        await spool.close()
