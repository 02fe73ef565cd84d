"""The operations both backends run alike, written once over four primitives each core provides.

A backend's core (``SQLiteCore``, ``PostgresCore``) supplies ``_fetchone``/``_fetchall`` (reads),
``_execute`` (one write statement) and ``_execute_returning`` (one write statement and the row it
returns), its ``dialect`` and how it reads stored JSON back (``_decode``). Everything that is the
same SQL on both (gateway/store/sql.py) lives here as mixins; the backend modules keep only what
really differs (transactions that span statements, where bytes are kept, the clock of a report).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.store import sql
from gateway.store.base import report_from_rows
from gateway.store.records import AliasRecord, AliasStatus, AuditEntry, DecisionRecord, NoticeRecord, QuarantineRecord
from gateway.store.search import like_literal
from gateway.store.sql import Dialect

_ORDER_KEY = ("tenant", "order_id", "counter")
_DAY_KEY = ("tenant", "marketplace", "day")


class SQLBackend:
    """The primitives the shared operations run on (implemented by each backend's core)."""

    dialect: Dialect

    def _decode(self, value: Any) -> Any:
        raise NotImplementedError

    async def _fetchone(self, statement: str, args: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    async def _fetchall(self, statement: str, args: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    async def _execute(self, statement: str, args: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    async def _execute_returning(self, statement: str, args: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _quarantine_record(self, row: Sequence[Any]) -> QuarantineRecord:
        return sql.quarantine_record(row, self._decode)

    _quarantine_columns = sql.QUARANTINE_COLUMNS


class SharedCounters(SQLBackend):
    """Per-order counts and daily caps: one atomic statement each, the same on both backends."""

    async def order_counter(self, order_id: str, counter: str, tenant: str = "") -> int:
        row = await self._fetchone(sql.order_counter(self.dialect), (tenant, order_id, counter))
        return int(row[0]) if row else 0

    async def _reserve(self, table: str, key: tuple[str, ...], values: tuple[str, ...], limit: int) -> bool:
        statement = sql.reserve_count(self.dialect, table, key)
        return await self._execute_returning(statement, (*values, limit, limit)) is not None

    async def reserve_counter(self, order_id: str, counter: str, limit: int, tenant: str = "") -> bool:
        return await self._reserve("order_counters", _ORDER_KEY, (tenant, order_id, counter), limit)

    async def release_counter(self, order_id: str, counter: str, tenant: str = "") -> None:
        await self._execute(sql.release_count(self.dialect, "order_counters", _ORDER_KEY), (tenant, order_id, counter))

    async def reserve_send(self, tenant: str, marketplace: str, day: str, cap: int) -> bool:
        """Count one proactive message against the day's cap; False (and no count) when it is full."""
        return await self._reserve("daily_sends", _DAY_KEY, (tenant, marketplace, day), cap)

    async def release_send(self, tenant: str, marketplace: str, day: str) -> None:
        await self._execute(sql.release_count(self.dialect, "daily_sends", _DAY_KEY), (tenant, marketplace, day))

    async def sends(self, tenant: str, marketplace: str, day: str) -> int:
        row = await self._fetchone(sql.daily_sends(self.dialect), (tenant, marketplace, day))
        return int(row[0]) if row else 0


class SharedRelays(SQLBackend):
    """Relay lookups for bounce correlation (the writes are a transaction of the backend's own)."""

    async def relays_by_message_id(self, message_ids: Sequence[str], tenant: str = "") -> list[tuple[str, str]]:
        ids = sql.bare_and_bracketed(message_ids)
        if not ids:
            return []
        d = self.dialect
        rows = await self._fetchall(f"SELECT DISTINCT alias, marketplace FROM relays WHERE tenant = {d.p}"
                                    f" AND message_id IN ({d.marks(len(ids))})", [tenant, *ids])
        return [(str(a), str(m)) for a, m in rows]

    async def relays_by_order(self, order_id: str, marketplace: str | None, since: float,
                              tenant: str = "") -> list[tuple[str, str]]:
        args = [order_id, since, tenant, *([marketplace] if marketplace else [])]
        rows = await self._fetchall(sql.relays_by_order(self.dialect, bool(marketplace)), args)
        return [(str(a), str(m)) for a, m in rows]


class SharedRegistry(SQLBackend):
    """The opt-out registry: upserts and merges decide in one statement on both backends."""

    _search = "(alias LIKE {p} ESCAPE '\\' OR order_id LIKE {p} ESCAPE '\\')"
    """Case-insensitive substring search; % and _ typed by the admin are literal (``like_literal``)."""

    async def alias_status(self, alias: str, tenant: str = "") -> AliasStatus | None:
        row = await self._fetchone(sql.alias_status(self.dialect), (tenant, alias.lower()))
        if row is None:
            return None
        status: AliasStatus = row[0]
        return status

    async def alias_statuses(self, aliases: Sequence[str], tenant: str = "") -> dict[str, AliasStatus]:
        wanted = sorted({a.lower() for a in aliases})
        if not wanted:
            return {}
        d = self.dialect
        rows = await self._fetchall(
            f"SELECT alias, status FROM aliases WHERE tenant = {d.p} AND alias IN ({d.marks(len(wanted))})",
            [tenant, *wanted])
        return {str(a): s for a, s in rows}

    async def record_alias(self, alias: str, status: AliasStatus, *, marketplace: str | None,
                           order_id: str | None, evidence: str, source: str,
                           tenant: str = "") -> AliasRecord:
        row = await self._execute_returning(f"{sql.upsert_alias(self.dialect)} RETURNING {sql.ALIAS_COLUMNS}",
                                            (tenant, alias.lower(), status, marketplace, order_id, evidence, source))
        return sql.alias_record(row)

    async def get_alias(self, alias: str, tenant: str = "") -> AliasRecord | None:
        d = self.dialect
        row = await self._fetchone(f"SELECT {sql.ALIAS_COLUMNS} FROM aliases WHERE tenant = {d.p} AND alias = {d.p}",
                                   (tenant, alias.lower()))
        return sql.alias_record(row) if row else None

    async def remove_alias(self, alias: str, tenant: str = "") -> bool:
        d = self.dialect
        row = await self._execute_returning(f"DELETE FROM aliases WHERE tenant = {d.p} AND alias = {d.p} RETURNING 1",
                                            (tenant, alias.lower()))
        return row is not None

    async def list_aliases(self, status: AliasStatus | None = None, search: str | None = None,
                           tenant: str | None = None) -> list[AliasRecord]:
        """Registry entries, most recently seen first; ``tenant`` None lists every tenant's."""
        statement, args = sql.select(
            self.dialect, f"SELECT {sql.ALIAS_COLUMNS} FROM aliases",
            [("tenant", tenant), ("status", status or None),
             (self._search, (f"%{like_literal(search.lower())}%", f"%{like_literal(search)}%")
                                  if search else None)],
            order="last_seen DESC")
        return [sql.alias_record(row) for row in await self._fetchall(statement, args)]

    async def put_alias_record(self, record: AliasRecord) -> AliasRecord:
        """Merge a whole record (an import) into ``record.tenant``'s registry (see ``sql.merge_alias``)."""
        row = await self._execute_returning(
            f"{sql.merge_alias(self.dialect)} RETURNING {sql.ALIAS_COLUMNS}",
            (record.tenant, record.alias.lower(), record.status, record.marketplace, record.order_id,
             record.first_seen, record.last_seen, record.evidence, record.source))
        return sql.alias_record(row)


class SharedJournal(SQLBackend):
    """Decisions, the audit log, and the reports read from them."""

    async def decisions(self, since: float = 0.0, limit: int = 1000,
                        tenant: str | None = None) -> list[DecisionRecord]:
        d = self.dialect
        statement, args = sql.select(d, f"SELECT {sql.DECISION_COLUMNS} FROM decisions WHERE at >= {d.p}",
                                     [("tenant", tenant)], order="at DESC", limit=limit)
        return [sql.decision(r, self._decode) for r in await self._fetchall(statement, [since, *args])]

    async def audit(self, actor: str, action: str, obj: str, reason: str) -> None:
        await self._execute(sql.insert_audit(self.dialect), (actor, action, obj, reason))

    async def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        rows = await self._fetchall(
            f"SELECT {sql.AUDIT_COLUMNS} FROM audit ORDER BY id DESC LIMIT {self.dialect.p}", (limit,))
        return [sql.audit_entry(r) for r in rows]

    async def report(self, since: float = 0.0, top: int = 10, tenant: str | None = None) -> dict[str, Any]:
        """Counts by action, rule and marketplace, and the senders with most violations, since ``since``."""
        d = self.dialect
        statement, args = sql.select(d, f"SELECT mail_from, marketplace, action, rules, shadow FROM decisions"
                                        f" WHERE at >= {d.p}", [("tenant", tenant)])
        return report_from_rows(await self._fetchall(statement, [since, *args]), since, top, tenant)

    async def state_counts(self) -> tuple[int, dict[str, int]]:
        held = await self._fetchone("SELECT count(*) FROM quarantine WHERE status = 'held'")
        kinds = await self._fetchall("SELECT kind, count(*) FROM bounce_notices GROUP BY kind")
        return int(held[0]) if held else 0, {str(k): int(n) for k, n in kinds}


class SharedNotices(SQLBackend):
    """Notices as listed for review (recording one is a transaction of the backend's own)."""

    async def notice(self, notice_id: int) -> NoticeRecord | None:
        row = await self._fetchone(f"SELECT {sql.NOTICE_COLUMNS} FROM bounce_notices WHERE id = {self.dialect.p}",
                                   (notice_id,))
        return sql.notice(row, self._decode) if row else None

    async def notices(self, alias: str | None = None, tenant: str | None = None,
                      limit: int = 1000) -> list[NoticeRecord]:
        """Recorded notices, newest first; ``tenant`` None gives every tenant's."""
        statement, args = sql.select(self.dialect, f"SELECT {sql.NOTICE_COLUMNS} FROM bounce_notices",
                                     [("tenant", tenant), ("alias", alias.lower() if alias else None)],
                                     order="id DESC", limit=limit)
        return [sql.notice(r, self._decode) for r in await self._fetchall(statement, args)]

    async def unmatched_notices(self, tenant: str | None = None) -> list[NoticeRecord]:
        """The admins' review list: notices no alias was found for; ``tenant`` None gives all."""
        d = self.dialect
        statement, args = sql.select(
            d, f"SELECT {sql.NOTICE_COLUMNS} FROM bounce_notices WHERE alias IS NULL AND resolved = {d.false}",
            [("tenant", tenant)], order="at DESC")
        return [sql.notice(r, self._decode) for r in await self._fetchall(statement, args)]

    async def assign_notice(self, notice_id: int, alias: str) -> None:
        await self._execute(sql.assign_notice(self.dialect), (alias.lower(), notice_id))


class SharedQuarantine(SQLBackend):
    """The quarantine's lists and release bookkeeping (the bytes are the backend's own)."""

    async def list_quarantine(self, status: str | None = "held",
                              tenant: str | None = None) -> list[QuarantineRecord]:
        statement, args = sql.select(self.dialect, f"SELECT {self._quarantine_columns} FROM quarantine",
                                     [("status", status or None), ("tenant", tenant)], order="held_at DESC")
        return [self._quarantine_record(r) for r in await self._fetchall(statement, args)]

    async def get_quarantine(self, qid: str) -> QuarantineRecord | None:
        row = await self._fetchone(f"SELECT {self._quarantine_columns} FROM quarantine WHERE id = {self.dialect.p}",
                                   (qid,))
        return self._quarantine_record(row) if row else None

    async def mark_release_spooled(self, qid: str, queue_id: str) -> None:
        d = self.dialect
        await self._execute(f"UPDATE quarantine SET queue_id = {d.p} WHERE id = {d.p}", (queue_id, qid))

    async def unspooled_releases(self, instance: str, claimed_before: float) -> list[QuarantineRecord]:
        rows = await self._fetchall(sql.unspooled_releases(self.dialect, self._quarantine_columns),
                                    (instance, claimed_before))
        return [self._quarantine_record(r) for r in rows]

    async def claim_quarantine(self, qid: str, new_status: str, actor: str, reason: str,
                               instance: str = "") -> bool:
        """Move a held message to ``released``/``deleted`` exactly once, with its audit record."""
        return await self._transition(qid, "held", new_status, actor, new_status, reason, instance)

    async def unclaim_quarantine(self, qid: str, actor: str, reason: str) -> bool:
        """Undo a release whose spooling failed: back to ``held``, with its own audit record."""
        return await self._transition(qid, "released", "held", actor, "release-failed", reason)

    async def _transition(self, qid: str, old: str, new: str, actor: str, action: str, reason: str,
                          instance: str = "") -> bool:
        raise NotImplementedError
