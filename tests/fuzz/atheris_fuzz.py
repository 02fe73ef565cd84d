"""Coverage-guided fuzzing with atheris (libFuzzer) of one target: mime, policy or bounce.

    python -m tests.fuzz.atheris_fuzz policy -max_total_time=300 -max_len=65536 [DIR ...]

Starts from the seed messages (policy examples, bounce samples, the regression corpus). A crash or
a run slower than the policy timeout is written to tests/fuzz/corpus/<target>/ (and reported by
libFuzzer); tests/fuzz/test_corpus.py replays it from then on. Not collected by pytest.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main() -> None:
    import atheris

    with atheris.instrument_imports(include=["gateway", "email"]):
        from tests.fuzz import harness
        from tests.fuzz.mimegen import seed_files

    if len(sys.argv) < 2 or sys.argv[1] not in harness.TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(harness.TARGETS)}}} [libFuzzer options]")
    target = sys.argv.pop(1)
    check = harness.TARGETS[target]
    seeds = Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-"))
    for i, path in enumerate(seed_files()):
        (seeds / f"seed-{i}").write_bytes(path.read_bytes()[:65536])
    if target == "policy":
        harness.engine()  # load the rule packs once, before fuzzing starts

    def one(data: bytes) -> None:
        # Listener semantics: only CRLF line ends reach the parsers.
        raw = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
        harness.guarded(target, check, raw)

    atheris.Setup([sys.argv[0], *sys.argv[1:], str(seeds)], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
