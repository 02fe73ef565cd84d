"""Helpers shared by the sub-commands that work on a gateway's state directory."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.log import configure_logging
from gateway.store.base import Store, StoreError
from gateway.store.factory import describe, open_store

T = TypeVar("T")


def add_state_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="the gateway's TOML configuration file")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def load(args: argparse.Namespace, *, quiet: bool = True) -> GatewayConfig | None:
    """The configuration, with logs going to stderr (stdout is for the command's output).

    ``quiet`` keeps read-only commands to warnings; actions log at the configured level, so a
    release or delete from the shell leaves the same structured record as one from the web page.
    """
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"gateway: configuration error in {exc.source}:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return None
    configure_logging(config.log.format, "warning" if quiet else config.log.level)
    return config


def owner_mismatch(state_dir: Path) -> str | None:
    """Files this process creates in the state folder must belong to the service user."""
    try:
        owner = state_dir.stat().st_uid
    except FileNotFoundError:
        return f"no state directory at {state_dir}"
    if owner != os.geteuid():
        return (f"{state_dir} belongs to uid {owner}; run this as that user "
                f"(e.g. sudo -u <service user> gateway ...), so its files stay the service's own")
    return None


def state_owned(state_dir: Path, prog: str = "gateway") -> bool:
    """May this process create files in ``state_dir`` (SQLite's -wal/-shm, the spool's)? Says why
    not on stderr."""
    problem = owner_mismatch(state_dir)
    if problem is not None:
        print(f"{prog}: {problem}", file=sys.stderr)
        return False
    return True


def load_state(args: argparse.Namespace, *, quiet: bool = True) -> GatewayConfig | None:
    """The configuration of a command that works on an existing state; None (after saying why) when
    there is no SQLite state yet or it is not the service user's (PostgreSQL state: no files here)."""
    config = load(args, quiet=quiet)
    if config is None:
        return None
    if config.state.database is None:
        if not (config.state_dir / "gateway.db").exists():
            print(f"gateway: no state at {config.state_dir}", file=sys.stderr)
            return None
        if not state_owned(config.state_dir):
            return None
    return config


def with_store(config: GatewayConfig, fn: Callable[[Store], Awaitable[T]]) -> T | None:
    """Open the configured store, run ``fn(store)`` and close it; None (after saying why on stderr)
    when the store cannot be opened."""
    async def main() -> T:
        store = await open_store(config)
        try:
            return await fn(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except StoreError as exc:
        print(f"gateway: state at {describe(config)}: {exc}", file=sys.stderr)
        return None


def actor(explicit: str | None) -> str:
    if explicit:
        return explicit
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return f"cli:{user}"


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def fmt_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
