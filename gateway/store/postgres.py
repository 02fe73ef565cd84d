"""State on PostgreSQL, shared by several gateway instances.

Same records and semantics as ``SQLiteStore``; what differs is that other instances write at the
same time. Every operation that reads and then writes is one statement that decides atomically
(an upsert, a conditional ``UPDATE ... RETURNING``) or locks what it read (``FOR UPDATE``), in a
short transaction. Rows several writers lock are locked in sorted order, so two transactions never
wait for each other. Quarantined messages and notice evidence are kept in the database, so any
instance can release or show them. Times are the database's clock (epoch seconds), so instances
with skewed clocks still agree on which record is newer.

The schema is managed by ``gateway.store.migrate`` (``gateway db upgrade``); ``open`` refuses a
database whose schema is older than this code.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types.json import Json
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from gateway.store.base import (
    AliasRecord,
    AliasStatus,
    AliasUpdate,
    LoopPolicyState,
    NoticeRow,
    QuarantineRecord,
    RecordedBounce,
    StoreError,
    daily_from_rows,
    evidence_digest,
    evidence_reference,
    report_from_rows,
)
from gateway.store.migrate import LATEST_VERSION, read_version
from gateway.store.postgres_review import PostgresReviewQueries, index_quarantined
from gateway.store.search import like_literal, search_keys

__all__ = ["PostgresStore", "SchemaError"]

Connection = psycopg.AsyncConnection[tuple[Any, ...]]

# The database's clock for one transaction (now() is fixed at the transaction's start).
_NOW = "extract(epoch FROM now())::double precision"

_ACOLS = "alias, status, marketplace, order_id, first_seen, last_seen, evidence, source, tenant"
_QCOLS = ("id, held_at, peer, mail_from, rcpt_tos, message_id, subject, marketplace, verdict,"
          " size, status, tenant")
_NCOLS = ("id, at, kind, order_id, marketplace, alias, matched_by, source, report, resolved,"
          " evidence, tenant")

# record_alias and record_bounce: the incoming status wins, known marketplace/order are kept.
_INSERT_ALIAS = (
    "INSERT INTO aliases (tenant, alias, status, marketplace, order_id, first_seen, last_seen,"
    f" evidence, source) VALUES (%s, %s, %s, %s, %s, {_NOW}, {_NOW}, %s, %s)"
)
_UPSERT_ALIAS = (
    f"{_INSERT_ALIAS}"
    " ON CONFLICT (tenant, alias) DO UPDATE SET status = excluded.status,"
    " marketplace = COALESCE(excluded.marketplace, aliases.marketplace),"
    " order_id = COALESCE(excluded.order_id, aliases.order_id),"
    " last_seen = excluded.last_seen, evidence = excluded.evidence, source = excluded.source"
)


class SchemaError(StoreError):
    """The database's schema is older than this gateway needs (or absent)."""

    def __init__(self, have: int, need: int) -> None:
        self.have = have
        self.need = need
        super().__init__(f"database schema is at version {have}, this gateway needs {need}:"
                         " run `gateway db upgrade`")


class DatabaseUnavailable(StoreError):
    """The database could not be reached (or the connection broke) during an operation."""


def _connection_lost(exc: psycopg.OperationalError) -> bool:
    """A failure of the connection (client side, SQLSTATE class 08, or the server shutting down
    or refusing connections, 57P0x), as opposed to a failed statement."""
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _json(value: Any) -> Json:
    # jsonb refuses the escape \u0000 as well: the same replacement as for text.
    return Json(value, dumps=lambda v: json.dumps(v, ensure_ascii=False).replace("\\u0000", "\\ufffd"))


class _NulSafeStrDumper(Dumper):
    """Strings as text parameters with NUL replaced by U+FFFD.

    PostgreSQL text cannot hold NUL, SQLite's can; a header with a raw NUL (any sender can send
    one) must not turn into an error that defers or loses the message on this backend only.
    """

    format = Format.TEXT
    oid = 0  # unknown: the server infers the type from the statement, as for psycopg's own str dumper

    def dump(self, obj: str) -> bytes:
        return obj.replace("\x00", "\ufffd").encode()


