"""Learning from Amazon's verdicts, stored: relayed messages as judged, the disagreements found
when Amazon refuses one, template holds, and tenants whose proactive messaging Amazon restricted.

The same SQL on both backends (JSON kept as text on both: these rows are read whole, never
queried inside), written once over the backends' primitives (gateway/store/shared.py). The tables
are created by SQLite's schema (``SQLITE_SCHEMA``) and PostgreSQL's migration 0004.

A disagreement refers to the relayed message it is about by its key (tenant, queue id) instead of
holding a copy of it: the relayed message's row is kept while a disagreement refers to it (pruning
passes it over, ``prune_relayed``), and one about a relay recorded before relayed messages were
kept gets a row of what the relay knows when the disagreement is recorded. Databases from before
(SQLite schema 3, PostgreSQL 0004 as first shipped) held the copy: ``fold_sqlite`` and migration
0005 move it into ``relayed_messages``.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from gateway.store import sql
from gateway.store.records import Disagreement, HitRecord, RelayedMessage, TemplateState, TenantRestriction
from gateway.store.shared import SQLBackend

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS relayed_messages (
    tenant TEXT NOT NULL DEFAULT '',
    queue_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    action TEXT NOT NULL,
    hits TEXT NOT NULL,
    packs TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    order_ids TEXT NOT NULL,
    aliases TEXT NOT NULL,
    sent_at REAL NOT NULL,
    PRIMARY KEY (tenant, queue_id)
);
CREATE INDEX IF NOT EXISTS relayed_messages_sent_at ON relayed_messages(sent_at);
CREATE INDEX IF NOT EXISTS relays_queue_id ON relays(queue_id);
CREATE TABLE IF NOT EXISTS disagreements (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    tenant TEXT NOT NULL DEFAULT '',
    queue_id TEXT NOT NULL DEFAULT '',
    notice_id INTEGER,
    notice_date REAL NOT NULL,
    reason TEXT NOT NULL,
    matched_by TEXT NOT NULL,
    alias TEXT NOT NULL,
    marketplace TEXT,
    order_id TEXT,
    hit_packs TEXT NOT NULL,
    template TEXT NOT NULL CHECK (template IN ('held', 'fixed', 'none')),
    fixed_by TEXT NOT NULL DEFAULT '',
    fixed_at REAL,
    fixed_reason TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS disagreements_notice ON disagreements(tenant, notice_id, queue_id);
CREATE INDEX IF NOT EXISTS disagreements_held ON disagreements(tenant, template);
CREATE TABLE IF NOT EXISTS tenant_restrictions (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL DEFAULT '',
    since REAL NOT NULL,
    reason TEXT NOT NULL,
    notice_id INTEGER,
    marketplace TEXT,
    recorded_at REAL NOT NULL,
    cleared_at REAL,
    cleared_by TEXT NOT NULL DEFAULT '',
    clear_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tenant_restrictions_tenant ON tenant_restrictions(tenant, cleared_at);
"""

_RELAYED_COLUMNS = "subject, action, hits, packs, fingerprint, order_ids, aliases"
_DISAGREEMENT_COLUMNS = ("d.id, d.at, d.tenant, d.alias, d.marketplace, d.order_id, d.matched_by, d.notice_id,"
                         " d.notice_date, d.reason, d.queue_id, m.message_id, m.subject, m.action, m.hits, m.packs,"
                         " m.fingerprint, m.sent_at, d.hit_packs, d.template, d.fixed_by, d.fixed_at, d.fixed_reason")
_DISAGREEMENTS = ("SELECT " + _DISAGREEMENT_COLUMNS + " FROM disagreements d LEFT JOIN relayed_messages m"
                  " ON m.tenant = d.tenant AND m.queue_id = d.queue_id")
_RESTRICTION_COLUMNS = ("id, tenant, since, reason, notice_id, marketplace, recorded_at, cleared_at, cleared_by,"
                        " clear_reason")

_insert_relayed = sql.Statement(
    f"INSERT INTO relayed_messages (tenant, queue_id, message_id, {_RELAYED_COLUMNS}, sent_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, coalesce(?, {now})) ON CONFLICT (tenant, queue_id) DO NOTHING")
