"""One writer for the spool and the SQLite state: one thread, and a put's followers (a message's
relay record and decision) committed right after it, only if it committed."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from gateway import group_commit
from gateway.group_commit import NotCommitted, Write
from gateway.spool import Spool, SpoolError
from gateway.store.sqlite import SQLiteStore

MSG = b"From: seller@example.com\r\nTo: buyer@example.net\r\nSubject: hi\r\n\r\nHello\r\n"
ALIAS = "abc123@marketplace.amazon.de"


def _writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "sqlite-writer"]


def _users() -> int:
    """Users of the process's shared writer: other tests' stores may still hold it in a full run."""
    writer = group_commit._shared
    return writer.users if writer is not None and writer.is_alive() else 0


async def _records(store: SQLiteStore, queue_id: str) -> list[Write]:
    with store.collecting() as writes:
        await store.record_relay(queue_id, f"<{queue_id}@shop>", [(ALIAS, "de")], ["302-4817265-9034712"],
                                 {"review-request"}, ["review-request"])
        await store.record_decision(queue_id, f"<{queue_id}@shop>", "127.0.0.1", "s@shop", [ALIAS], "de", "relay", [])
    return writes


async def test_spool_and_store_share_one_writer_and_a_put_takes_its_records_along(tmp_path: Path) -> None:
    before = _users()
    store = await SQLiteStore(tmp_path / "state").open()
    spool = await Spool.open(tmp_path / "spool")
    try:
        assert _writer_threads() == ["sqlite-writer"]
        assert _users() == before + 2
        writes = await _records(store, "QA")
        assert len(writes) == 2 and not any(w.future.done() for w in writes)  # collected, not written
        assert await store.relays_by_message_id(["<QA@shop>"]) == []
        passes, spool_commits, store_commits = spool._writer.passes, spool.commits, store.commits
        assert await spool.put("s@shop", [ALIAS], MSG, queue_id="QA", then=writes) == "QA"
        await asyncio.gather(*(w.future for w in writes))
        # One pass of the writer: one commit to each database, the spool's first.
        assert spool._writer.passes - passes == 1
        assert (spool.commits - spool_commits, store.commits - store_commits) == (1, 1)
        assert await store.relays_by_message_id(["<QA@shop>"]) == [(ALIAS, "de")]
        assert await store.order_counter("302-4817265-9034712", "review-request") == 1

        # A put that fails takes its records with it: they are not written.
        writes = await _records(store, "QB")
        with pytest.raises(ValueError, match="bare"):
            await spool.put("s@shop", [ALIAS], b"Subject: x\n\nbare LF\n", queue_id="QB", then=writes)
        for write in writes:
            with pytest.raises(NotCommitted):
                await write.future
        assert await store.relays_by_message_id(["<QB@shop>"]) == []
        assert await store.order_counter("302-4817265-9034712", "review-request") == 1
    finally:
        await spool.close()
        assert _writer_threads() == ["sqlite-writer"]  # the store still writes
        assert _users() == before + 1
        await store.close()
    assert _users() == before
    if before == 0:  # the last user stops the thread
        assert _writer_threads() == []
    with pytest.raises(SpoolError, match="closed"):
        await spool.put("s@shop", [ALIAS], MSG)


async def test_a_store_write_that_fails_fails_alone_in_its_batch(tmp_path: Path) -> None:
    store = await SQLiteStore(tmp_path / "state").open()
    try:
        results = await asyncio.gather(
            store._execute("INSERT INTO audit (at, actor, action, object, reason) VALUES (1, 'a', 'x', 'o', 'r')"),
            store._execute("INSERT INTO no_such_table VALUES (1)"),
            store._execute("INSERT INTO audit (at, actor, action, object, reason) VALUES (2, 'b', 'x', 'o', 'r')"),
            return_exceptions=True)
        assert results[0] is None and results[2] is None and "no_such_table" in str(results[1])
        assert [e.actor for e in await store.audit_log()] == ["b", "a"]
    finally:
        await store.close()
