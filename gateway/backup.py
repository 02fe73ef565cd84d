"""``gateway backup DIR`` / ``gateway restore DIR``: the whole state of one instance, verifiably.

What a backup holds (see docs/OPERATIONS.md, "Back up and restore state"):

- ``gateway.db`` (SQLite backend): registry, relay records, quarantine index, decisions, per-order
  counters and daily caps, audit; copied with SQLite's online backup API, so the gateway may keep
  running. Then ``quarantine/`` and ``evidence/`` (the bytes the rows point at): a file is always
  written before its row, so copying the files *after* the database gives every row its file.
- ``spool/spool.sqlite3``: accepted mail not yet delivered (online backup API as well).
- ``instance-id``: release recovery finds this instance's unfinished work by it.
- ``manifest.json``: format, time, backend, instance id and a SHA-256 and size for every file.

With PostgreSQL (``[state] database``) the registry, quarantine, evidence and counters live in the
database, which ``pg_dump`` backs up; the backup then holds the per-instance rest (spool and
instance id) and says so in its manifest.

``restore`` checks every checksum before it touches anything, refuses while a gateway serves from
the state folder, and moves what the state folder held aside (``replaced-<time>/``), never deletes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config import GatewayConfig
from gateway.fsutil import fsync_dir
from gateway.instance import INSTANCE_FILE

MANIFEST = "manifest.json"
FORMAT = 1
DATABASES = ("gateway.db", "spool/spool.sqlite3")
FOLDERS = ("quarantine", "evidence")


class BackupError(Exception):
    """The backup cannot be made or restored; the message says why, for an admin."""


@dataclass
class Manifest:
    backend: str
    instance_id: str | None
    created: float
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        from gateway import __version__

        return {"format": FORMAT, "created": self.created, "gateway_version": __version__,
                "backend": self.backend, "instance_id": self.instance_id, "notes": self.notes,
                "files": self.files}


def _digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while writers go on (WAL included)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30.0)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            # One self-contained file: no -wal next to it.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    os.chmod(target, 0o600)
    _fsync_file(target)


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(source, target)
    os.chmod(target, 0o600)
    _fsync_file(target)


def make_backup(config: GatewayConfig, out: Path) -> Manifest:
    """Copy this instance's state into ``out`` (new or empty) and write its manifest last."""
    state = config.state_dir
    if not state.is_dir():
        raise BackupError(f"no state folder at {state}")
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: back up into a new folder")
    with contextlib.suppress(ValueError):
        out.resolve().relative_to(state.resolve())
        raise BackupError(f"{out} is inside the state folder {state}: back up elsewhere")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out, 0o700)
    postgres = config.state.database is not None
    manifest = Manifest(backend="postgresql" if postgres else "sqlite", instance_id=None, created=time.time())
    if postgres:
        manifest.notes.append("registry, quarantine, evidence, counters and audit are in PostgreSQL: "
                              "back them up with pg_dump (docs/OPERATIONS.md)")
    names = [n for n in DATABASES if not (postgres and n == "gateway.db")]
    for name in names:
        if (state / name).is_file():
            _sqlite_copy(state / name, out / name)
    if not postgres:
        for folder in FOLDERS:
            source = state / folder
            if source.is_dir():
                for item in sorted(source.iterdir()):
                    if item.is_file() and not item.name.startswith("."):
                        _copy_file(item, out / folder / item.name)
    if (state / INSTANCE_FILE).is_file():
        _copy_file(state / INSTANCE_FILE, out / INSTANCE_FILE)
        manifest.instance_id = (state / INSTANCE_FILE).read_text(encoding="ascii").strip() or None
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        digest, size = _digest(path)
        manifest.files[path.relative_to(out).as_posix()] = {"sha256": digest, "size": size}
    for written in {out, *(p.parent for p in out.rglob("*") if p.is_file())}:
        fsync_dir(written)
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest.as_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    _fsync_file(tmp)
    os.replace(tmp, out / MANIFEST)
    fsync_dir(out)
    return manifest


def read_manifest(backup: Path) -> dict[str, Any]:
    try:
        data = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"no {MANIFEST} in {backup}: not a gateway backup, or an unfinished one") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{backup / MANIFEST} cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
        raise BackupError(f"{backup / MANIFEST}: not a format {FORMAT} gateway backup manifest")
    return data


def verify(backup: Path) -> dict[str, Any]:
    """The manifest, after every file in it was found with its checksum; BackupError otherwise."""
    data = read_manifest(backup)
    bad: list[str] = []
    for name, entry in data["files"].items():
        path = backup / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            bad.append(f"{name}: not a path inside the backup")
        elif not path.is_file():
            bad.append(f"{name}: missing")
        elif _digest(path) != (entry.get("sha256"), entry.get("size")):
            bad.append(f"{name}: checksum does not match")
    if bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise BackupError(f"{backup} fails verification: {shown}")
    return data


def restore_backup(config: GatewayConfig, backup: Path, *, new_instance_id: bool = False) -> Path | None:
    """Put a verified backup in place of the state folder's contents. Returns the folder the
    replaced files were moved to (None when there were none). The gateway must be stopped."""
    from gateway.lifecycle import NotServing, running_gateway

    data = verify(backup)
    postgres = config.state.database is not None
    if (data["backend"] == "postgresql") != postgres:
        raise BackupError(f"the backup is of a {data['backend']} gateway; this configuration uses "
                          f"{'postgresql' if postgres else 'sqlite'}")
    state = config.state_dir
    try:
        pid = running_gateway(state)
    except NotServing:
        pass
    else:
        raise BackupError(f"a gateway (pid {pid}) is serving from {state}: stop it first")
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    aside = state / time.strftime("replaced-%Y%m%dT%H%M%S", time.gmtime())
    moved = False
    names: tuple[str, ...] = (*DATABASES, *FOLDERS, INSTANCE_FILE)
    for name in names:
        for suffix in ("", "-wal", "-shm", "-journal"):
            current = state / f"{name}{suffix}"
            if current.exists():
                target = aside / f"{name}{suffix}"
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.replace(current, target)
                moved = True
    for name in sorted(data["files"]):
        if new_instance_id and name == INSTANCE_FILE:
            continue  # the gateway makes a new one at start: a copy running beside the original
        _copy_file(backup / name, state / name)
    for directory in (state, state / "spool", *(state / f for f in FOLDERS)):
        if directory.is_dir():
            os.chmod(directory, 0o700)
            fsync_dir(directory)
    return aside if moved else None