"""A relayed message, sent at the given time (None: now); the first record of a message stays."""

_insert_disagreement = sql.Statement(
    "INSERT INTO disagreements (at, tenant, queue_id, notice_id, notice_date, reason, matched_by, alias,"
    " marketplace, order_id, hit_packs, template) VALUES ({now}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (tenant, notice_id, queue_id) DO NOTHING RETURNING id")

prune_relayed = sql.Statement(
    "DELETE FROM relayed_messages WHERE sent_at < ? AND NOT EXISTS (SELECT 1 FROM disagreements d"
    " WHERE d.tenant = relayed_messages.tenant AND d.queue_id = relayed_messages.queue_id)")
"""Relayed messages sent before the cut-off, but for those a disagreement refers to."""

_fix_template = sql.Statement(
    "UPDATE disagreements SET template = 'fixed', fixed_by = ?, fixed_at = {now}, fixed_reason = ?"
    " WHERE id = ? AND template = 'held' RETURNING id")

_insert_restriction = sql.Statement(
    "INSERT INTO tenant_restrictions (tenant, since, reason, notice_id, marketplace, recorded_at)"
    f" VALUES (?, ?, ?, ?, ?, {{now}}) RETURNING {_RESTRICTION_COLUMNS}")

_clear_restriction = sql.Statement(
    "UPDATE tenant_restrictions SET cleared_at = {now}, cleared_by = ?, clear_reason = ?"
    " WHERE id = ? AND cleared_at IS NULL RETURNING id")


_COPIED = ("message_id", "subject", "action", "hits", "packs", "fingerprint", "sent_at")
"""The relayed message's columns a disagreement held a copy of before schema 4."""


def fold_sqlite(conn: sqlite3.Connection) -> bool:
    """SQLite schema 3 -> 4: the relayed side a disagreement copied moves to ``relayed_messages``
    (kept there while the disagreement refers to it), and the copy goes. True when there was one.
    One transaction: a crash leaves the database as it was, and the next open folds it again."""
    if "subject" not in {row[1] for row in conn.execute("PRAGMA table_info(disagreements)")}:
        return False
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Where relayed_messages has the row already, the copy was made from it: it stays.
        conn.execute(
            f"INSERT INTO relayed_messages (tenant, queue_id, message_id, {_RELAYED_COLUMNS}, sent_at)"
            " SELECT tenant, queue_id, message_id, subject, action, hits, packs, fingerprint, '', alias, sent_at"
            " FROM disagreements WHERE queue_id != '' ON CONFLICT (tenant, queue_id) DO NOTHING")
        for column in _COPIED:
            conn.execute(f"ALTER TABLE disagreements DROP COLUMN {column}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def _words(text: str | None) -> tuple[str, ...]:
    return tuple(text.split()) if text else ()


def _hits(text: str) -> tuple[HitRecord, ...]:
    return tuple(HitRecord(str(h.get("rule", "")), str(h.get("action", "")), str(h.get("reason", "")),
                           str(h.get("evidence", "")), str(h.get("pack", ""))) for h in json.loads(text or "[]"))


def _packs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in json.loads(text or "{}").items())


def _hits_text(hits: Sequence[HitRecord]) -> str:
    return json.dumps([h.as_json() for h in hits], ensure_ascii=False)


def _packs_text(packs: Sequence[tuple[str, str]]) -> str:
    return json.dumps(dict(packs), ensure_ascii=False)


def _disagreement(row: Sequence[Any]) -> Disagreement:
    queue_id = row[10]
    relayed = None
    if queue_id:  # the relayed message's row (kept while this refers to it; empty if it is gone)
        relayed = RelayedMessage(queue_id=queue_id, message_id=row[11] or "", subject=row[12] or "",
                                 action=row[13] or "", hits=_hits(row[14]), packs=_packs(row[15]),
                                 fingerprint=row[16] or "", aliases=(row[3],), tenant=row[2],
                                 sent_at=float(row[17] or 0.0))
    template: TemplateState = row[19]
    return Disagreement(id=int(row[0]), at=float(row[1]), tenant=row[2], alias=row[3], marketplace=row[4],
                        order_id=row[5], matched_by=row[6], notice_id=int(row[7]) if row[7] is not None else None,
                        notice_date=float(row[8]), reason=row[9], relayed=relayed, hit_packs=_words(row[18]),
                        template=template, fixed_by=row[20], fixed_at=float(row[21]) if row[21] is not None else None,
                        fixed_reason=row[22])


