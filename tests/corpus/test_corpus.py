"""The evaluation corpus is well-formed: every file parses as MIME, has exactly one valid label, and the
generated part is what the generator writes. (Judgement quality is measured by
bench/policy_quality.py, not asserted here.)"""

from __future__ import annotations

import email.parser
import email.policy
import tomllib
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.corpus import build, labels

LABELS = labels.load()
BY_PATH = {lb.path: lb for lb in LABELS}
FILES = labels.message_files()


def test_corpus_is_big_enough_and_covers_every_marketplace_language() -> None:
    assert len(LABELS) >= 300
    assert {lb.language for lb in LABELS} >= {"de", "en", "fr", "it", "es", "ja", "nl", "pl", "sv", "tr", "pt", "ar"}
    assert sum(lb.benign for lb in LABELS) >= 100
    assert sum(not lb.benign for lb in LABELS) >= 100


def test_every_file_has_a_label_and_every_label_a_file() -> None:
    unlabelled = [str(p) for p in FILES if p not in BY_PATH]
    missing = [lb.name for lb in LABELS if not lb.path.is_file()]
    assert unlabelled == []
    assert missing == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(labels.CORPUS)))
def test_message_parses_as_mime(path: Path) -> None:
    raw = path.read_bytes()
    assert b"\r\n\r\n" in raw, "headers end with an empty line (CRLF)"
    assert b"@@" not in raw, "a hand-written draft not finalised (python -m tests.corpus.handfix)"
    assert raw.count(b"\n") == raw.count(b"\r\n"), "CRLF line ends only"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")), "RFC 5322 line length"
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    for header in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
        assert msg[header] is not None, header
    assert not msg.defects, msg.defects
    label = BY_PATH[path.resolve()]
    assert f"@marketplace.amazon.{label.marketplace}" in str(msg["To"]).lower()
    texts = 0
    for part in msg.walk():
        assert not part.defects, (part.get_content_type(), part.defects)
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        if part.get_content_maintype() == "text" and part.get_filename() is None:
            charset = part.get_content_charset() or "us-ascii"
            payload.decode(charset)  # strict: the declared charset is the real one
            texts += 1
        if part.get_content_type() == "application/pdf":
            assert payload.startswith(b"%PDF-") and payload.rstrip().endswith(b"%%EOF")
    assert texts >= 1


def test_label_files_use_valid_values() -> None:
    for file in labels.label_files():
        for entry in tomllib.loads(file.read_text(encoding="utf-8"))["message"]:
            assert labels.problems(entry) == [], (file, entry.get("file"))


def test_bad_labels_are_reported() -> None:
    good = {"file": "x.eml", "action": "relay", "purpose": "invoice", "language": "de", "marketplace": "de",
            "class": "benign", "why": "ok"}
    assert labels.problems(good) == []
    assert labels.problems({**good, "action": "relay|drop"})
    assert labels.problems({**good, "purpose": "newsletter"})
    assert labels.problems({**good, "action": "reject"})  # benign but refused
    assert labels.problems({**good, "class": "violating", "action": "reject"})  # no violations named
    assert labels.problems({**good, "marketplace": "amazon.de"})


def test_generated_part_matches_the_generator() -> None:
    built = {b.name: b.raw for b in build.build_all()}
    on_disk = {str(p.relative_to(build.OUT)): p.read_bytes() for p in sorted(build.OUT.rglob("*.eml"))}
    assert sorted(built) == sorted(on_disk)
    stale = [name for name, raw in built.items() if on_disk[name] != raw]
    assert stale == [], "re-run python -m tests.corpus.build"
