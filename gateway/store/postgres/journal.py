"""PostgreSQL: the decisions made, the admins' audit log, and the reports read from them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.store import sql
from gateway.store.base import daily_from_rows, report_from_rows
from gateway.store.postgres.core import PostgresCore
from gateway.store.sql import POSTGRES as D


class PostgresJournal(PostgresCore):
    async def record_decision(self, ref: str, message_id: str, peer: str, mail_from: str,
                              rcpt_tos: Sequence[str], marketplace: str | None, action: str,
                              rules: Sequence[str], *, tenant: str = "", shadow: bool = False) -> None:
        """One decision; with ``shadow`` the action is what would have happened (the mail was relayed)."""
        await self._execute(sql.insert_decision(D), (tenant, shadow, ref, message_id, peer, mail_from,
                                                     list(rcpt_tos), marketplace, action, " ".join(rules)))

    async def decisions(self, since: float = 0.0, limit: int = 1000,
                        tenant: str | None = None) -> list[dict[str, Any]]:
        statement, args = sql.select(D, f"SELECT {sql.DECISION_COLUMNS} FROM decisions WHERE at >= %s",
                                     [("tenant", tenant)], order="at DESC", limit=limit)
        return [sql.decision(r, lambda v: v) for r in await self._fetchall(statement, [since, *args])]

    async def audit(self, actor: str, action: str, obj: str, reason: str) -> None:
        await self._execute(sql.insert_audit(D), (actor, action, obj, reason))

    async def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = await self._fetchall(
            "SELECT at, actor, action, object, reason FROM audit ORDER BY id DESC LIMIT %s", (limit,))
        return [sql.audit_entry(r) for r in rows]

    async def report(self, since: float = 0.0, top: int = 10, tenant: str | None = None) -> dict[str, Any]:
        statement, args = sql.select(D, "SELECT mail_from, marketplace, action, rules, shadow FROM decisions"
                                        " WHERE at >= %s", [("tenant", tenant)])
        return report_from_rows(await self._fetchall(statement, [since, *args]), since, top, tenant)

    async def daily_counts(self, days: int = 14) -> list[dict[str, Any]]:
        """Per UTC day: messages by action and hits by rule, newest day first."""
        return daily_from_rows(await self._fetchall(
            "SELECT to_char(to_timestamp(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), action, rules, shadow"
            f" FROM decisions WHERE at >= {D.now} - %s", (days * 86400,)))

    async def state_counts(self) -> tuple[int, dict[str, int]]:
        held = await self._fetchone("SELECT count(*) FROM quarantine WHERE status = 'held'")
        kinds = await self._fetchall("SELECT kind, count(*) FROM bounce_notices GROUP BY kind")
        return int(held[0]) if held else 0, {str(k): int(n) for k, n in kinds}