def _restriction(row: Sequence[Any]) -> TenantRestriction:
    return TenantRestriction(id=int(row[0]), tenant=row[1], since=float(row[2]), reason=row[3],
                             notice_id=int(row[4]) if row[4] is not None else None, marketplace=row[5],
                             recorded_at=float(row[6]), cleared_at=float(row[7]) if row[7] is not None else None,
                             cleared_by=row[8], clear_reason=row[9])


class SharedDisagreements(SQLBackend):
    """The ``Disagreements`` role (gateway/store/roles.py) on either backend."""

    # -- relayed messages -------------------------------------------------------------------------
    async def record_relayed(self, message: RelayedMessage) -> None:
        await self._execute(_insert_relayed(self.dialect), self._relayed_row(message))

    @staticmethod
    def _relayed_row(message: RelayedMessage) -> tuple[Any, ...]:
        return (message.tenant, message.queue_id, message.message_id, message.subject, message.action,
                _hits_text(message.hits), _packs_text(message.packs), message.fingerprint,
                " ".join(message.order_ids), " ".join(a.lower() for a in message.aliases), message.sent_at or None)

    async def relayed_messages(self, tenant: str = "", *, message_ids: Sequence[str] = (),
                               order_id: str | None = None, alias: str | None = None, since: float = 0.0,
                               limit: int = 20) -> list[RelayedMessage]:
        d = self.dialect
        conditions = [f"r.tenant = {d.p}", f"r.sent_at >= {d.p}"]
        args: list[Any] = [tenant, since]
        ids = sql.bare_and_bracketed(message_ids)
        if ids:
            conditions.append(f"r.message_id IN ({d.marks(len(ids))})")
            args += ids
        if order_id:
            conditions.append(f"r.id IN (SELECT relay_id FROM relay_orders WHERE order_id = {d.p})")
            args.append(order_id)
        if alias:
            conditions.append(f"r.alias = {d.p}")
            args.append(alias.lower())
        if len(conditions) == 2:
            return []
        rows = await self._fetchall(
            "SELECT r.queue_id, r.message_id, r.alias, r.sent_at, m.subject, m.action, m.hits, m.packs,"
            " m.fingerprint, m.order_ids FROM relays r LEFT JOIN relayed_messages m"
            " ON m.tenant = r.tenant AND m.queue_id = r.queue_id"
            f" WHERE {' AND '.join(conditions)} ORDER BY r.sent_at DESC, r.id DESC LIMIT {d.p}", [*args, limit])
        found: dict[str, RelayedMessage] = {}
        for queue_id, message_id, alias_, sent_at, subject, action, hits, packs, fingerprint, orders in rows:
            known = found.get(queue_id)
            if known is not None:
                if alias_ not in known.aliases:
                    found[queue_id] = dataclasses.replace(known, aliases=(*known.aliases, alias_))
                continue
            found[queue_id] = RelayedMessage(
                queue_id=queue_id, message_id=message_id, subject=subject or "", action=action or "",
                hits=_hits(hits) if hits else (), packs=_packs(packs) if packs else (), fingerprint=fingerprint or "",
                order_ids=_words(orders), aliases=(alias_,), tenant=tenant, sent_at=float(sent_at))
        return list(found.values())

    # -- disagreements ----------------------------------------------------------------------------
    async def record_disagreement(self, found: Disagreement) -> Disagreement | None:
        """Record ``found`` (its id and time are given by the store); None when the same notice was
        recorded against the same relayed message before."""
        relayed = found.relayed
        if relayed is not None:
            # Its row stays while this refers to it; a relay recorded before relayed messages were
            # kept gets one of what the relay knows (the first record of a message stays as it is).
            await self._execute(_insert_relayed(self.dialect),
                                self._relayed_row(dataclasses.replace(relayed, tenant=found.tenant)))
        row = await self._execute_returning(_insert_disagreement(self.dialect), (
            found.tenant, relayed.queue_id if relayed is not None else "", found.notice_id, found.notice_date,
            found.reason, found.matched_by, found.alias.lower(), found.marketplace, found.order_id,
            " ".join(found.hit_packs), found.template))
        return await self.disagreement(int(row[0])) if row is not None else None

    async def disagreement(self, disagreement_id: int) -> Disagreement | None:
        row = await self._fetchone(f"{_DISAGREEMENTS} WHERE d.id = {self.dialect.p}", (disagreement_id,))
        return _disagreement(row) if row else None

    async def disagreements(self, tenant: str | None = None, since: float = 0.0, limit: int = 500,
                            template: TemplateState | None = None) -> list[Disagreement]:
        """Newest first; ``tenant`` None gives every tenant's."""
        d = self.dialect
        statement, args = sql.select(d, f"{_DISAGREEMENTS} WHERE d.at >= {d.p}",
                                     [("d.tenant", tenant), ("d.template", template)], order="d.at DESC, d.id DESC",
                                     limit=limit)
        return [_disagreement(r) for r in await self._fetchall(statement, [since, *args])]

    async def held_templates(self, tenant: str = "") -> list[Disagreement]:
        """The tenant's disagreements whose template is held (the template hold reads these)."""
        return await self.disagreements(tenant, template="held", limit=10_000)

    async def fix_templates(self, disagreement_ids: Sequence[int], actor: str, reason: str) -> list[int]:
        """Mark the templates of these disagreements fixed; returns the ids that were held."""
        fixed: list[int] = []
        for did in sorted(set(disagreement_ids)):
            row = await self._execute_returning(_fix_template(self.dialect), (actor, reason, did))
            if row is not None:
                fixed.append(int(row[0]))
        return fixed

    async def disagreement_counts(self, since: float = 0.0) -> dict[tuple[str, str], int]:
        """(tenant, pack) -> disagreements naming the pack (``hit_packs``), since ``since``."""
        rows = await self._fetchall(f"SELECT tenant, hit_packs FROM disagreements WHERE at >= {self.dialect.p}",
                                    (since,))
        counts: dict[tuple[str, str], int] = {}
        for tenant, packs in rows:
            for pack in _words(packs) or ("none",):
                counts[(tenant, pack)] = counts.get((tenant, pack), 0) + 1
        return counts

    # -- restrictions -----------------------------------------------------------------------------
    async def restrict_tenant(self, restriction: TenantRestriction) -> TenantRestriction:
        row = await self._execute_returning(_insert_restriction(self.dialect), (
            restriction.tenant, restriction.since, restriction.reason, restriction.notice_id,
            restriction.marketplace))
        return _restriction(row)

    async def tenant_restriction(self, tenant: str = "") -> TenantRestriction | None:
        """The tenant's active restriction (the latest, when Amazon sent more than one)."""
        d = self.dialect
        row = await self._fetchone(f"SELECT {_RESTRICTION_COLUMNS} FROM tenant_restrictions WHERE tenant = {d.p}"
                                   " AND cleared_at IS NULL ORDER BY since DESC, id DESC LIMIT 1", (tenant,))
        return _restriction(row) if row else None

    async def restrictions(self, tenant: str | None = None, active: bool | None = None) -> list[TenantRestriction]:
        """Restrictions, newest first; ``active`` True/False for only the active/cleared ones."""
        d = self.dialect
        base = f"SELECT {_RESTRICTION_COLUMNS} FROM tenant_restrictions"
        if active is not None:
            base += f" WHERE cleared_at IS {'NULL' if active else 'NOT NULL'}"
        statement, args = sql.select(d, base, [("tenant", tenant)], order="since DESC, id DESC")
        return [_restriction(r) for r in await self._fetchall(statement, args)]

    async def clear_restriction(self, tenant: str, actor: str, reason: str) -> int:
        """Clear the tenant's active restrictions; returns how many were active."""
        cleared = 0
        for restriction in await self.restrictions(tenant, active=True):
            if await self._execute_returning(_clear_restriction(self.dialect), (actor, reason, restriction.id)):
                cleared += 1
        return cleared
