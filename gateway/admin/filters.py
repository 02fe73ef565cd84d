"""Quarantine and audit filters from a URL's query (or a form): the same fields for pages and API.

Fields: ``status`` (held, released, deleted, all), ``tenant``, ``q`` (one box: an order id, an
address, ``@domain`` or subject words), ``alias``, ``order``, ``sender``, ``subject``, ``rule``,
``since`` / ``until`` (``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM`` in UTC, or epoch seconds; ``until``
given as a day includes that day), ``before`` (the next-page cursor) and ``limit``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from gateway.orderids import ORDER_ID
from gateway.store.search import PAGE_SIZE, AuditQuery, QuarantineQuery, parse_cursor

STATUSES = ("held", "released", "deleted", "all")
QUARANTINE_FIELDS = ("status", "tenant", "q", "alias", "order", "sender", "subject", "rule", "since", "until")
AUDIT_FIELDS = ("object", "actor", "action", "since", "until")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FilterError(ValueError):
    """A filter value that cannot be understood; the message names the field."""


def parse_time(value: str, name: str, *, end_of_day: bool = False) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM or epoch seconds, not {value[:40]!r}") \
            from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    stamp = when.timestamp()
    return stamp + 86400 if end_of_day and _DAY.match(value) else stamp


def _limit(value: str | None, default: int, ceiling: int) -> int:
    if not value:
        return default
    try:
        return max(1, min(int(value), ceiling))
    except ValueError:
        raise FilterError(f"limit: expected a number, not {value[:20]!r}") from None


@dataclass(frozen=True)
class QuarantineFilter:
    """What the admin asked for (the form's values, as typed) and the store query it means."""

    values: dict[str, str]
    query: QuarantineQuery

    def link(self, **changes: str | None) -> str:
        """This filter's list URL with some fields changed (None removes one)."""
        # tenant: absent or "*" lists every tenant's messages; present and empty, the default tenant's.
        fields = {k: v for k, v in self.values.items() if v or (k == "tenant" and self.query.tenant is not None)}
        for key, value in changes.items():
            if value is None:
                fields.pop(key, None)
            else:
                fields[key] = value
        return "/quarantine" + (f"?{urlencode(fields)}" if fields else "")


def quarantine_filter(params: Mapping[str, Any], *, marketplace_prefix: str = "marketplace.amazon.",
                      default_limit: int = PAGE_SIZE, max_limit: int = 500) -> QuarantineFilter:
    values = {name: str(params.get(name, "") or "").strip()[:300] for name in QUARANTINE_FIELDS}
    status = values["status"] or "held"
    if status not in STATUSES:
        raise FilterError(f"status: one of {', '.join(STATUSES)}")
    values["status"] = status
    alias, order_id, sender, subject = values["alias"], values["order"], values["sender"], values["subject"]
    free = values["q"]
    if free:
        if ORDER_ID.fullmatch(free):
            order_id = order_id or free
        elif free.startswith("@"):
            sender = sender or free
        elif "@" in free and " " not in free:
            if marketplace_prefix in free.lower().rsplit("@", 1)[1] + ".":
                alias = alias or free
            else:
                sender = sender or free
        else:
            subject = f"{subject} {free}".strip()
    before = parse_cursor(str(params.get("before", "") or ""))
    query = QuarantineQuery(
        status=None if status == "all" else status,
        tenant=None if params.get("tenant") is None or values["tenant"] == "*" else values["tenant"],
        alias=alias, order_id=order_id, sender=sender, subject=subject, rule=values["rule"],
        since=parse_time(values["since"], "since"), until=parse_time(values["until"], "until", end_of_day=True),
        before=before, limit=_limit(str(params.get("limit", "") or ""), default_limit, max_limit))
    return QuarantineFilter(values, query)


def audit_query(params: Mapping[str, Any], *, default_limit: int = 100) -> tuple[dict[str, str], AuditQuery]:
    values = {name: str(params.get(name, "") or "").strip()[:300] for name in AUDIT_FIELDS}
    before = str(params.get("before", "") or "")
    if before and not before.isdigit():
        raise FilterError("before: expected an audit record id")
    return values, AuditQuery(obj=values["object"], actor=values["actor"], action=values["action"],
                              since=parse_time(values["since"], "since"),
                              until=parse_time(values["until"], "until", end_of_day=True),
                              before_id=int(before) if before else None,
                              limit=_limit(str(params.get("limit", "") or ""), default_limit, 1000))
