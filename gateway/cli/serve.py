"""`gateway serve [--config FILE]`: run the gateway in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, load_config
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
    return_large_buffers_to_os()
    from gateway.app import Gateway

    try:
        asyncio.run(Gateway(config).run())
    except KeyboardInterrupt:
        return 130
    return 0
