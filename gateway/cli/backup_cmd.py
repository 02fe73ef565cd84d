"""`gateway backup DIR` and `gateway restore DIR`: one instance's whole state, with a manifest."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.cli.common import emit_json, load, state_owned


def register(sub: Any) -> None:
    backup = _dir_command(
        sub, "backup", run_backup,
        help="copy the state (registry, quarantine, evidence, spool, instance id) into DIR",
        description="Copy this instance's state into DIR (new or empty) while the gateway runs: "
                    "gateway.db and the spool with SQLite's online backup, then the quarantined "
                    "messages and bounce evidence, the instance id, and manifest.json with a "
                    "SHA-256 per file. With PostgreSQL, the database is pg_dump's job; DIR gets "
                    "the spool and instance id. Run as the service user.")
    backup.add_argument("--json", action="store_true", help="print the manifest")
    restore = _dir_command(
        sub, "restore", run_restore,
        help="put a backup made by `gateway backup` in place (gateway stopped)",
        description="Verify every checksum in DIR/manifest.json, then move the state folder's "
                    "databases, quarantine, evidence and instance id aside (replaced-<time>/) and "
                    "copy the backup's in. Refused while a gateway serves from the state folder. "
                    "Messages in the restored spool are delivered again at start. Run as the "
                    "service user.")
    restore.add_argument("--verify-only", action="store_true", help="only check the backup's checksums")
    restore.add_argument("--new-instance-id", action="store_true",
                         help="do not restore the instance id (a copy that runs beside the original)")


def _dir_command(sub: Any, name: str, func: Callable[[argparse.Namespace], int], *, help: str,
                 description: str) -> argparse.ArgumentParser:
    """A sub-command on a backup folder DIR and the state of ``--config``."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
    parser.add_argument("dir", type=Path, metavar="DIR")
    parser.add_argument("--config", type=Path, help="the gateway's TOML configuration file")
    parser.set_defaults(func=func)
    return parser


def run_backup(args: argparse.Namespace) -> int:
    from gateway.backup import BackupError, make_backup

    config = load(args)
    if config is None:
        return 2
    if not state_owned(config.state_dir, "gateway backup"):
        return 2
    try:
        manifest = make_backup(config, args.dir)
    except (BackupError, OSError) as exc:
        print(f"gateway backup: {exc}", file=sys.stderr)
        return 2
    if args.json:
        emit_json(manifest.as_json())
    else:
        total = sum(f["size"] for f in manifest.files.values())
        print(f"backed up {len(manifest.files)} files ({total} bytes) of {config.state_dir} into {args.dir}")
        for note in manifest.notes:
            print(f"note: {note}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from gateway.backup import BackupError, restore_backup, verify

    config = load(args)
    if config is None:
        return 2
    try:
        if args.verify_only:
            data = verify(args.dir)
            print(f"{args.dir}: {len(data['files'])} files, every checksum matches")
            return 0
        if config.state_dir.exists() and not state_owned(config.state_dir, "gateway restore"):
            return 2
        aside = restore_backup(config, args.dir, new_instance_id=args.new_instance_id)
    except (BackupError, OSError) as exc:
        print(f"gateway restore: {exc}", file=sys.stderr)
        return 2
    print(f"restored {args.dir} into {config.state_dir}"
          + (f"; what was there is in {aside}" if aside is not None else ""))
    return 0
