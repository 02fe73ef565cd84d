"""`gateway dkim keygen|dns`: make a DKIM key for a sender domain and print the DNS record to publish.

The gateway signs what it relays with these keys (``[[dkim.keys]]``), because a subject rewrite or a
repair breaks a signature the seller's system made before the gateway.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from gateway.signing import DkimError, DkimKey, dns_record, generate_key, load_key


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("dkim", help="DKIM keys for the domains the gateway signs for")
    dsub = parser.add_subparsers(dest="dkim_command", metavar="ACTION", required=True)
    gen = dsub.add_parser("keygen", help="write a new RSA key (0600) and print its DNS TXT record")
    gen.add_argument("--domain", required=True, help="the sender (From) domain, e.g. shop.example")
    gen.add_argument("--selector", required=True, help="the selector, e.g. smgw2026")
    gen.add_argument("--bits", type=int, default=2048, choices=(1024, 2048, 3072, 4096))
    gen.add_argument("--out", type=Path, required=True, help="the key file to write (refuses to overwrite)")
    gen.set_defaults(func=keygen)
    dns = dsub.add_parser("dns", help="print the DNS TXT record of an existing key")
    dns.add_argument("--domain", required=True)
    dns.add_argument("--selector", required=True)
    dns.add_argument("--key", type=Path, required=True, help="the PEM private key file")
    dns.set_defaults(func=show_dns)


def _print_record(key: DkimKey) -> None:
    name, value = dns_record(key)
    # TXT strings are limited to 255 characters each; zone files take several quoted parts.
    parts = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
    print(f"{name}. IN TXT ( {parts} )")


def keygen(args: argparse.Namespace) -> int:
    out: Path = args.out
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"gateway: {out} exists; not overwriting a key that may be published", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"gateway: cannot create {out}: {exc.strerror}", file=sys.stderr)
        return 2
    with os.fdopen(fd, "wb") as fh:
        fh.write(generate_key(args.bits))
        fh.flush()
        os.fsync(fh.fileno())
    try:
        key = load_key(args.domain, args.selector, out)
    except DkimError as exc:  # pragma: no cover - we just wrote it
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    print(f"# wrote {out}; publish this record, then add to the configuration:", file=sys.stderr)
    print(f'#   [[dkim.keys]]\n#   domain = "{key.domain}"\n#   selector = "{key.selector}"\n'
          f'#   key_file = "{out.resolve()}"', file=sys.stderr)
    _print_record(key)
    return 0


def show_dns(args: argparse.Namespace) -> int:
    try:
        key = load_key(args.domain, args.selector, args.key)
    except DkimError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    _print_record(key)
    return 0
