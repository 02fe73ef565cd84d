"""parse_bounce never raises, whatever it is given."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.bounces import parse_bounce
from gateway.bounces.report import Kind
from tests.bounces.conftest import DATA, corpus_dir

_SAMPLES = sorted(corpus_dir().glob("*.eml")) + sorted(DATA.glob("*.eml"))
_SEEDS = [p.read_bytes() for p in _SAMPLES[::7]] or [b"Subject: x\n\ny\n"]

KINDS = set(get_args(Kind))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(raw: bytes) -> None:
    assert parse_bounce(raw).kind in KINDS


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(_SEEDS), cuts=st.lists(st.tuples(st.integers(0, 1 << 16), st.binary(max_size=64)),
                                                   max_size=6), truncate=st.integers(0, 1 << 16))
def test_mangled_real_bounces(seed: bytes, cuts: list[tuple[int, bytes]], truncate: int) -> None:
    raw = bytearray(seed[: max(1, truncate % (len(seed) + 1))] if truncate % 3 == 0 else seed)
    for pos, junk in cuts:
        at = pos % (len(raw) + 1)
        raw[at:at + len(junk)] = junk
    report = parse_bounce(bytes(raw))
    assert report.kind in KINDS
    assert all(r.address and "@" in r.address for r in report.recipients)


def test_seeds_present() -> None:
    assert _SEEDS, Path(__file__)
