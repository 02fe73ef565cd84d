"""Every rule's example messages, as `gateway policy test` runs them."""

from __future__ import annotations

import pytest

from gateway.policy.engine import PolicyEngine
from gateway.policy.examples import ExampleResult, run_examples


@pytest.fixture(scope="module")
def results(engine: PolicyEngine) -> list[ExampleResult]:
    return run_examples(engine)


def test_every_rule_has_examples_that_ran(engine: PolicyEngine, results: list[ExampleResult]) -> None:
    tested = {r.rule for r in results}
    assert tested == {rule.id for rule in engine.rules}
    for rule in engine.rules:
        kinds = {r.expect_hit for r in results if r.rule == rule.id}
        assert kinds == {True, False}, rule.id


def test_every_example_behaves_as_its_rule_says(results: list[ExampleResult]) -> None:
    failed = [
        f"{r.rule}: {r.path.name} ({'must hit' if r.expect_hit else 'must not hit'}) {r.detail}"
        for r in results
        if not r.ok
    ]
    assert failed == []


def test_a_wrong_expectation_is_reported(engine: PolicyEngine) -> None:
    import dataclasses

    rule = engine.rule("emoji")
    assert rule is not None
    swapped = dataclasses.replace(rule, examples_hit=rule.examples_miss, examples_miss=rule.examples_hit)
    other = PolicyEngine([swapped], engine.config, engine.marketplace_config)
    outcome = run_examples(other)
    assert outcome
    assert not any(r.ok for r in outcome)
