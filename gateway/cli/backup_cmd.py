"""`gateway backup DIR` and `gateway restore DIR`: one instance's whole state, with a manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.cli.common import emit_json, load, owner_mismatch


def register(sub: Any) -> None:
    backup = sub.add_parser(
        "backup", help="copy the state (registry, quarantine, evidence, spool, instance id) into DIR",
        description="Copy this instance's state into DIR (new or empty) while the gateway runs: "
                    "gateway.db and the spool with SQLite's online backup, then the quarantined "
                    "messages and bounce evidence, the instance id, and manifest.json with a "
                    "SHA-256 per file. With PostgreSQL, the database is pg_dump's job; DIR gets "
                    "the spool and instance id. Run as the service user.")
    backup.add_argument("dir", type=Path, metavar="DIR")
    backup.add_argument("--config", type=Path, help="the gateway's TOML configuration file")
    backup.add_argument("--json", action="store_true", help="print the manifest")
    backup.set_defaults(func=run_backup)
    restore = sub.add_parser(
        "restore", help="put a backup made by `gateway backup` in place (gateway stopped)",
        description="Verify every checksum in DIR/manifest.json, then move the state folder's "
                    "databases, quarantine, evidence and instance id aside (replaced-<time>/) and "
                    "copy the backup's in. Refused while a gateway serves from the state folder. "
                    "Messages in the restored spool are delivered again at start. Run as the "
                    "service user.")
    restore.add_argument("dir", type=Path, metavar="DIR")
    restore.add_argument("--config", type=Path, help="the gateway's TOML configuration file")
    restore.add_argument("--verify-only", action="store_true", help="only check the backup's checksums")
    restore.add_argument("--new-instance-id", action="store_true",
                         help="do not restore the instance id (a copy that runs beside the original)")
    restore.set_defaults(func=run_restore)


def run_backup(args: argparse.Namespace) -> int:
    from gateway.backup import BackupError, make_backup

    config = load(args)
    if config is None:
        return 2
    mismatch = owner_mismatch(config.state_dir)
    if mismatch is not None:
        print(f"gateway backup: {mismatch}", file=sys.stderr)
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
        if config.state_dir.exists():
            mismatch = owner_mismatch(config.state_dir)
            if mismatch is not None:
                print(f"gateway restore: {mismatch}", file=sys.stderr)
                return 2
        aside = restore_backup(config, args.dir, new_instance_id=args.new_instance_id)
    except (BackupError, OSError) as exc:
        print(f"gateway restore: {exc}", file=sys.stderr)
        return 2
    print(f"restored {args.dir} into {config.state_dir}"
          + (f"; what was there is in {aside}" if aside is not None else ""))
    return 0
