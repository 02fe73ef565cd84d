"""SQLite: the decisions made, the admins' audit log, and the reports read from them."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from gateway.store import sql
from gateway.store.base import daily_from_rows
from gateway.store.shared import SharedJournal
from gateway.store.sql import SQLITE as D
from gateway.store.sqlite.core import SQLiteCore


class SQLiteJournal(SharedJournal, SQLiteCore):
    async def record_decision(self, ref: str, message_id: str, peer: str, mail_from: str,
                              rcpt_tos: Sequence[str], marketplace: str | None, action: str,
                              rules: Sequence[str], *, tenant: str = "", shadow: bool = False) -> None:
        """One decision; with ``shadow`` the action is what would have happened (the mail was relayed)."""
        await self._execute(sql.insert_decision(D), (tenant, int(shadow), ref, message_id, peer, mail_from,
                                                     json.dumps(list(rcpt_tos)), marketplace, action, " ".join(rules)))

    async def daily_counts(self, days: int = 14) -> list[dict[str, Any]]:
        """Per UTC day: messages by action and hits by rule, newest day first."""
        return daily_from_rows(await self._fetchall(
            "SELECT date(at, 'unixepoch') AS day, action, rules, shadow FROM decisions WHERE at >= ?",
            (time.time() - days * 86400,)))
