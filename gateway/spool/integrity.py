"""Is the spool intact, and if not, what can be saved: `gateway spool check` and `salvage`.

The spool checks itself with ``PRAGMA quick_check`` when it opens and treats SQLite's "malformed"
and "not a database" errors at run time the same way: it stops taking mail (451 4.3.0) rather than
acknowledge messages into a file it may never read back. ``salvage`` copies every entry it can
still read, row by row (a damaged page costs the rows on it, not the rest), into a fresh spool
and keeps the damaged file beside it; messages whose envelope is lost are written out as .eml
files for the admin.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

# Primary result codes (the low byte of an extended code).
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_NOTADB = 26


def _primary(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_corruption(exc: sqlite3.Error) -> bool:
    code = _primary(exc)
    if code is not None:
        return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def is_disk_full(exc: sqlite3.Error) -> bool:
    code = _primary(exc)
    return code == _SQLITE_FULL if code is not None else "full" in str(exc).lower()


def quick_check(conn: sqlite3.Connection, limit: int = 5) -> list[str]:
    """SQLite's quick_check (structure, not index contents): [] when the file is intact."""
    rows = [str(r[0]) for r in conn.execute(f"PRAGMA quick_check({int(limit)})").fetchall()]
    return [] if rows == ["ok"] else rows


def _open_for_reading(path: Path) -> sqlite3.Connection:
    # Not mode=ro: after a crash the WAL holds committed entries, and reading it needs the
    # shared-memory index that a read-only connection cannot build. query_only keeps it a reader.
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA query_only=ON")
    return conn


@dataclass
class CheckReport:
    path: Path
    problems: list[str]
    pending: int | None = None
    finished: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def check_file(path: Path) -> CheckReport:
    """Read-only: the full integrity check and the entry counts, for `gateway spool check`."""
    if not path.exists():
        return CheckReport(path, [f"{path} does not exist"])
    if path.stat().st_size == 0:
        return CheckReport(path, [f"{path} is empty (0 bytes)"])
    try:
        conn = _open_for_reading(path)
    except sqlite3.Error as exc:
        return CheckReport(path, [str(exc)])
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
        problems = [] if rows == ["ok"] else rows
        report = CheckReport(path, problems)
        try:
            counts = dict(conn.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall())
            report.pending, report.finished = counts.get("pending", 0), counts.get("done", 0)
        except sqlite3.Error as exc:
            report.problems.append(f"cannot count entries: {exc}")
        return report
    except sqlite3.Error as exc:
        return CheckReport(path, [str(exc)])
    finally:
        conn.close()
