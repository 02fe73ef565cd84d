"""This instance's identity: a random id kept in its state directory.

Several instances share one database, each with its own state directory (its spool). Work one of
them started and must finish itself, because only its spool can tell how far it got (a quarantine
release), is marked with this id. It survives restarts and upgrades; a copied state directory
must get a new one (delete the file).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from gateway.fsutil import write_durably

INSTANCE_FILE = "instance-id"


def instance_id(state_dir: Path) -> str:
    path = state_dir / INSTANCE_FILE
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    new = uuid.uuid4().hex
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_durably(path, f"{new}\n".encode("ascii"))
    return new
