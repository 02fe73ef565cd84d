"""`gateway spool check|salvage`: is the spool intact, and recovering what a damaged one still holds.

``check`` is read-only (SQLite's full integrity_check plus the entry counts): exit 0 when intact,
1 when damaged. ``salvage`` needs the gateway stopped (it takes the delivery lock): it copies every
readable entry into a fresh spool, keeps the damaged file as ``spool.sqlite3.damaged-<time>`` and
writes messages whose envelope is lost to a folder of .eml files for the admin to resend.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gateway.cli.common import add_state_options, emit_json, load
from gateway.delivery.lock import DeliveryAlreadyRunning, lock_spool
from gateway.spool import DB_NAME
from gateway.spool.integrity import check_file
from gateway.spool.marker import record
from gateway.spool.salvage import salvage


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "spool", help="check or salvage the durable spool",
        description="Check the spool database's integrity, or rebuild it from what is readable.")
    actions = parser.add_subparsers(dest="spool_command", metavar="ACTION", required=True)
    p = actions.add_parser("check", help="integrity check and entry counts (read-only)",
                           description="Run SQLite's integrity check on the spool; exit 1 if damaged.")
    add_state_options(p)
    p.set_defaults(func=cmd_check)
    p = actions.add_parser(
        "salvage", help="rebuild the spool from its readable entries (gateway stopped)",
        description="Copy every readable entry into a fresh spool, keep the damaged file beside it, "
                    "and write messages whose envelope is lost as .eml files. Stop the gateway first.")
    add_state_options(p)
    p.set_defaults(func=cmd_salvage)


def _spool_dir(args: argparse.Namespace) -> Path | None:
    config = load(args)
    return None if config is None else config.state_dir / "spool"


def cmd_check(args: argparse.Namespace) -> int:
    directory = _spool_dir(args)
    if directory is None:
        return 2
    report = check_file(directory / DB_NAME)
    if args.json:
        emit_json({"path": str(report.path), "ok": report.ok, "problems": report.problems,
                   "pending": report.pending, "finished": report.finished})
    elif report.ok:
        print(f"{report.path}: ok ({report.pending} pending, {report.finished} finished entries)")
    else:
        print(f"{report.path}: DAMAGED")
        for line in report.problems:
            print(f"  {line}")
        print("recover with: gateway spool salvage (with the gateway stopped)")
    return 0 if report.ok else 1


def cmd_salvage(args: argparse.Namespace) -> int:
    directory = _spool_dir(args)
    if directory is None:
        return 2
    if not directory.is_dir():
        print(f"gateway spool salvage: no spool directory at {directory}")
        return 2
    try:
        fd = lock_spool(directory)
    except DeliveryAlreadyRunning as exc:
        print(f"gateway spool salvage: {exc}; stop the gateway first")
        return 2
    try:
        report = salvage(directory, DB_NAME)
        record(directory, report.pending)
    finally:
        os.close(fd)
    if args.json:
        data = asdict(report)
        emit_json({k: (str(v) if isinstance(v, Path) else [str(p) for p in v] if isinstance(v, list) else v)
                   for k, v in data.items()})
    else:
        print(f"salvaged {report.messages} entries ({report.pending} pending, {report.recipients} "
              f"recipients) into {report.source}")
        if report.kept_as is not None:
            print(f"the damaged file is kept as {report.kept_as}")
        if report.unreadable_rows:
            print(f"{report.unreadable_rows} rows could not be read")
        if report.envelope_lost:
            print(f"{len(report.envelope_lost)} messages lost their envelope; their content is in "
                  f"{report.envelope_lost[0].parent}")
    return 0
