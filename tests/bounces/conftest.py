"""Shared fixtures: the DSN corpus lives outside the repository (../shared/corpus/dsn)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


def corpus_dir() -> Path:
    env = os.environ.get("GATEWAY_DSN_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "dsn"


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = corpus_dir()
    if not (path / "expected.tsv").is_file():
        pytest.skip(f"DSN corpus not found at {path} (set GATEWAY_DSN_CORPUS to its folder)")
    return path


@pytest.fixture(scope="session")
def expected_rows(corpus: Path) -> list[dict[str, str]]:
    """Rows of both tables, expected.tsv and more/expected.tsv, with ``file`` relative to the corpus."""
    rows: list[dict[str, str]] = []
    for table, prefix in (("expected.tsv", ""), ("more/expected.tsv", "more/")):
        if not (corpus / table).is_file():
            continue
        with (corpus / table).open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                row["file"] = prefix + row["file"]
                rows.append(row)
    return rows
