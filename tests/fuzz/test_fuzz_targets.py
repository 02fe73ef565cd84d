"""Property-based fuzzing of MIME decoding, policy evaluation (with rewrite and reject replies) and
bounce parsing: no exception, no engine-error verdict, nothing slower than the policy timeout.
Anything that fails is written to tests/fuzz/corpus/<target>/ and replayed by test_corpus.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import harness
from tests.fuzz.mimegen import deep_nesting, messages, mutated_seed, seed_files

SEEDS = [p.read_bytes() for p in seed_files()]
FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(harness.TARGETS))
@FUZZ
@given(raw=messages())
def test_generated_messages(target: str, raw: bytes) -> None:
    harness.guarded(target, harness.TARGETS[target], raw)


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(harness.TARGETS))
@FUZZ
@given(data=st.data())
def test_mutated_real_messages(target: str, data: st.DataObject) -> None:
    raw = data.draw(mutated_seed(SEEDS))
    harness.guarded(target, harness.TARGETS[target], raw)


@pytest.mark.parametrize("depth", [100, 1000, 5000])
def test_deep_multipart_nesting(depth: int) -> None:
    for target, check in harness.TARGETS.items():
        harness.guarded(target, check, deep_nesting(depth))


@pytest.mark.parametrize("raw", [
    b"Subject: " + b"A" * 2_000_000 + b"\r\n\r\nbody\r\n",  # a 2 MB header line
    b"Subject: x\r\n" + b"X-H: " + b"=?utf-8?B?w6Q=?= " * 100_000 + b"\r\n\r\nb\r\n",
    b"".join(b"Received: from a by b\r\n" for _ in range(50_000)) + b"\r\nbody\r\n",
    b"\x00" * 100_000,
    b"Subject: \xff\xfe\x00\xc3(\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xed\xa0\x80\xff\r\n",
])
def test_huge_and_binary_inputs(raw: bytes) -> None:
    for target, check in harness.TARGETS.items():
        harness.guarded(target, check, raw)
