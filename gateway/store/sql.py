"""The SQL both backends share, written once, with the few dialect differences as data.

SQLite and PostgreSQL run the same statements: the upserts of the opt-out registry, the atomic
reserve of a count, the relay and decision inserts, the filtered lists, and the mapping of rows
to records. What differs is the placeholder (``?`` / ``%s``), the clock (the store thread's clock
on SQLite, the database's on PostgreSQL, so instances with skewed clocks still agree), the names
of LEAST/GREATEST, and how JSON and lists are stored (text on SQLite, jsonb and arrays on
PostgreSQL: the backend encodes arguments, ``decode`` below reads them back).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.store.records import AliasRecord, AuditEntry, DecisionRecord, NoticeRecord, QuarantineRecord, RelayRecord


@dataclass(frozen=True)
class Dialect:
    name: str
    p: str
    """The parameter placeholder."""
    now: str
    """An SQL expression for the current time in epoch seconds, fixed for one operation."""
    least: str
    greatest: str
    true: str
    false: str

    def marks(self, n: int) -> str:
        return ", ".join([self.p] * n)


class Statement:
    """One statement written once, with ``?`` for each parameter and ``{now}`` for the clock,
    rendered for a dialect when called (and cached)."""

    def __init__(self, template: str) -> None:
        self.template = template
        self._rendered: dict[str, str] = {}

    def __call__(self, d: Dialect) -> str:
        text = self._rendered.get(d.name)
        if text is None:
            text = self.template.replace("?", d.p).replace("{now}", d.now).replace("{true}", d.true)
            self._rendered[d.name] = text
        return text


SQLITE = Dialect("sqlite", "?", "gw_now()", "MIN", "MAX", "1", "0")
POSTGRES = Dialect("postgresql", "%s", "extract(epoch FROM now())::double precision", "LEAST", "GREATEST", "true",
                   "false")

ALIAS_COLUMNS = "alias, status, marketplace, order_id, first_seen, last_seen, evidence, source, tenant"
NOTICE_COLUMNS = ("id, at, kind, order_id, marketplace, alias, matched_by, source, report, resolved,"
                  " evidence, tenant")
AUDIT_COLUMNS = "id, at, actor, action, object, reason"
DECISION_COLUMNS = "at, ref, message_id, peer, mail_from, rcpt_tos, marketplace, action, rules, tenant, shadow"
QUARANTINE_COLUMNS = ("id, held_at, peer, mail_from, rcpt_tos, message_id, subject, marketplace, verdict,"
                      " size, status, tenant")


# -- the opt-out registry -------------------------------------------------------------------------

def insert_alias(d: Dialect) -> str:
    """(tenant, alias, status, marketplace, order_id, evidence, source), seen now."""
    return ("INSERT INTO aliases (tenant, alias, status, marketplace, order_id, first_seen, last_seen,"
            f" evidence, source) VALUES ({d.marks(5)}, {d.now}, {d.now}, {d.marks(2)})")


def upsert_alias(d: Dialect) -> str:
    """``insert_alias``, or the incoming status wins and a known marketplace and order are kept."""
    return (f"{insert_alias(d)} ON CONFLICT (tenant, alias) DO UPDATE SET status = excluded.status,"
            " marketplace = COALESCE(excluded.marketplace, aliases.marketplace),"
            " order_id = COALESCE(excluded.order_id, aliases.order_id),"
            " last_seen = excluded.last_seen, evidence = excluded.evidence, source = excluded.source")


def merge_alias(d: Dialect) -> str:
    """A whole record (an import) merged in: the earliest first_seen, the latest last_seen and,
    when the incoming record is the newer one, its status, evidence and source. Arguments: tenant,
    alias, status, marketplace, order_id, first_seen, last_seen, evidence, source."""
    newer = "excluded.last_seen >= aliases.last_seen"
    return ("INSERT INTO aliases (tenant, alias, status, marketplace, order_id, first_seen, last_seen,"
            f" evidence, source) VALUES ({d.marks(9)})"
            " ON CONFLICT (tenant, alias) DO UPDATE SET"
            f" status = CASE WHEN {newer} THEN excluded.status ELSE aliases.status END,"
            f" evidence = CASE WHEN {newer} THEN excluded.evidence ELSE aliases.evidence END,"
            f" source = CASE WHEN {newer} THEN excluded.source ELSE aliases.source END,"
            " marketplace = COALESCE(aliases.marketplace, excluded.marketplace),"
            " order_id = COALESCE(aliases.order_id, excluded.order_id),"
            f" first_seen = {d.least}(aliases.first_seen, excluded.first_seen),"
            f" last_seen = {d.greatest}(aliases.last_seen, excluded.last_seen)")


alias_status = Statement("SELECT status FROM aliases WHERE tenant = ? AND alias = ?")


def alias_record(row: Sequence[Any]) -> AliasRecord:
    return AliasRecord(row[0], row[1], row[2], row[3], float(row[4]), float(row[5]), row[6], row[7], row[8])


# -- relays and counters --------------------------------------------------------------------------

insert_relay = Statement(
    "INSERT INTO relays (tenant, queue_id, message_id, alias, marketplace, order_ids, tags, sent_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, {now}) RETURNING id")
"""(tenant, queue_id, message_id, alias, marketplace, order_ids, tags), sent now; returns its id."""


insert_relay_order = Statement(
    "INSERT INTO relay_orders (order_id, marketplace, relay_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")


bump_counter = Statement(
    "INSERT INTO order_counters (tenant, order_id, counter, count) VALUES (?, ?, ?, 1)"
    " ON CONFLICT (tenant, order_id, counter) DO UPDATE SET count = order_counters.count + 1")


order_counter = Statement("SELECT count FROM order_counters WHERE tenant = ? AND order_id = ? AND counter = ?")


def relays_by_order(d: Dialect, marketplace: bool) -> str:
    sql = ("SELECT DISTINCT r.alias, r.marketplace FROM relay_orders o JOIN relays r ON r.id = o.relay_id"
           f" WHERE o.order_id = {d.p} AND r.sent_at >= {d.p} AND r.tenant = {d.p}")
    return sql + (f" AND o.marketplace = {d.p}" if marketplace else "")


def bare_and_bracketed(message_ids: Sequence[str]) -> list[str]:
    """Relays keep the Message-ID header value as sent (``<id@host>``); bounce parsers give bare
    ids: either form matches."""
    ids: list[str] = []
    for m in message_ids:
        bare = m.strip().strip("<>").strip()
        if bare:
            ids += [bare, f"<{bare}>"]
    return ids


def reserve_count(d: Dialect, table: str, columns: Sequence[str]) -> str:
    """Add one to ``table``'s count for the key unless it is at the limit: one statement, so
    writers racing for the last slot never push the count past it. Arguments: the key's values,
    the limit twice. Returns a row when counted. ``table`` and ``columns`` are this package's own
    names, never input."""
    names = ", ".join(columns)
    return (f"INSERT INTO {table} ({names}, count) SELECT {d.marks(len(columns))}, 1 WHERE {d.p} > 0"
            f" ON CONFLICT ({names}) DO UPDATE SET count = {table}.count + 1"
            f" WHERE {table}.count < {d.p} RETURNING count")


def release_count(d: Dialect, table: str, columns: Sequence[str]) -> str:
    where = " AND ".join(f"{c} = {d.p}" for c in columns)
    return f"UPDATE {table} SET count = {d.greatest}(count - 1, 0) WHERE {where}"


daily_sends = Statement("SELECT count FROM daily_sends WHERE tenant = ? AND marketplace = ? AND day = ?")


# -- lists with optional filters ------------------------------------------------------------------

def select(d: Dialect, base: str, filters: Sequence[tuple[str, Any]], *, order: str = "",
           limit: int | None = None) -> tuple[str, list[Any]]:
    """``base`` with ``AND <column> = <value>`` for each filter whose value is not None; a filter's
    column may be a whole condition ending in ``=`` or ``LIKE``-like operator (it is used as is)."""
    sql = f"{base} WHERE {d.true}" if " WHERE " not in base else base
    args: list[Any] = []
    for condition, value in filters:
        if value is None:
            continue
        if isinstance(value, tuple):
            sql += f" AND {condition.replace('{p}', d.p)}"
            args.extend(value)
        else:
            sql += f" AND {condition} = {d.p}"
            args.append(value)
    if order:
        sql += f" ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {d.p}"
        args.append(limit)
    return sql, args


# -- notices, decisions, audit --------------------------------------------------------------------

insert_notice = Statement(
    "INSERT INTO bounce_notices (tenant, at, kind, order_id, marketplace, alias, matched_by, source, report, resolved,"
    " evidence, sha256) VALUES (?, {now}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, sha256) DO NOTHING"
    " RETURNING id")
"""(tenant, kind, order_id, marketplace, alias, matched_by, source, report, resolved, evidence,
sha256), at now; a notice with the same bytes recorded before is left as it is (no row back)."""


insert_decision = Statement(
    "INSERT INTO decisions (at, tenant, shadow, ref, message_id, peer, mail_from, rcpt_tos, marketplace, action,"
    " rules) VALUES ({now}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


insert_audit = Statement("INSERT INTO audit (at, actor, action, object, reason) VALUES ({now}, ?, ?, ?, ?)")


assign_notice = Statement(
    "UPDATE bounce_notices SET alias = ?, matched_by = 'admin', resolved = {true} WHERE id = ?")


Decode = Callable[[Any], Any]
"""A stored JSON document or list back as Python (``json.loads`` on SQLite, as-is on PostgreSQL)."""


def notice(row: Sequence[Any], decode: Decode) -> NoticeRecord:
    """A row of ``NOTICE_COLUMNS``."""
    return NoticeRecord(id=int(row[0]), at=float(row[1]), kind=row[2], order_id=row[3], marketplace=row[4],
                        alias=row[5], matched_by=row[6], source=row[7], report=decode(row[8]),
                        resolved=bool(row[9]), evidence=row[10], tenant=row[11])


def decision(row: Sequence[Any], decode: Decode) -> DecisionRecord:
    """A row of ``DECISION_COLUMNS``."""
    return DecisionRecord(at=float(row[0]), ref=row[1], message_id=row[2], peer=row[3], mail_from=row[4],
                          rcpt_tos=tuple(decode(row[5])), marketplace=row[6], action=row[7],
                          rules=tuple(row[8].split()) if row[8] else (), tenant=row[9], shadow=bool(row[10]))


RELAY_COLUMNS = "sent_at, queue_id, message_id, alias, marketplace, order_ids, tenant"


def relay(row: Sequence[Any]) -> RelayRecord:
    """A row of ``RELAY_COLUMNS``."""
    return RelayRecord(at=float(row[0]), queue_id=row[1], message_id=row[2], alias=row[3], marketplace=row[4],
                       order_ids=tuple(row[5].split()), tenant=row[6])


def audit_entry(row: Sequence[Any]) -> AuditEntry:
    """A row of ``AUDIT_COLUMNS``."""
    return AuditEntry(id=int(row[0]), at=float(row[1]), actor=row[2], action=row[3], object=row[4], reason=row[5])


def quarantine_record(row: Sequence[Any], decode: Decode, path: Path | None = None) -> QuarantineRecord:
    """A row of ``QUARANTINE_COLUMNS``."""
    return QuarantineRecord(id=row[0], held_at=float(row[1]), peer=row[2], mail_from=row[3],
                            rcpt_tos=tuple(decode(row[4])), message_id=row[5], subject=row[6], marketplace=row[7],
                            verdict=decode(row[8]), size=int(row[9]), path=path, status=row[10], tenant=row[11])


transition_quarantine = Statement(
    "UPDATE quarantine SET status = ?, claimed_by = ?, claimed_at = ?, queue_id = NULL WHERE id = ? AND status = ?"
    " RETURNING id")
"""(new status, claimed_by, claimed_at, id, old status): one row when the move happened."""


def unspooled_releases(d: Dialect, columns: str = QUARANTINE_COLUMNS) -> str:
    return (f"SELECT {columns} FROM quarantine WHERE status = 'released' AND queue_id IS NULL"
            f" AND claimed_by = {d.p} AND claimed_at < {d.p} ORDER BY claimed_at")
