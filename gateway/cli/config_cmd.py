"""`gateway config check FILE`: find what `gateway serve` would fail on, without starting anything."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, load_config
from gateway.store.factory import describe


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("config", help="configuration tools")
    config_sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser(
        "check", help="validate a configuration and the files, folders and rule packs it names",
        description="Validate a TOML configuration, then check what serve needs from it: every file "
                    "it names exists and can be read, the state folder can be written, the TLS "
                    "certificate loads, the rule packs and bounce wording load. Exit 1 on any problem.")
    check.add_argument("file", type=Path)
    check.add_argument("--as-user", metavar="USER",
                       help="also check that USER (the service user, e.g. smgw) can read and write "
                            "what it must (needs root)")
    check.set_defaults(func=check_file)


def check_file(args: argparse.Namespace) -> int:
    from gateway import preflight

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"{exc.source}: invalid configuration", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return 1
    problems = preflight.check(config, as_user=args.as_user)
    errors = [p for p in problems if not p.warning]
    for problem in problems:
        if problem.warning:
            print(f"{args.file}: warning: {problem}", file=sys.stderr)
    if errors:
        print(f"{args.file}: invalid configuration", file=sys.stderr)
        for problem in errors:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{args.file}: OK (listen {config.server.listen}, upstream "
          f"{config.upstream.host or 'maildir ' + str(config.outbox_dir)}, state {describe(config)})")
    return 0
