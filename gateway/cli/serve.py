"""`gateway serve [--config FILE]`: run the gateway in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.log import configure_logging


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve", help="run the SMTP gateway",
        description="Run the SMTP gateway. Without --config: embedded defaults (127.0.0.1:2525, "
                    "state in ./state, a Maildir outbox as upstream).")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.set_defaults(func=run)
    reload = sub.add_parser(
        "reload", help="make a running gateway re-read its config and rule packs",
        description="Validate the config, then send SIGHUP to the gateway whose pid file is in the "
                    "state directory. New sessions use the new config; a broken one is refused.")
    reload.add_argument("--config", type=Path, help="the TOML configuration file the gateway runs with")
    reload.set_defaults(func=reload_running)


def _load(path: Path | None) -> GatewayConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"gateway: configuration error in {exc.source}:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return None


def reload_running(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    from gateway.app import PID_FILE

    pid_file = config.state_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        print(f"gateway: no running gateway found via {pid_file}: {exc}", file=sys.stderr)
        return 1
    print(f"sent SIGHUP to gateway pid {pid}; its log says whether the reload was taken")
    return 0


def run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    configure_logging(config.log.format, config.log.level)
    from gateway.app import Gateway

    try:
        asyncio.run(Gateway(config, config_path=args.config).run())
    except KeyboardInterrupt:
        return 130
    return 0
