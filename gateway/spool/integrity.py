"""Is the spool intact, and if not, what can be saved: `gateway spool check` and `salvage`.

The spool checks itself with ``PRAGMA quick_check`` when it opens and treats SQLite's "malformed"
and "not a database" errors at run time the same way: it stops taking mail (451 4.3.0) rather than
acknowledge messages into a file it may never read back. ``salvage`` copies every entry it can
still read, row by row (a damaged page costs the rows on it, not the rest), into a fresh spool
and keeps the damaged file beside it; messages whose envelope is lost are written out as .eml
files for the admin.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

# Primary result codes (the low byte of an extended code).
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_NOTADB = 26
# How far past the last readable row id salvage keeps probing for more.
_PROBE_GAP = 10_000


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


@dataclass
class SalvageReport:
    source: Path
    kept_as: Path | None = None
    messages: int = 0
    pending: int = 0
    recipients: int = 0
    unreadable_rows: int = 0
    envelope_lost: list[Path] = field(default_factory=list)


def _probe_rows(conn: sqlite3.Connection, table: str, columns: str) -> tuple[list[tuple[object, ...]], int]:
    """Every row of ``table`` readable by rowid lookups, and how many lookups failed."""
    rows: list[tuple[object, ...]] = []
    bad = 0
    try:
        top = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.Error:
        top = 0
    rowid, last_seen = 0, 0
    while rowid < max(top, last_seen) + _PROBE_GAP:
        rowid += 1
        try:
            row = conn.execute(f"SELECT {columns} FROM {table} WHERE rowid=?", (rowid,)).fetchone()
        except sqlite3.Error:
            bad += 1
            continue
        if row is not None:
            rows.append(tuple(row))
            last_seen = rowid
    return rows, bad


def salvage(spool_dir: Path, db_name: str) -> SalvageReport:
    """Rebuild ``spool_dir/db_name`` from what is readable; the damaged file is kept beside it.

    The gateway (and its delivery process) must be stopped: the caller holds the delivery lock.
    """
    from gateway.spool.writer import INSERT_MESSAGE, SCHEMA, connect

    source = spool_dir / db_name
    report = SalvageReport(source)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    fresh_path = spool_dir / f"{db_name}.salvaged-{stamp}"
    old = _open_for_reading(source) if source.exists() else None
    messages: list[tuple[object, ...]] = []
    recipients: list[tuple[object, ...]] = []
    if old is not None:
        try:
            messages, bad_m = _probe_rows(old, "messages", "id, mail_from, data, meta, arrived, state, "
                                                           "attempts, next_attempt, finished")
            recipients, bad_r = _probe_rows(old, "recipients", "message_id, position, address, state, "
                                                               "code, reply, updated")
            report.unreadable_rows = bad_m + bad_r
        finally:
            old.close()
    by_message: dict[object, list[tuple[object, ...]]] = {}
    for r in recipients:
        by_message.setdefault(r[0], []).append(r)
    fresh = connect(fresh_path)
    try:
        fresh.executescript(SCHEMA)
        fresh.execute("BEGIN IMMEDIATE")
        lost_dir = spool_dir / f"salvage-{stamp}-envelope-lost"
        for m in messages:
            rcpts = by_message.get(m[0], [])
            if not rcpts:
                if m[5] == "pending" and isinstance(m[2], bytes | bytearray):
                    lost_dir.mkdir(exist_ok=True)
                    path = lost_dir / f"{m[0]}.eml"
                    path.write_bytes(bytes(m[2]))
                    report.envelope_lost.append(path)
                continue
            fresh.execute(INSERT_MESSAGE, (m[0], m[1], m[2], m[3], m[4], m[4]))
            fresh.execute("UPDATE messages SET state=?, attempts=?, next_attempt=?, finished=? WHERE id=?",
                          (m[5], m[6], m[7], m[8], m[0]))
            fresh.executemany("INSERT OR IGNORE INTO recipients (message_id, position, address, state, "
                              "code, reply, updated) VALUES (?,?,?,?,?,?,?)", rcpts)
            report.messages += 1
            report.recipients += len(rcpts)
            report.pending += m[5] == "pending"
        fresh.execute("CREATE TABLE IF NOT EXISTS spool_info (key TEXT PRIMARY KEY, value TEXT)")
        fresh.execute("INSERT OR REPLACE INTO spool_info VALUES ('salvaged_from', ?)",
                      (json.dumps({"source": str(source), "at": time.time()}),))
        fresh.execute("COMMIT")
        fresh.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        fresh.close()
    if source.exists():
        report.kept_as = spool_dir / f"{db_name}.damaged-{stamp}"
        os.replace(source, report.kept_as)
    for suffix in ("-wal", "-shm"):
        stale = spool_dir / f"{db_name}{suffix}"
        if stale.exists():
            os.replace(stale, spool_dir / f"{db_name}.damaged-{stamp}{suffix}")
    for suffix in ("-wal", "-shm"):
        (spool_dir / f"{fresh_path.name}{suffix}").unlink(missing_ok=True)
    os.replace(fresh_path, source)
    from gateway.fsutil import fsync_dir

    fsync_dir(spool_dir)
    return report
