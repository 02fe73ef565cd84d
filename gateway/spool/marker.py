"""The state directory remembers that a spool existed, so a vanished one is an error, not a fresh start.

A deleted or zero-length ``spool.sqlite3`` would otherwise be recreated empty, silently losing
every message that was waiting in it. ``<spool dir>.json`` beside the spool directory records when
the spool was created and its pending count when last opened or closed; with that file present and
the database gone, opening the spool fails with SpoolMissing unless the admin accepts an empty one
(``gateway serve --accept-empty-spool``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gateway.fsutil import write_durably
from gateway.spool.errors import SpoolMissing


def marker_path(directory: Path) -> Path:
    return directory.parent / f"{directory.name}.json"


def read_marker(directory: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(marker_path(directory).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def check_present(directory: Path, db_path: Path, accept_empty: bool) -> None:
    """Raise SpoolMissing if a spool existed here and its database is now missing or empty."""
    seen = read_marker(directory)
    if seen is None or accept_empty:
        return
    if db_path.exists() and db_path.stat().st_size > 0:
        return
    what = "is missing" if not db_path.exists() else "is empty (0 bytes)"
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(seen.get("updated", 0))))
    raise SpoolMissing(
        f"spool database {db_path} {what}, but this state directory had a spool "
        f"({seen.get('pending', '?')} messages pending at {when}); their relay records may still be "
        "in the state database",
        recovery=f"restore {db_path.parent} from a backup, or start with --accept-empty-spool "
                 "to begin with an empty spool")


def record(directory: Path, pending: int) -> None:
    seen = read_marker(directory) or {}
    now = time.time()
    seen = {"created": seen.get("created", now), "updated": now, "pending": pending,
            "database": str(directory.name)}
    write_durably(marker_path(directory), json.dumps(seen).encode())
