"""The PostgreSQL backend's quarantine search and audit queries (see ``gateway.store.search``;
schema in ``pg_migrations/0003_admin_review.sql``)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import psycopg

from gateway.store import search, sql
from gateway.store.base import daily_from_rows
from gateway.store.records import AuditEntry, QuarantineRecord

Connection = psycopg.AsyncConnection[tuple[Any, ...]]

_COLS = ("q.id, q.held_at, q.peer, q.mail_from, q.rcpt_tos, q.message_id, q.subject, q.marketplace,"
         " q.verdict, q.size, q.status, q.tenant")


async def index_quarantined(conn: Connection, qid: str, held_at_sql: str, keys: Sequence[str],
                            subject: str) -> None:
    """The search rows of one held message, in the caller's transaction; ``held_at_sql`` is the
    expression the quarantine row's ``held_at`` was set from (the transaction's clock)."""
    if keys:
        await conn.execute(
            f"INSERT INTO quarantine_keys (key, held_at, qid) SELECT k, {held_at_sql}, %s FROM unnest(%s::text[]) AS k"
            " ON CONFLICT DO NOTHING", (qid, list(keys)))
    await conn.execute("INSERT INTO quarantine_search (qid, words) VALUES (%s, to_tsvector('simple', %s))",
                       (qid, search.decode_subject(subject)))


class PostgresReviewQueries:
    """Mixed into ``PostgresStore``: what the admin pages and API ask of the quarantine and audit."""

    if TYPE_CHECKING:  # provided by PostgresCore
        def _connection(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...

        async def _fetchall(self, sql: str, args: Any = ()) -> list[Any]: ...

    @staticmethod
    def _record(row: Sequence[Any]) -> QuarantineRecord:
        return QuarantineRecord(id=row[0], held_at=float(row[1]), peer=row[2], mail_from=row[3],
                                rcpt_tos=tuple(row[4]), message_id=row[5], subject=row[6], marketplace=row[7],
                                verdict=row[8], size=int(row[9]), path=None, status=row[10], tenant=row[11])

    async def search_quarantine(self, query: search.QuarantineQuery) -> search.Page:
        """A page of held (or released/deleted) messages, newest first, and how many match."""
        query = query.bounded()
        sql = search.quarantine_sql(query, "postgresql")
        async with self._connection() as conn:
            cur = await conn.execute(f"SELECT {_COLS} FROM {sql.source} WHERE {sql.page_where}"
                                     f" ORDER BY {sql.order} LIMIT %s", [*sql.page_args, query.limit + 1])
            rows = await cur.fetchall()
            cur = await conn.execute(sql.count_sql(), sql.args)
            counted = await cur.fetchone()
        return search.page_of([self._record(r) for r in rows], int(counted[0]) if counted else 0, query)

    async def quarantine_ids(self, query: search.QuarantineQuery, limit: int = search.BULK_LIMIT) -> list[str]:
        """The ids of (up to ``limit``) messages a search matches, newest first: a bulk action's targets."""
        sql = search.quarantine_sql(replace(query, before=None), "postgresql")
        rows = await self._fetchall(f"SELECT q.id FROM {sql.source} WHERE {sql.where} ORDER BY {sql.order}"
                                    " LIMIT %s", [*sql.args, limit])
        return [str(r[0]) for r in rows]

    async def quarantine_keys(self, qid: str) -> list[str]:
        rows = await self._fetchall("SELECT key FROM quarantine_keys WHERE qid = %s ORDER BY key", (qid,))
        return [str(r[0]) for r in rows]

    async def audit_page(self, query: search.AuditQuery) -> search.Page:
        """Audit records matching ``query``, newest first, with the total and the next cursor."""
        limit = max(1, min(query.limit, 1000))
        page = search.audit_sql(query, "postgresql")
        counted = search.audit_sql(replace(query, before_id=None), "postgresql")
        async with self._connection() as conn:
            cur = await conn.execute(f"SELECT {sql.AUDIT_COLUMNS} FROM audit WHERE {page.where}"
                                     " ORDER BY id DESC LIMIT %s", [*page.args, limit + 1])
            rows = await cur.fetchall()
            cur = await conn.execute(f"SELECT count(*) FROM audit WHERE {counted.where}", counted.args)
            total = await cur.fetchone()
        items = [sql.audit_entry(r) for r in rows[:limit]]
        more = len(rows) > limit
        return search.Page(items, int(total[0]) if total else 0, str(items[-1].id) if more and items else None)

    async def audit_for_objects(self, objects: Sequence[str]) -> dict[str, list[AuditEntry]]:
        """Every audit record of each of ``objects``, newest first (one query)."""
        wanted = sorted(set(objects))
        if not wanted:
            return {}
        out: dict[str, list[AuditEntry]] = {o: [] for o in wanted}
        for row in await self._fetchall(f"SELECT {sql.AUDIT_COLUMNS} FROM audit"
                                        " WHERE object = ANY(%s) ORDER BY id DESC", (wanted,)):
            out[row[4]].append(sql.audit_entry(row))
        return out

    async def message_trail(self, ref: str) -> search.MessageTrail:
        """Decisions, quarantine records and relays of the message ``ref`` names (quarantine id,
        queue id or Message-ID), oldest first."""
        ids = search.message_ids(ref)
        if not ids:
            return search.MessageTrail()
        trail = search.MessageTrail()
        async with self._connection() as conn:
            cur = await conn.execute(f"SELECT {_COLS}, q.queue_id FROM quarantine q WHERE q.id = %s"
                                     " OR q.message_id = ANY(%s) ORDER BY q.held_at LIMIT 100", (ref, ids))
            rows = await cur.fetchall()
            trail.held = [self._record(r[:-1]) for r in rows]
            queue_ids = [str(r[-1]) for r in rows if r[-1]]
            msg_ids = sorted({*ids, *(h.message_id for h in trail.held if h.message_id)})
            refs = [ref, *(h.id for h in trail.held)]
            cur = await conn.execute(
                f"SELECT {sql.DECISION_COLUMNS}"
                " FROM decisions WHERE ref = ANY(%s) OR message_id = ANY(%s) ORDER BY at LIMIT 100", (refs, msg_ids))
            for r in await cur.fetchall():
                trail.decisions.append(sql.decision(r, list))
                if r[1] and (r[7] in ("relay", "rewrite") or r[10]):  # a relayed message's ref: its queue id
                    queue_ids.append(str(r[1]))
            cur = await conn.execute(
                f"SELECT {sql.RELAY_COLUMNS} FROM relays"
                " WHERE queue_id = ANY(%s) OR message_id = ANY(%s) ORDER BY sent_at LIMIT 200",
                ([ref, *queue_ids], msg_ids))
            for r in await cur.fetchall():
                trail.relays.append(sql.relay(r))
                queue_ids.append(str(r[1]))
        trail.queue_ids = list(dict.fromkeys(q for q in queue_ids if q))
        return trail

    async def tenant_daily_counts(self, tenant: str, days: int = 14) -> list[dict[str, Any]]:
        """``Store.daily_counts`` for one tenant's decisions."""
        return daily_from_rows(await self._fetchall(
            "SELECT to_char(to_timestamp(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), action, rules, shadow FROM decisions"
            " WHERE at >= extract(epoch FROM now())::double precision - %s AND tenant = %s", (days * 86400, tenant)))

    async def quarantine_by_tenant(self) -> dict[str, dict[str, int]]:
        """Messages in the quarantine per tenant and status."""
        out: dict[str, dict[str, int]] = {}
        for tenant, status, n in await self._fetchall("SELECT tenant, status, count(*) FROM quarantine GROUP BY 1, 2"):
            out.setdefault(str(tenant), {})[str(status)] = int(n)
        return out
