"""File ingestion helpers behind `gateway bounce import`."""

from __future__ import annotations

import mailbox
from pathlib import Path

from gateway.bounces.batch import ImportSummary, count_messages, ingest_one, iter_messages
from tests.bounces.conftest import DATA


def test_iter_messages_over_maildir_mbox_and_folder(tmp_path: Path) -> None:
    raw = (DATA / "amazon-optout-en.eml").read_bytes()
    md = mailbox.Maildir(tmp_path / "md", create=True)
    md.add(raw)
    md.add(raw)
    mb = mailbox.mbox(tmp_path / "box")
    mb.add(raw)
    mb.close()
    folder = tmp_path / "emls"
    folder.mkdir()
    (folder / "a.eml").write_bytes(raw)

    assert count_messages(tmp_path / "md") == 2
    assert count_messages(tmp_path / "box") is None
    assert count_messages(folder) == 1
    sources = [s for p in (tmp_path / "md", tmp_path / "box", folder) for s, _ in iter_messages(p)]
    assert len(sources) == 4
    for p in (tmp_path / "md", tmp_path / "box", folder):
        for _, data in iter_messages(p):
            assert data is not None
            assert ingest_one(data, "test").order_id == "112-4817265-9034712"


def test_summary_counts_by_kind() -> None:
    summary = ImportSummary()
    summary.add(ingest_one((DATA / "amazon-optout-de.eml").read_bytes(), "x"))
    summary.add(ingest_one(b"Subject: hi\n\nhello\n", "y"))
    assert summary.as_json() == {"messages": 2, "parsed": 1, "not_bounce": 1, "unreadable": 0,
                                 "recipients": 0, "by_kind": {"amazon-optout": 1, "not-bounce": 1}}
