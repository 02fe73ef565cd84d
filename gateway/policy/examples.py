"""Every rule's example messages: those listed under ``hit`` must make the rule hit, those under
``miss`` must not. ``gateway policy test`` and the test suite both run this.

Examples are ``.eml`` files (or ``.eml.gz`` for large ones) under the packs' ``examples/`` folder.
They are evaluated as if sent to their To and Cc recipients. Two headers give the state a stateful
rule needs: ``X-Example-Review-Requests: <order id>=<count>[, ...]`` and
``X-Example-Alias-Status: <alias>=optout|dead``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from gateway.message import decode_header_value, header_recipients, read_headers
from gateway.policy.engine import PolicyEngine, examples_state
from gateway.policy.verdict import Verdict


@dataclass(frozen=True, slots=True)
class ExampleResult:
    rule: str
    path: Path
    expect_hit: bool
    ok: bool
    verdict: Verdict | None
    detail: str


def read_example(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def evaluate_example(engine: PolicyEngine, raw: bytes) -> Verdict:
    headers = read_headers(raw)
    recipients = header_recipients(headers)
    extra = {k: decode_header_value(v) for k, v in headers.items() if k.lower().startswith("x-example-")}
    state = examples_state(extra)
    return engine.evaluate(raw, engine.classifier.marketplace_recipients(recipients), state)


def run_examples(engine: PolicyEngine) -> list[ExampleResult]:
    results: list[ExampleResult] = []
    cache: dict[Path, Verdict | str] = {}
    for rule in engine.rules:
        for expect_hit, paths in ((True, rule.examples_hit), (False, rule.examples_miss)):
            for path in paths:
                if path not in cache:
                    try:
                        cache[path] = evaluate_example(engine, read_example(path))
                    except OSError as exc:
                        cache[path] = f"cannot read: {exc}"
                outcome = cache[path]
                if isinstance(outcome, str):
                    results.append(ExampleResult(rule.id, path, expect_hit, False, None, outcome))
                    continue
                hit = next((h for h in outcome.hits if h.rule == rule.id), None)
                ok = (hit is not None) == expect_hit
                if hit is not None:
                    detail = f"hit: {hit.evidence}"
                else:
                    others = ", ".join(h.rule for h in outcome.hits) or "no hits"
                    detail = f"no hit (verdict {outcome.action}: {others})"
                results.append(ExampleResult(rule.id, path, expect_hit, ok, outcome, detail))
    return results
