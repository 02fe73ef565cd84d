"""Salvage: copy what is still readable of a damaged spool into a fresh one (`gateway spool salvage`)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway.spool.integrity import _open_for_reading

# How far past the last readable row id salvage keeps probing for more.
_PROBE_GAP = 10_000


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
