"""Bounce-backs in batches (``gateway bounce import`` of .eml files, mbox files and Maildir folders; the
IMAP poller): the messages read from files, and what a batch did. ``ingest_one`` is the parse-only path
(``gateway bounce import`` without ``--config``, or with ``--dry-run``); recording goes through
``gateway.bounces.ingest.BounceIngestService``."""

from __future__ import annotations

import mailbox
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway.bounces.ingest import IngestResult
from gateway.bounces.parse import BounceReport, parse_bounce


def ingest_one(raw: bytes, source: str) -> BounceReport:
    """Parse one message read from ``source`` (a path, or ``path:key`` inside a mailbox), without
    recording anything: the dry run. Recording goes through ``BounceIngestService``."""
    return parse_bounce(raw)


@dataclass(slots=True)
class ImportSummary:
    """What a batch (a file import, a mailbox poll) did."""

    messages: int = 0
    parsed: int = 0
    """Messages recognised as bounces or Amazon notices."""
    not_bounce: int = 0
    unreadable: int = 0
    """Paths or mailbox entries that could not be read."""
    by_kind: Counter[str] = field(default_factory=Counter)
    recipients: int = 0
    # Registry outcomes (only when recorded, not on a dry run):
    matched: int = 0
    unmatched: int = 0
    """Held for the admins' review list: no alias found, ambiguous, or an Amazon mail not understood."""
    unrelated: int = 0
    """DSNs about ordinary addresses: nothing for the registry."""
    duplicate: int = 0
    failed: int = 0
    optout: int = 0
    dead: int = 0
    recorded: bool = False
    """True once a result from the registry was added (not a dry run): the registry counters apply."""

    def add(self, item: BounceReport | IngestResult) -> None:
        result = item if isinstance(item, IngestResult) else None
        report = result.report if result is not None else item
        assert isinstance(report, BounceReport)
        self.recorded = self.recorded or result is not None
        self.messages += 1
        self.by_kind[report.kind] += 1
        if report.kind == "not-bounce":
            self.not_bounce += 1
        else:
            self.parsed += 1
        self.recipients += len(report.recipients)
        if result is None:
            return
        if result.outcome == "matched":
            self.matched += 1
        elif result.outcome in ("unmatched", "unrecognised"):
            self.unmatched += 1
        elif result.outcome == "unrelated":
            self.unrelated += 1
        elif result.outcome == "duplicate":
            self.duplicate += 1
        for _alias, _before, now in result.changes:
            if now == "optout":
                self.optout += 1
            else:
                self.dead += 1

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "messages": self.messages, "parsed": self.parsed, "not_bounce": self.not_bounce,
            "unreadable": self.unreadable, "recipients": self.recipients,
            "by_kind": dict(sorted(self.by_kind.items()))}
        if self.recorded or self.failed:
            out.update({"matched": self.matched, "unmatched": self.unmatched, "unrelated": self.unrelated,
                        "duplicate": self.duplicate, "failed": self.failed, "optout": self.optout,
                        "dead": self.dead})
        return out


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
