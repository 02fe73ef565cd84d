"""`gateway serve [--config FILE]`: run the gateway in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, load_config
from gateway.log import configure_logging


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve", help="run the SMTP gateway",
        description="Run the SMTP gateway. Without --config: embedded defaults (127.0.0.1:2525, "
                    "state in ./state, a Maildir outbox as upstream).")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"gateway: configuration error in {exc.source}:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return 2
    configure_logging(config.log.format, config.log.level)
    from gateway.app import Gateway

    try:
        asyncio.run(Gateway(config, config_path=args.config).run())
    except KeyboardInterrupt:
        return 130
    return 0
