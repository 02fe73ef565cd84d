"""Replay the regression corpus: every input a fuzzer ever tripped on, through every target."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz import harness

CASES = sorted(harness.CORPUS.rglob("*.eml"))


def test_corpus_is_there() -> None:
    assert CASES, "tests/fuzz/corpus is empty"


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_replay(path: Path) -> None:
    raw = path.read_bytes()
    for name, check in harness.TARGETS.items():
        check(raw)  # not guarded: a replay never adds to the corpus
        del name
