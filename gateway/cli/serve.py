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

# glibc's mallopt parameter number for the mmap threshold (malloc.h: M_MMAP_THRESHOLD).
_M_MMAP_THRESHOLD = -3


def return_large_buffers_to_os(threshold: int = 1024 * 1024) -> bool:
    """Serve allocations of ``threshold`` bytes and more with mmap, so freeing them returns memory.

    glibc raises its mmap threshold each time a large block is freed (up to 32 MB), after which
    multi-megabyte message buffers come from the heap and stay in RSS once freed; a fixed threshold
    keeps RSS close to what is really in use. Same as MALLOC_MMAP_THRESHOLD_=1048576. No-op off glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve", help="run the SMTP gateway",
        description="Run the SMTP gateway. Without --config: embedded defaults (127.0.0.1:2525, "
                    "state in ./state, a Maildir outbox as upstream).")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--accept-empty-spool", action="store_true",
                        help="start although the spool this state directory had is missing or empty "
                             "(its pending messages are then lost)")
    parser.set_defaults(func=run)
    deliver = sub.add_parser(
        "deliver", help="run only delivery from the spool (normally started by serve)",
        description="Deliver what the spool holds, without listening. `gateway serve` starts this "
                    "itself when [delivery] process = \"separate\".")
    source = deliver.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="TOML configuration file")
    source.add_argument("--config-stdin", action="store_true", help="read the configuration as JSON on stdin")
    deliver.add_argument("--watch-parent", action="store_true",
                         help="with --config-stdin: the JSON is one line, and end of file on stdin "
                              "afterwards (the parent is gone) stops delivery")
    deliver.set_defaults(func=deliver_only)
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


def deliver_only(args: argparse.Namespace) -> int:
    if args.config_stdin:
        try:
            raw = sys.stdin.buffer.readline() if args.watch_parent else sys.stdin.buffer.read()
            config = GatewayConfig.model_validate_json(raw)
        except ValueError as exc:
            print(f"gateway deliver: bad configuration on stdin: {exc}", file=sys.stderr)
            return 2
    else:
        loaded = _load(args.config)
        if loaded is None:
            return 2
        config = loaded
    configure_logging(config.log.format, config.log.level)
    from gateway.deliverer import run_delivery
    from gateway.delivery import DeliveryAlreadyRunning

    try:
        asyncio.run(run_delivery(config, sys.stdin.buffer if args.watch_parent else None))
    except DeliveryAlreadyRunning as exc:
        print(f"gateway deliver: {exc}", file=sys.stderr)
        return 75  # EX_TEMPFAIL: the supervisor waits longer before the next try
    return 0


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
    return_large_buffers_to_os()
    from gateway.app import Gateway
    from gateway.log import get_logger
    from gateway.store.base import StoreError
    from gateway.store.factory import describe

    try:
        asyncio.run(Gateway(config, config_path=args.config,
                            accept_empty_spool=args.accept_empty_spool).run())
    except KeyboardInterrupt:
        return 130
    except StoreError as exc:
        # Unreachable database or a schema that is behind: say so (and how to fix it), no traceback;
        # systemd's Restart= tries again, which is what an unreachable database needs.
        get_logger("gateway.serve").error("state_unavailable", state=describe(config), error=str(exc))
        print(f"gateway: state at {describe(config)}: {exc}", file=sys.stderr)
        return 2
    return 0