async def _configure(conn: Connection) -> None:
    conn.adapters.register_dumper(str, _NulSafeStrDumper)


def _bare_and_bracketed(message_ids: Sequence[str]) -> list[str]:
    """Relays keep the header value as sent (``<id@host>``); bounce parsers give bare ids."""
    ids: list[str] = []
    for m in message_ids:
        bare = m.strip().strip("<>").strip()
        if bare:
            ids += [bare, f"<{bare}>"]
    return ids


def _alias_record(row: Sequence[Any]) -> AliasRecord:
    return AliasRecord(row[0], row[1], row[2], row[3], float(row[4]), float(row[5]), row[6], row[7], row[8])


def _quarantine_record(row: Sequence[Any]) -> QuarantineRecord:
    return QuarantineRecord(id=row[0], held_at=float(row[1]), peer=row[2], mail_from=row[3],
                            rcpt_tos=tuple(row[4]), message_id=row[5], subject=row[6], marketplace=row[7],
                            verdict=row[8], size=int(row[9]), path=None, status=row[10], tenant=row[11])


def _notice(row: Sequence[Any]) -> dict[str, Any]:
    return {"id": row[0], "at": float(row[1]), "kind": row[2], "order_id": row[3], "marketplace": row[4],
            "alias": row[5], "matched_by": row[6], "source": row[7], "report": row[8],
            "resolved": bool(row[9]), "evidence": row[10], "tenant": row[11]}


