"""`gateway config check FILE`: validate a configuration without starting anything."""

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
    check = config_sub.add_parser("check", help="validate a TOML configuration file")
    check.add_argument("file", type=Path)
    check.set_defaults(func=check_file)


def check_file(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"{exc.source}: invalid configuration", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return 1
    problems = []
    for label, path in (("tls.cert_file", config.tls.cert_file), ("tls.key_file", config.tls.key_file),
                        ("auth.credentials_file", config.auth.credentials_file)):
        if path is not None and not path.is_file():
            problems.append(f"{label}: file not found: {path}")
    if problems:
        print(f"{args.file}: invalid configuration", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"{args.file}: OK (listen {config.server.listen}, upstream "
          f"{config.upstream.host or 'maildir ' + str(config.outbox_dir)}, state {describe(config)})")
    return 0
