"""Accuracy and speed of the bounce parser over the shared DSN corpus.

    python bench/bounce_parse.py [--corpus DIR] [--misses] [--repeat N]

Accuracy: expected rows (file, recipient, reason) found with the right recipient and reason, over all
rows; also recipient-only and recipient+status figures, and recipients wrongly reported for the
non-bounces. Rate: messages parsed per second over all corpus files (single thread).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.bounces import parse_bounce


def default_corpus() -> Path:
    env = os.environ.get("GATEWAY_DSN_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "dsn"


@dataclass(frozen=True)
class Score:
    rows: int
    recipient: int
    reason: int
    status: int
    false_recipients: int
    misses: tuple[str, ...]


def score(corpus: Path) -> Score:
    with (corpus / "expected.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    cache: dict[str, dict[str, tuple[str, str]]] = {}
    hit_rcpt = hit_reason = hit_status = 0
    misses: list[str] = []
    for row in rows:
        name = row["file"]
        if name not in cache:
            report = parse_bounce((corpus / name).read_bytes())
            cache[name] = {r.address.lower(): (r.reason, r.status) for r in report.recipients}
        got = cache[name]
        want = row["recipient"].lower()
        if want in got:
            hit_rcpt += 1
            reason, status = got[want]
            if reason == row["reason"]:
                hit_reason += 1
            else:
                misses.append(f"{name}\t{want}\twant {row['reason']}/{row['status']}\tgot {reason}/{status}")
            if status == row["status"]:
                hit_status += 1
        else:
            misses.append(f"{name}\t{want}\twant {row['reason']}/{row['status']}\t"
                          f"got recipients {sorted(got)}")
    false = 0
    for path in sorted((corpus / "not-bounce").glob("*.eml")):
        false += len(parse_bounce(path.read_bytes()).recipients)
    return Score(len(rows), hit_rcpt, hit_reason, hit_status, false, tuple(misses))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=default_corpus())
    ap.add_argument("--misses", action="store_true", help="list the rows not matched")
    ap.add_argument("--repeat", type=int, default=5, help="passes over the corpus for the rate")
    args = ap.parse_args()
    if not (args.corpus / "expected.tsv").is_file():
        print(f"corpus not found at {args.corpus} (set GATEWAY_DSN_CORPUS)", file=sys.stderr)
        return 2
    s = score(args.corpus)
    print(f"rows: {s.rows}")
    print(f"recipient+reason: {s.reason}/{s.rows} = {100 * s.reason / s.rows:.1f}%")
    print(f"recipient only:   {s.recipient}/{s.rows} = {100 * s.recipient / s.rows:.1f}%")
    print(f"recipient+status: {s.status}/{s.rows} = {100 * s.status / s.rows:.1f}%")
    print(f"recipients reported for non-bounces: {s.false_recipients}")
    if args.misses:
        fam: Counter[str] = Counter(m.split("\t")[0].rsplit("-", 1)[0].removeprefix("crlf/")
                                    for m in s.misses)
        for m in s.misses:
            print("  miss", m)
        print("misses by family:", dict(fam.most_common()))
    files = sorted(p.read_bytes() for p in args.corpus.rglob("*.eml"))
    start = time.perf_counter()
    for _ in range(args.repeat):
        for raw in files:
            parse_bounce(raw)
    elapsed = time.perf_counter() - start
    n = len(files) * args.repeat
    print(f"rate: {n / elapsed:.0f} msgs/s ({n} parses of {len(files)} files in {elapsed:.2f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
