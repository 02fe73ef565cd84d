"""`gateway health`: ask the running gateway's /readyz, for container health checks and scripts.

The admin address comes from the configuration (``--config``, else ``$GATEWAY_CONFIG``), so a
health check follows ``[admin] listen`` instead of hard-coding a port.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, load_config

_LOCAL = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1", "*": "127.0.0.1"}


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "health", help="exit 0 when the running gateway answers /readyz with 200",
        description="GET /readyz on the admin address the configuration names; exit 0 when ready, "
                    "1 when not (or not answering), 2 when the configuration has no admin server.")
    parser.add_argument("--config", type=Path, default=None,
                        help="the gateway's TOML configuration (default: $GATEWAY_CONFIG)")
    parser.add_argument("--timeout", type=float, default=4.0, help="seconds to wait for the answer")
    parser.set_defaults(func=run)


def readyz_url(host: str, port: int) -> str:
    host = _LOCAL.get(host, host)
    return f"http://[{host}]:{port}/readyz" if ":" in host else f"http://{host}:{port}/readyz"


def run(args: argparse.Namespace) -> int:
    path = args.config
    if path is None and os.environ.get("GATEWAY_CONFIG"):
        path = Path(os.environ["GATEWAY_CONFIG"])
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"gateway health: {exc}", file=sys.stderr)
        return 2
    address = config.admin.listen_address
    if address is None:
        print("gateway health: admin server disabled ([admin] enabled = false): no /readyz", file=sys.stderr)
        return 2
    url = readyz_url(*address)
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        print(f"gateway health: {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{url}: {status}")
    return 0 if status == 200 else 1
