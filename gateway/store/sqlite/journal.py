"""SQLite: the decisions made, the admins' audit log, and the reports read from them."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from gateway.store import sql
from gateway.store.base import daily_from_rows, report_from_rows
from gateway.store.sql import SQLITE as D
from gateway.store.sqlite.core import SQLiteCore


class SQLiteJournal(SQLiteCore):
    async def record_decision(self, ref: str, message_id: str, peer: str, mail_from: str,
                              rcpt_tos: Sequence[str], marketplace: str | None, action: str,
                              rules: Sequence[str], *, tenant: str = "", shadow: bool = False) -> None:
        """One decision; with ``shadow`` the action is what would have happened (the mail was relayed)."""
        await self._execute(sql.insert_decision(D), (tenant, int(shadow), ref, message_id, peer, mail_from,
                                                     json.dumps(list(rcpt_tos)), marketplace, action, " ".join(rules)))

    async def decisions(self, since: float = 0.0, limit: int = 1000,
                        tenant: str | None = None) -> list[dict[str, Any]]:
        statement, args = sql.select(D, f"SELECT {sql.DECISION_COLUMNS} FROM decisions WHERE at >= ?",
                                     [("tenant", tenant)], order="at DESC", limit=limit)
        return [sql.decision(r, json.loads) for r in await self._fetchall(statement, [since, *args])]

    async def audit(self, actor: str, action: str, obj: str, reason: str) -> None:
        await self._execute(sql.insert_audit(D), (actor, action, obj, reason))

    async def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = await self._fetchall("SELECT at, actor, action, object, reason FROM audit ORDER BY id DESC LIMIT ?",
                                    (limit,))
        return [sql.audit_entry(r) for r in rows]

    async def report(self, since: float = 0.0, top: int = 10, tenant: str | None = None) -> dict[str, Any]:
        """Counts by action, rule and marketplace, and the senders with most violations, since ``since``."""
        statement, args = sql.select(D, "SELECT mail_from, marketplace, action, rules, shadow FROM decisions"
                                        " WHERE at >= ?", [("tenant", tenant)])
        return report_from_rows(await self._fetchall(statement, [since, *args]), since, top, tenant)

    async def daily_counts(self, days: int = 14) -> list[dict[str, Any]]:
        """Per UTC day: messages by action and hits by rule, newest day first."""
        return daily_from_rows(await self._fetchall(
            "SELECT date(at, 'unixepoch') AS day, action, rules, shadow FROM decisions WHERE at >= ?",
            (time.time() - days * 86400,)))

    async def state_counts(self) -> tuple[int, dict[str, int]]:
        def read(conn: Any) -> tuple[int, dict[str, int]]:
            held = conn.execute("SELECT count(*) FROM quarantine WHERE status = 'held'").fetchone()[0]
            kinds = conn.execute("SELECT kind, count(*) FROM bounce_notices GROUP BY kind").fetchall()
            return int(held), {str(k): int(n) for k, n in kinds}

        return await self._read(read)