class PostgresStore(PostgresReviewQueries):
    """The gateway's state in one PostgreSQL database, through a connection pool."""

    backend = "postgresql"

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10,
                 open_timeout: float = 30.0, acquire_timeout: float = 10.0) -> None:
        self.dsn = dsn
        self._open_timeout = open_timeout
        # autocommit: a read is one round trip; writes open their own transaction block.
        # check: a connection is tested as it leaves the pool, so after a database restart or a
        # failover behind a proxy no message fails on a connection that died meanwhile.
        # acquire_timeout: with the database gone, an operation fails (and the SMTP client hears
        # 451 4.3.0) well inside the client's own DATA timeout instead of hanging.
        self._pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            dsn, min_size=min_size, max_size=max_size, open=False, kwargs={"autocommit": True}, configure=_configure,
            name="gateway-store", check=AsyncConnectionPool.check_connection, timeout=acquire_timeout)
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    async def open(self) -> PostgresStore:
        """Connect and check the schema.

        Raises ``SchemaError`` when the schema is behind this code, ``StoreError`` when the
        database cannot be reached or used (with libpq's reason: refused, bad password, ...).
        """
        # One plain connection first: a failure says why, where the pool would only time out.
        try:
            async with await psycopg.AsyncConnection.connect(
                    self.dsn, autocommit=True, connect_timeout=max(1, round(self._open_timeout))) as conn:
                version = await read_version(conn)
        except psycopg.Error as exc:
            raise StoreError(f"cannot use the PostgreSQL database: {exc}".rstrip()) from exc
        if version < LATEST_VERSION:
            raise SchemaError(version, LATEST_VERSION)
        try:
            await self._pool.open(wait=True, timeout=self._open_timeout)
        except PoolTimeout as exc:
            await self._pool.close()
            raise StoreError(f"cannot use the PostgreSQL database: {exc}") from exc
        self._loop = asyncio.get_running_loop()
        return self

    async def close(self) -> None:
        self._loop = None
        await self._pool.close()

    @property
    def is_open(self) -> bool:
        return self._loop is not None and not self._pool.closed

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; losing the database is a ``StoreError`` (``DatabaseUnavailable``),
        so callers handle it as they handle any unusable store."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"PostgreSQL unavailable: {exc}".rstrip()) from exc
        except psycopg.OperationalError as exc:
            if not _connection_lost(exc):
                raise  # a deadlock, a cancelled statement, a lock timeout: the statement failed
            raise DatabaseUnavailable(f"PostgreSQL unavailable: {exc}".rstrip()) from exc

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """A session-level advisory lock, on a connection of its own (not the pool's: a long
        holder must not take one of the connections mail needs), held for the block. Closing that
        connection releases the lock, also when this instance dies."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True,
                                                         connect_timeout=max(1, round(self._open_timeout)))
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"PostgreSQL unavailable: {exc}".rstrip()) from exc
        try:
            cur = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (name,))
            row = await cur.fetchone()
            yield bool(row and row[0])
        finally:
            await conn.close()

    async def schema_version(self) -> int:
        async with self._connection() as conn:
            return await read_version(conn)

    async def policy_state(self, tenant: str = "", aliases: Sequence[str] = ()) -> LoopPolicyState:
        if self._loop is None:
            raise RuntimeError("store is not open")
        # The message's aliases are read here, in one query: the evaluating thread would otherwise
        # hold a worker while it waits on the database for each.
        return await LoopPolicyState.read_ahead(self, tenant, aliases)

    async def _fetchone(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        async with self._connection() as conn:
            cur = await conn.execute(sql, args)
            return await cur.fetchone()

    async def _fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            cur = await conn.execute(sql, args)
            return await cur.fetchall()

    # -- relays and counters ------------------------------------------------------------------------
    async def record_relay(self, queue_id: str, message_id: str, recipients: Sequence[tuple[str, str]],
                           order_ids: Sequence[str], tags: Iterable[str], counters: Sequence[str] = (),
                           *, tenant: str = "") -> None:
        """Record a message relayed to marketplace aliases, and bump per-order counters."""
        tag_text = " ".join(sorted(tags))
        order_text = " ".join(order_ids)
        # Counter rows are locked in sorted order: two relays naming the same orders never deadlock.
        bumps = sorted((order_id, counter) for order_id in order_ids for counter in counters)
        async with self._connection() as conn, conn.transaction():
            for alias, marketplace in recipients:
                cur = await conn.execute(
                    "INSERT INTO relays (tenant, queue_id, message_id, alias, marketplace, order_ids, tags,"
                    f" sent_at) VALUES (%s, %s, %s, %s, %s, %s, %s, {_NOW}) RETURNING id",
                    (tenant, queue_id, message_id, alias, marketplace, order_text, tag_text))
                row = await cur.fetchone()
                assert row is not None
                for order_id in order_ids:
                    await conn.execute(
                        "INSERT INTO relay_orders (order_id, marketplace, relay_id) VALUES (%s, %s, %s)"
                        " ON CONFLICT DO NOTHING", (order_id, marketplace, row[0]))
            for order_id, counter in bumps:
                await conn.execute(
                    "INSERT INTO order_counters (tenant, order_id, counter, count) VALUES (%s, %s, %s, 1)"
                    " ON CONFLICT (tenant, order_id, counter) DO UPDATE SET count = order_counters.count + 1",
                    (tenant, order_id, counter))

    async def order_counter(self, order_id: str, counter: str, tenant: str = "") -> int:
        row = await self._fetchone(
            "SELECT count FROM order_counters WHERE tenant = %s AND order_id = %s AND counter = %s",
            (tenant, order_id, counter))
        return int(row[0]) if row else 0

    async def relays_by_message_id(self, message_ids: Sequence[str],
                                   tenant: str = "") -> list[tuple[str, str]]:
        """(alias, marketplace) of relays whose Message-ID is one of ``message_ids`` (with or without <>)."""
        ids = _bare_and_bracketed(message_ids)
        if not ids:
            return []
        rows = await self._fetchall(
            "SELECT DISTINCT alias, marketplace FROM relays WHERE tenant = %s AND message_id = ANY(%s)",
            (tenant, ids))
        return [(str(a), str(m)) for a, m in rows]

    async def relays_by_order(self, order_id: str, marketplace: str | None, since: float,
                              tenant: str = "") -> list[tuple[str, str]]:
        sql = ("SELECT DISTINCT r.alias, r.marketplace FROM relay_orders o JOIN relays r ON r.id = o.relay_id"
               " WHERE o.order_id = %s AND r.sent_at >= %s AND r.tenant = %s")
        args: list[Any] = [order_id, since, tenant]
        if marketplace:
            sql += " AND o.marketplace = %s"
            args.append(marketplace)
        return [(str(a), str(m)) for a, m in await self._fetchall(sql, args)]

    # -- opt-out registry ---------------------------------------------------------------------------
    async def alias_status(self, alias: str, tenant: str = "") -> AliasStatus | None:
        row = await self._fetchone("SELECT status FROM aliases WHERE tenant = %s AND alias = %s",
                                   (tenant, alias.lower()))
        if row is None:
            return None
        status: AliasStatus = row[0]
        return status

    async def alias_statuses(self, aliases: Sequence[str], tenant: str = "") -> dict[str, AliasStatus]:
        wanted = sorted({a.lower() for a in aliases})
        if not wanted:
            return {}
        rows = await self._fetchall("SELECT alias, status FROM aliases WHERE tenant = %s AND alias = ANY(%s)",
                                    (tenant, wanted))
        return {str(a): s for a, s in rows}

    async def record_alias(self, alias: str, status: AliasStatus, *, marketplace: str | None,
                           order_id: str | None, evidence: str, source: str,
                           tenant: str = "") -> AliasRecord:
        row = await self._fetchone(
            f"{_UPSERT_ALIAS} RETURNING {_ACOLS}",
            (tenant, alias.lower(), status, marketplace, order_id, evidence, source))
        assert row is not None
        return _alias_record(row)

    async def get_alias(self, alias: str, tenant: str = "") -> AliasRecord | None:
        row = await self._fetchone(f"SELECT {_ACOLS} FROM aliases WHERE tenant = %s AND alias = %s",
                                   (tenant, alias.lower()))
        return _alias_record(row) if row else None

    async def remove_alias(self, alias: str, tenant: str = "") -> bool:
        row = await self._fetchone("DELETE FROM aliases WHERE tenant = %s AND alias = %s RETURNING 1",
                                   (tenant, alias.lower()))
        return row is not None

    async def list_aliases(self, status: AliasStatus | None = None, search: str | None = None,
                           tenant: str | None = None) -> list[AliasRecord]:
        """Registry entries, most recently seen first; ``tenant`` None lists every tenant's."""
        sql = f"SELECT {_ACOLS} FROM aliases WHERE true"
        args: list[Any] = []
        if tenant is not None:
            sql += " AND tenant = %s"
            args.append(tenant)
        if status:
            sql += " AND status = %s"
            args.append(status)
        if search:
            # As SQLite's LIKE: case-insensitive; % and _ typed by the admin are literal characters.
            sql += " AND (alias ILIKE %s ESCAPE '\\' OR order_id ILIKE %s ESCAPE '\\')"
            args += [f"%{like_literal(search.lower())}%", f"%{like_literal(search)}%"]
        sql += " ORDER BY last_seen DESC"
        return [_alias_record(row) for row in await self._fetchall(sql, args)]

    async def put_alias_record(self, record: AliasRecord) -> AliasRecord:
        """Merge a whole record (an import) into ``record.tenant``'s registry: keep the earliest
        first_seen, the latest last_seen and, when the incoming record is the newer one, its
        status, evidence and source."""
        row = await self._fetchone(
            "INSERT INTO aliases (tenant, alias, status, marketplace, order_id, first_seen, last_seen,"
            " evidence, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant, alias) DO UPDATE SET"
            " status = CASE WHEN excluded.last_seen >= aliases.last_seen THEN excluded.status"
            "   ELSE aliases.status END,"
            " evidence = CASE WHEN excluded.last_seen >= aliases.last_seen THEN excluded.evidence"
            "   ELSE aliases.evidence END,"
            " source = CASE WHEN excluded.last_seen >= aliases.last_seen THEN excluded.source"
            "   ELSE aliases.source END,"
            " marketplace = COALESCE(aliases.marketplace, excluded.marketplace),"
            " order_id = COALESCE(aliases.order_id, excluded.order_id),"
            " first_seen = LEAST(aliases.first_seen, excluded.first_seen),"
            " last_seen = GREATEST(aliases.last_seen, excluded.last_seen)"
            f" RETURNING {_ACOLS}",
            (record.tenant, record.alias.lower(), record.status, record.marketplace, record.order_id,
             record.first_seen, record.last_seen, record.evidence, record.source))
        assert row is not None
        return _alias_record(row)

    # -- bounce notices -----------------------------------------------------------------------------
    async def store_evidence(self, raw: bytes) -> tuple[str, str]:
        """Keep a notice's raw bytes; content-addressed, so the same notice stored twice is one row."""
        digest = hashlib.sha256(raw).hexdigest()
        async with self._connection() as conn:
            cur = await conn.execute("SELECT 1 FROM evidence WHERE sha256 = %s", (digest,))
            if await cur.fetchone() is None:
                await conn.execute(
                    f"INSERT INTO evidence (sha256, data, stored_at) VALUES (%s, %s, {_NOW})"
                    " ON CONFLICT (sha256) DO NOTHING", (digest, raw))
        return evidence_reference(digest), digest

    async def read_evidence(self, reference: str) -> bytes | None:
        digest = evidence_digest(reference)
        if digest is None:
            return None
        row = await self._fetchone("SELECT data FROM evidence WHERE sha256 = %s", (digest,))
        return bytes(row[0]) if row else None

    async def record_notice(self, kind: str, order_id: str | None, marketplace: str | None,
                            alias: str | None, matched_by: str | None, source: str,
                            report: dict[str, Any], tenant: str = "") -> int:
        row = await self._fetchone(
            "INSERT INTO bounce_notices (tenant, at, kind, order_id, marketplace, alias, matched_by, source,"
            f" report) VALUES (%s, {_NOW}, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (tenant, kind, order_id, marketplace, alias, matched_by, source, _json(report)))
        assert row is not None
        return int(row[0])

    async def record_bounce(self, notice: NoticeRow,
                            alias_updates: Sequence[AliasUpdate] = ()) -> RecordedBounce | None:
        """Record a notice and the alias statuses it establishes (in ``notice.tenant``'s registry),
        in one transaction.

        Returns None when a notice with the same bytes was recorded before: the first recording
        stands. Two instances recording the same bytes at once meet on the unique (tenant, sha256)
        index; the second waits for the first and then records nothing.
        """
        tenant = notice.tenant
        async with self._connection() as conn, conn.transaction():
            cur = await conn.execute(
                "INSERT INTO bounce_notices (tenant, at, kind, order_id, marketplace, alias, matched_by,"
                f" source, report, resolved, evidence, sha256) VALUES (%s, {_NOW}, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s) ON CONFLICT (tenant, sha256) DO NOTHING RETURNING id",
                (tenant, notice.kind, notice.order_id, notice.marketplace,
                 notice.alias.lower() if notice.alias else None, notice.matched_by, notice.source,
                 _json(notice.report), notice.resolved, notice.evidence, notice.sha256))
            row = await cur.fetchone()
            if row is None:
                return None
            previous: dict[str, AliasStatus | None] = {}
            # Sorted (stable for repeated aliases): concurrent notices lock aliases in one order.
            for update in sorted(alias_updates, key=lambda u: u.alias.lower()):
                alias = update.alias.lower()
                previous[alias] = await self._set_alias_status(conn, tenant, alias, update, notice)
            in_given_order = {u.alias.lower(): previous[u.alias.lower()] for u in alias_updates}
            return RecordedBounce(notice_id=int(row[0]), previous_status=in_given_order)

    @staticmethod
    async def _set_alias_status(conn: Connection, tenant: str, alias: str, update: AliasUpdate,
                                notice: NoticeRow) -> AliasStatus | None:
        """Upsert one alias inside the caller's transaction; return its status before, read under
        the row's lock so a concurrent writer cannot slip between the read and the write."""
        args = (tenant, alias, update.status, update.marketplace, update.order_id, notice.evidence or "",
                notice.source)
        cur = await conn.execute("SELECT status FROM aliases WHERE tenant = %s AND alias = %s FOR UPDATE",
                                 (tenant, alias))
        row = await cur.fetchone()
        if row is None:
            # No row to lock: insert; if another transaction inserted it meanwhile (the insert waits
            # for it), the row now exists and is read under its lock below.
            cur = await conn.execute(f"{_INSERT_ALIAS} ON CONFLICT (tenant, alias) DO NOTHING RETURNING 1", args)
            if await cur.fetchone() is not None:
                return None
            cur = await conn.execute("SELECT status FROM aliases WHERE tenant = %s AND alias = %s FOR UPDATE",
                                     (tenant, alias))
            row = await cur.fetchone()
        await conn.execute(_UPSERT_ALIAS, args)
        status: AliasStatus | None = row[0] if row else None
        return status

    async def notice(self, notice_id: int) -> dict[str, Any] | None:
        row = await self._fetchone(f"SELECT {_NCOLS} FROM bounce_notices WHERE id = %s", (notice_id,))
        return _notice(row) if row else None

    async def notices(self, alias: str | None = None, tenant: str | None = None,
                      limit: int = 1000) -> list[dict[str, Any]]:
        """Recorded notices, newest first; ``tenant`` None gives every tenant's."""
        sql = f"SELECT {_NCOLS} FROM bounce_notices WHERE true"
        args: list[Any] = []
        if tenant is not None:
            sql += " AND tenant = %s"
            args.append(tenant)
        if alias:
            sql += " AND alias = %s"
            args.append(alias.lower())
        sql += " ORDER BY id DESC LIMIT %s"
        args.append(limit)
        return [_notice(r) for r in await self._fetchall(sql, args)]

    async def unmatched_notices(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """The admins' review list: notices no alias was found for; ``tenant`` None gives all."""
        sql = ("SELECT id, at, kind, order_id, marketplace, source, report, tenant FROM bounce_notices"
               " WHERE alias IS NULL AND NOT resolved")
        args: list[Any] = []
        if tenant is not None:
            sql += " AND tenant = %s"
            args.append(tenant)
        rows = await self._fetchall(sql + " ORDER BY at DESC", args)
        return [{"id": r[0], "at": float(r[1]), "kind": r[2], "order_id": r[3], "marketplace": r[4],
                 "source": r[5], "report": r[6], "tenant": r[7]} for r in rows]

    async def assign_notice(self, notice_id: int, alias: str) -> None:
        await self._fetchall(
            "UPDATE bounce_notices SET alias = %s, matched_by = 'admin', resolved = true WHERE id = %s"
            " RETURNING id", (alias.lower(), notice_id))

    # -- decisions, audit and caps -------------------------------------------------------------------
    async def record_decision(self, ref: str, message_id: str, peer: str, mail_from: str,
                              rcpt_tos: Sequence[str], marketplace: str | None, action: str,
                              rules: Sequence[str], *, tenant: str = "", shadow: bool = False) -> None:
        """One decision; with ``shadow`` the action is what would have happened (the mail was relayed)."""
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO decisions (at, tenant, shadow, ref, message_id, peer, mail_from, rcpt_tos,"
                f" marketplace, action, rules) VALUES ({_NOW}, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (tenant, shadow, ref, message_id, peer, mail_from, list(rcpt_tos), marketplace, action,
                 " ".join(rules)))

    async def decisions(self, since: float = 0.0, limit: int = 1000,
                        tenant: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT at, ref, message_id, peer, mail_from, rcpt_tos, marketplace, action, rules,"
               " tenant, shadow FROM decisions WHERE at >= %s")
        args: list[Any] = [since]
        if tenant is not None:
            sql += " AND tenant = %s"
            args.append(tenant)
        rows = await self._fetchall(sql + " ORDER BY at DESC LIMIT %s", [*args, limit])
        return [{"at": float(r[0]), "ref": r[1], "message_id": r[2], "peer": r[3], "mail_from": r[4],
                 "rcpt_tos": list(r[5]), "marketplace": r[6], "action": r[7],
                 "rules": r[8].split() if r[8] else [], "tenant": r[9], "shadow": bool(r[10])}
                for r in rows]

    async def audit(self, actor: str, action: str, obj: str, reason: str) -> None:
        async with self._connection() as conn:
            await _audit(conn, actor, action, obj, reason)

    async def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = await self._fetchall(
            "SELECT at, actor, action, object, reason FROM audit ORDER BY id DESC LIMIT %s", (limit,))
        return [{"at": float(r[0]), "actor": r[1], "action": r[2], "object": r[3], "reason": r[4]}
                for r in rows]

    async def _reserve_count(self, table: str, key: dict[str, str], limit: int) -> bool:
        """Add one to ``table``'s count for ``key`` unless it is at ``limit``; False (and no count)
        when it is. ``table`` and the key's columns are this module's own names, never input.

        One statement: the conflicting row is locked and the limit re-checked against its latest
        count, so instances racing for the last slot never push the count past ``limit``.
        """
        columns = ", ".join(key)
        row = await self._fetchone(
            f"INSERT INTO {table} ({columns}, count) SELECT {', '.join(['%s'] * len(key))}, 1 WHERE %s > 0"
            f" ON CONFLICT ({columns}) DO UPDATE SET count = {table}.count + 1"
            f" WHERE {table}.count < %s RETURNING count",
            (*key.values(), limit, limit))
        return row is not None

    async def _release_count(self, table: str, key: dict[str, str]) -> None:
        where = " AND ".join(f"{column} = %s" for column in key)
        await self._fetchall(f"UPDATE {table} SET count = GREATEST(count - 1, 0) WHERE {where} RETURNING count",
                             tuple(key.values()))

    async def reserve_send(self, tenant: str, marketplace: str, day: str, cap: int) -> bool:
        """Count one proactive message against the day's cap; False (and no count) when it is full."""
        return await self._reserve_count("daily_sends", {"tenant": tenant, "marketplace": marketplace, "day": day},
                                         cap)

    async def reserve_counter(self, order_id: str, counter: str, limit: int, tenant: str = "") -> bool:
        return await self._reserve_count("order_counters",
                                         {"tenant": tenant, "order_id": order_id, "counter": counter}, limit)

    async def release_counter(self, order_id: str, counter: str, tenant: str = "") -> None:
        await self._release_count("order_counters", {"tenant": tenant, "order_id": order_id, "counter": counter})

    async def release_send(self, tenant: str, marketplace: str, day: str) -> None:
        await self._release_count("daily_sends", {"tenant": tenant, "marketplace": marketplace, "day": day})

    async def sends(self, tenant: str, marketplace: str, day: str) -> int:
        row = await self._fetchone(
            "SELECT count FROM daily_sends WHERE tenant = %s AND marketplace = %s AND day = %s",
            (tenant, marketplace, day))
        return int(row[0]) if row else 0

    # -- quarantine ---------------------------------------------------------------------------------
    async def quarantine(self, data: bytes, *, peer: str, mail_from: str, rcpt_tos: Sequence[str],
                         message_id: str, subject: str, marketplace: str | None,
                         verdict: dict[str, Any], tenant: str = "") -> str:
        qid = "Q" + uuid.uuid4().hex[:16].upper()
        keys = await asyncio.to_thread(search_keys, data, mail_from, rcpt_tos, verdict, subject)
        async with self._connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO quarantine (id, tenant, held_at, peer, mail_from, rcpt_tos, message_id, subject,"
                f" marketplace, verdict, size) VALUES (%s, %s, {_NOW}, %s, %s, %s, %s, %s, %s, %s, %s)",
                (qid, tenant, peer, mail_from, list(rcpt_tos), message_id, subject, marketplace,
                 _json(verdict), len(data)))
            await conn.execute("INSERT INTO quarantine_messages (id, data) VALUES (%s, %s)", (qid, data))
            await index_quarantined(conn, qid, _NOW, keys, subject)
        return qid

    async def list_quarantine(self, status: str | None = "held",
                              tenant: str | None = None) -> list[QuarantineRecord]:
        sql = f"SELECT {_QCOLS} FROM quarantine WHERE true"
        args: list[Any] = []
        if status:
            sql += " AND status = %s"
            args.append(status)
        if tenant is not None:
            sql += " AND tenant = %s"
            args.append(tenant)
        sql += " ORDER BY held_at DESC"
        return [_quarantine_record(r) for r in await self._fetchall(sql, args)]

    async def get_quarantine(self, qid: str) -> QuarantineRecord | None:
        row = await self._fetchone(f"SELECT {_QCOLS} FROM quarantine WHERE id = %s", (qid,))
        return _quarantine_record(row) if row else None

    async def quarantined_bytes(self, qid: str) -> bytes | None:
        row = await self._fetchone("SELECT data FROM quarantine_messages WHERE id = %s", (qid,))
        return bytes(row[0]) if row else None

    async def drop_quarantined_bytes(self, qid: str) -> None:
        await self._fetchall("DELETE FROM quarantine_messages WHERE id = %s RETURNING id", (qid,))

    async def claim_quarantine(self, qid: str, new_status: str, actor: str, reason: str,
                               instance: str = "") -> bool:
        """Move a held message to ``released``/``deleted`` exactly once, with its audit record.

        Of two instances claiming at once, the second's UPDATE waits for the first to commit, then
        finds the row no longer held and changes nothing.
        """
        return await self._transition(qid, "held", new_status, actor, new_status, reason, instance)

    async def mark_release_spooled(self, qid: str, queue_id: str) -> None:
        await self._fetchall("UPDATE quarantine SET queue_id = %s WHERE id = %s RETURNING id", (queue_id, qid))

    async def unspooled_releases(self, instance: str, claimed_before: float) -> list[QuarantineRecord]:
        rows = await self._fetchall(
            f"SELECT {_QCOLS} FROM quarantine WHERE status = 'released' AND queue_id IS NULL"
            " AND claimed_by = %s AND claimed_at < %s ORDER BY claimed_at", (instance, claimed_before))
        return [_quarantine_record(r) for r in rows]

    async def unclaim_quarantine(self, qid: str, actor: str, reason: str) -> bool:
        """Undo a release whose spooling failed: back to ``held``, with its own audit record."""
        return await self._transition(qid, "released", "held", actor, "release-failed", reason)

    async def _transition(self, qid: str, old: str, new: str, actor: str, action: str, reason: str,
                          instance: str = "") -> bool:
        async with self._connection() as conn, conn.transaction():
            # claimed_at from this instance's clock: unspooled_releases compares it with the same.
            cur = await conn.execute(
                "UPDATE quarantine SET status = %s, claimed_by = %s, claimed_at = %s, queue_id = NULL"
                " WHERE id = %s AND status = %s RETURNING id", (new, instance, time.time(), qid, old))
            if await cur.fetchone() is None:
                return False
            await _audit(conn, actor, action, qid, reason)
            return True

    # -- reports ------------------------------------------------------------------------------------
    async def report(self, since: float = 0.0, top: int = 10,
                     tenant: str | None = None) -> dict[str, Any]:
        sql = "SELECT mail_from, marketplace, action, rules, shadow FROM decisions WHERE at >= %s"
        args: list[Any] = [since]
        if tenant is not None:
            sql += " AND tenant = %s"
            args.append(tenant)
        return report_from_rows(await self._fetchall(sql, args), since, top, tenant)

    async def prune(self, *, relays_before: float | None = None,
                    decisions_before: float | None = None) -> dict[str, int]:
        # Row locks on the deleted rows only: serving instances keep inserting meanwhile.
        out = {"relays": 0, "decisions": 0}
        async with self._connection() as conn:
            if relays_before is not None:  # relay_orders go with them (ON DELETE CASCADE)
                cur = await conn.execute("DELETE FROM relays WHERE sent_at < %s", (relays_before,))
                out["relays"] = cur.rowcount
            if decisions_before is not None:
                cur = await conn.execute("DELETE FROM decisions WHERE at < %s", (decisions_before,))
                out["decisions"] = cur.rowcount
        return out

    async def state_counts(self) -> tuple[int, dict[str, int]]:
        held = await self._fetchone("SELECT count(*) FROM quarantine WHERE status = 'held'")
        kinds = await self._fetchall("SELECT kind, count(*) FROM bounce_notices GROUP BY kind")
        return int(held[0]) if held else 0, {str(k): int(n) for k, n in kinds}

    async def daily_counts(self, days: int = 14) -> list[dict[str, Any]]:
        """Per UTC day: messages by action and hits by rule, newest day first."""
        return daily_from_rows(await self._fetchall(
            "SELECT to_char(to_timestamp(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), action, rules, shadow"
            f" FROM decisions WHERE at >= {_NOW} - %s", (days * 86400,)))


async def _audit(conn: Connection, actor: str, action: str, obj: str, reason: str) -> None:
    await conn.execute(
        f"INSERT INTO audit (at, actor, action, object, reason) VALUES ({_NOW}, %s, %s, %s, %s)",
        (actor, action, obj, reason))
