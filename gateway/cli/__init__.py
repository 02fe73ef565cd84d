"""The ``gateway`` command. Each sub-command lives in its own module with a ``register`` function."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules under gateway.cli that add sub-commands, in the order `gateway --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "serve",
    "config_cmd",
    "check",
    "policy_cmd",
    "bounce",
    "optouts",
    "auth_cmd",
    "quarantine",
    "report",
    "learning_cmd",
    "db",
    "spool_cmd",
    "dkim_cmd",
    "backup_cmd",
    "health",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway",
        description=("Seller Mail Gateway: an SMTP relay that keeps mail to marketplace buyers "
                     "within the rules."),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"gateway.cli.{name}")
        except ModuleNotFoundError as exc:
            # Sub-commands land from parallel branches; one not in this build is left out of --help
            # instead of breaking every other command. A missing import *inside* a module still fails.
            if exc.name != f"gateway.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Every command's log lines go to stderr (structlog's own default prints them on stdout, into
    # a --json document); a command that reads a configuration then sets its format and level.
    from gateway.log import configure_logging

    configure_logging("auto", "warning")
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
