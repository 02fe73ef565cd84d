"""Bounce ingestion from files: single messages, mbox files and Maildir folders.

``ingest_one`` is the one place a bounce enters the system from a file; the registry hook
(correlate with what was relayed, record opt-outs) belongs there.
"""

from __future__ import annotations

import mailbox
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway.bounces.parse import BounceReport, parse_bounce


def ingest_one(raw: bytes, source: str) -> BounceReport:
    """Parse one message read from ``source`` (a path, or ``path:key`` inside a mailbox).

    Today this only parses; correlation with the relay log and recording in the opt-out registry
    will be added here, so every importer and poller gets them.
    """
    return parse_bounce(raw)


@dataclass(slots=True)
class ImportSummary:
    messages: int = 0
    parsed: int = 0
    """Messages recognised as bounces or Amazon notices."""
    not_bounce: int = 0
    unreadable: int = 0
    """Paths or mailbox entries that could not be read."""
    by_kind: Counter[str] = field(default_factory=Counter)
    recipients: int = 0

    def add(self, report: BounceReport) -> None:
        self.messages += 1
        self.by_kind[report.kind] += 1
        if report.kind == "not-bounce":
            self.not_bounce += 1
        else:
            self.parsed += 1
        self.recipients += len(report.recipients)

    def as_json(self) -> dict[str, object]:
        return {"messages": self.messages, "parsed": self.parsed, "not_bounce": self.not_bounce,
                "unreadable": self.unreadable, "recipients": self.recipients,
                "by_kind": dict(sorted(self.by_kind.items()))}


def is_maildir(path: Path) -> bool:
    return all((path / d).is_dir() for d in ("cur", "new", "tmp"))


def is_mbox(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(5) == b"From "
    except OSError:
        return False


def count_messages(path: Path) -> int | None:
    """How many messages ``path`` holds when that is cheap to know (for a progress bar)."""
    if path.is_dir():
        if is_maildir(path):
            return sum(len(os.listdir(path / d)) for d in ("cur", "new"))
        return sum(1 for _ in path.rglob("*.eml"))
    if is_mbox(path):
        return None
    return 1


def iter_messages(path: Path) -> Iterator[tuple[str, bytes | None]]:
    """(source, raw bytes) for each message under ``path``; None for an entry that cannot be read."""
    if path.is_dir():
        if is_maildir(path):
            md = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(md.iterkeys()):
                try:
                    yield f"{path}:{key}", md.get_bytes(key)
                except (OSError, KeyError):
                    yield f"{path}:{key}", None
            return
        for child in sorted(path.rglob("*.eml")):
            yield from iter_messages(child)
        return
    if is_mbox(path):
        mb = mailbox.mbox(path, factory=None, create=False)
        try:
            for key in mb.iterkeys():
                try:
                    yield f"{path}:{key}", mb.get_bytes(key)
                except (OSError, KeyError):
                    yield f"{path}:{key}", None
        finally:
            mb.close()
        return
    try:
        yield str(path), path.read_bytes()
    except OSError:
        yield str(path), None
