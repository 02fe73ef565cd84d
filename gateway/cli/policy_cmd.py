"""``gateway policy test`` runs every rule's example messages; ``gateway policy list`` shows the rules."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, load_config
from gateway.policy.engine import PolicyEngine, PolicyLoadError
from gateway.policy.examples import run_examples


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("policy", help="rule packs: run their examples, list the rules",
                                   description="Work with the policy rule packs.")
    sub = parser.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    test = sub.add_parser("test", help="run every rule's example messages (must hit / must not hit)")
    test.add_argument("--config", type=Path, default=None, metavar="FILE")
    test.add_argument("-v", "--verbose", action="store_true", help="list passing examples too")
    test.set_defaults(func=run_test)
    listing = sub.add_parser("list", help="list the active rules")
    listing.add_argument("--config", type=Path, default=None, metavar="FILE")
    listing.set_defaults(func=run_list)


def _engine(config_path: Path | None) -> PolicyEngine | None:
    try:
        config = load_config(config_path)
        return PolicyEngine.load(config.policy, config.marketplace)
    except (ConfigError, PolicyLoadError) as exc:
        print(f"gateway policy: {exc}", file=sys.stderr)
        return None


def run_test(args: argparse.Namespace) -> int:
    engine = _engine(args.config)
    if engine is None:
        return 1
    results = run_examples(engine)
    failed = [r for r in results if not r.ok]
    for r in results:
        if r.ok and not args.verbose:
            continue
        mark = "ok  " if r.ok else "FAIL"
        expect = "must hit" if r.expect_hit else "must not hit"
        print(f"{mark} {r.rule:<28} {expect:<13} {r.path.parent.name}/{r.path.name}: {r.detail}")
    rules = {r.rule for r in results}
    without = [rule.id for rule in engine.rules if rule.id not in rules]
    print(f"{len(results) - len(failed)}/{len(results)} examples passed for {len(rules)} rules"
          + (f"; rules without examples: {', '.join(without)}" if without else ""))
    return 1 if failed else 0


def run_list(args: argparse.Namespace) -> int:
    engine = _engine(args.config)
    if engine is None:
        return 1
    for rule in engine.rules:
        decision = f"score {rule.score:g}" if rule.score is not None else str(rule.action)
        print(f"{rule.id:<28} {decision:<10} {rule.file.name:<20} {rule.description.splitlines()[0][:90]}")
    return 0
