"""Record every field of the policy engine's verdicts on every message we have, or compare with a record.

A guard for work on the engine's speed: verdicts must not change. The messages: the rule packs'
examples (policies/examples), the labelled and probe corpora (tests/corpus/**, what
bench/policy_quality.py reads), the fuzz seeds (tests/fuzz/corpus), the DSN corpus
(../shared/corpus/dsn, as odd input) and bench/bench_policy.py's synthetic messages. Each is
evaluated for its own To/Cc recipients with its ``X-Example-*`` state (as the packs' examples
are), and for one buyer alias of each of several marketplaces without state; by the shipped packs
and by the shipped packs plus bench/growth.py's synthetic pack (ten times the rules).

    python bench/verdict_snapshot.py record /tmp/verdicts.json
    python bench/verdict_snapshot.py diff /tmp/verdicts.json     # exit 1 and the differences
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import gzip
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.classify import MarketplaceRecipient
from gateway.config import MarketplaceConfig, PolicyConfig
from gateway.message import decode_header_value, header_recipients, read_headers
from gateway.policy.engine import PolicyEngine, PolicyState, examples_state
from gateway.policy.verdict import Verdict

ROOT = Path(__file__).resolve().parent.parent
ALIASES = ("b7d3kq9xz2m4np5@marketplace.amazon.de", "k2m9q7x4z1p3n5r@marketplace.amazon.com",
           "x8f2k4m6q1z3p5t@marketplace.amazon.co.jp", "p4n6q8r1s3t5v7w@marketplace.amazon.fr",
           "m3k5p7r9t2v4x6z@marketplace.amazon.com.tr")


def messages() -> Iterator[tuple[str, bytes]]:
    folders = [ROOT / "policies" / "examples", ROOT / "tests" / "corpus", ROOT / "tests" / "fuzz" / "corpus",
               ROOT.parent / "shared" / "corpus" / "dsn"]
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.name.endswith(".eml"):
                yield str(path.relative_to(folder.parent)), path.read_bytes()
            elif path.name.endswith(".eml.gz"):
                yield str(path.relative_to(folder.parent)), gzip.decompress(path.read_bytes())
    from bench.bench_policy import build_message, build_plain, invoice

    yield "bench:invoice-4k", invoice(0)
    yield "bench:invoice-100k", invoice(100_000)
    yield "bench:plain-4k", build_plain()
    yield "bench:html-20k", build_message(20_000)


def plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, (frozenset, set)):
        return sorted(plain(v) for v in value)
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def verdicts(engine: PolicyEngine, raw: bytes) -> dict[str, Any]:
    headers = read_headers(raw)
    extra = {k: decode_header_value(v) for k, v in headers.items() if k.lower().startswith("x-example-")}
    out: dict[str, Any] = {}
    runs: list[tuple[str, list[MarketplaceRecipient], PolicyState | None]]
    runs = [("headers", engine.classifier.marketplace_recipients(header_recipients(headers)),
             examples_state(extra))]
    runs += [(alias, engine.classifier.marketplace_recipients([alias]), None) for alias in ALIASES]
    for name, recipients, state in runs:
        verdict: Verdict = engine.evaluate(raw, recipients, state)
        out[name] = plain(verdict)
    return out


def record() -> dict[str, Any]:
    from bench.growth import synthetic_pack

    shipped = PolicyEngine.load(PolicyConfig(), MarketplaceConfig())
    with tempfile.TemporaryDirectory() as tmp:
        pack = synthetic_pack(Path(tmp) / "pack", len(shipped.rules) * 9)
        big = PolicyEngine.load(PolicyConfig(local_packs_dir=pack), MarketplaceConfig())
    out: dict[str, Any] = {}
    for name, raw in messages():
        out[name] = {"shipped": verdicts(shipped, raw), "10x": verdicts(big, raw)}
    return out


def differences(old: Any, new: Any, where: str = "") -> Iterator[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key not in new:
                yield f"{where}/{key}: gone"
            elif key not in old:
                yield f"{where}/{key}: new"
            else:
                yield from differences(old[key], new[key], f"{where}/{key}")
    elif old != new:
        yield f"{where}: {json.dumps(old, ensure_ascii=False)[:300]} -> {json.dumps(new, ensure_ascii=False)[:300]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("record", "diff"))
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    current = record()
    if args.mode == "record":
        args.file.write_text(json.dumps(current, ensure_ascii=False, indent=0, sort_keys=True))
        print(f"{len(current)} messages recorded in {args.file}")
        return 0
    found = list(differences(json.loads(args.file.read_text()), current))
    for line in found[:200]:
        print(line)
    print(f"{len(current)} messages, {len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
