"""Finding held messages and audit records at volume: the query values both backends answer.

The quarantine list is read a page at a time, newest first, with a keyset cursor (``before``), so
page 2,000 costs what page 1 costs. What an admin searches by is indexed:

- exact keys in a side table (``quarantine_keys``): each recipient alias, the sender address and
  its ``@domain``, each rule that hit, each order id in the subject or text; one row per
  (key, message) carrying the hold time, so a search walks one index in list order;
- subject words (SQLite FTS5, PostgreSQL ``tsvector``), each word of the query a prefix;
- tenant, status and time range through the quarantine table's own indexes.

The keys are computed here, once, for both backends (``search_keys``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from gateway.message.text import decode_header_value
from gateway.orderids import ORDER_ID, order_ids_in_message
from gateway.store.records import AuditEntry, DecisionRecord, RelayRecord

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
BULK_LIMIT = 10_000
"""At most this many messages in one bulk action chosen by a search."""
COUNT_LIMIT = 10_000
"""A search (by keys or words) counts its matches up to this many; more shows as "10,000+"."""

_WORD = re.compile(r"\w+", re.UNICODE)
_MAX_WORDS = 8


def decode_subject(value: str) -> str:
    """A Subject as the buyer's mail program shows it, read by the message reader the rules use
    (gateway.message): RFC 2047 encoded words decoded, an unknown charset read as UTF-8 or cp1252,
    raw UTF-8 kept, a broken encoded word left as written."""
    return decode_header_value(value) if "=?" in value else value


def subject_words(text: str) -> list[str]:
    """The words of a subject search, lower-cased: only word characters reach either engine's query
    syntax, so nothing typed into the search box is ever an operator."""
    return [w.lower() for w in _WORD.findall(text)][:_MAX_WORDS]


def search_keys(data: bytes | None, mail_from: str, rcpt_tos: Sequence[str], verdict: dict[str, Any],
                subject: str) -> list[str]:
    """The exact-match keys a held message is found by (CPU work on the raw bytes: call in a thread)."""
    keys: set[str] = set()
    for rcpt in rcpt_tos:
        if rcpt.strip():
            keys.add(f"to:{rcpt.strip().lower()}")
    sender = mail_from.strip().strip("<>").lower()
    if sender:
        keys.add(f"from:{sender}")
        if "@" in sender:
            keys.add(f"from:@{sender.rsplit('@', 1)[1]}")
    for hit in verdict.get("hits", []) or []:
        if isinstance(hit, dict) and hit.get("rule"):
            keys.add(f"rule:{hit['rule']}")
    orders: Iterable[str] = ORDER_ID.findall(decode_subject(subject))
    if data is not None:
        orders = [*orders, *order_ids_in_message(data)]
    for order_id in [*orders, *(verdict.get("order_ids") or [])]:
        keys.add(f"order:{order_id}")
    return sorted(keys)


@dataclass(frozen=True)
class QuarantineQuery:
    """One page of the quarantine list; empty fields do not filter."""

    status: str | None = "held"
    """``held``, ``released``, ``deleted``, or None for all."""
    tenant: str | None = None
    alias: str = ""
    """A recipient alias, exactly (case-insensitive)."""
    order_id: str = ""
    sender: str = ""
    """An envelope sender address, or ``@domain`` for all of a domain."""
    rule: str = ""
    subject: str = ""
    """Words; each must begin a word of the (decoded) subject."""
    since: float | None = None
    until: float | None = None
    before: tuple[float, str] | None = None
    """Keyset cursor: only messages older than this (held_at, id)."""
    limit: int = PAGE_SIZE

    def keys(self) -> list[str]:
        out = []
        if self.alias.strip():
            out.append(f"to:{self.alias.strip().lower()}")
        if self.sender.strip():
            sender = self.sender.strip().strip("<>").lower()
            out.append(f"from:{sender}")
        if self.rule.strip():
            out.append(f"rule:{self.rule.strip()}")
        if self.order_id.strip():
            out.append(f"order:{self.order_id.strip()}")
        return out

    def words(self) -> list[str]:
        return subject_words(self.subject)

    def bounded(self) -> QuarantineQuery:
        return replace(self, limit=max(1, min(self.limit, MAX_PAGE_SIZE)))


def cursor_text(held_at: float, qid: str) -> str:
    return f"{held_at!r}:{qid}"


def parse_cursor(text: str) -> tuple[float, str] | None:
    """A ``before`` cursor from a URL; None when it is not one (the first page is shown)."""
    when, sep, qid = text.partition(":")
    if not sep or not re.fullmatch(r"[A-Za-z0-9]{1,40}", qid):
        return None
    try:
        return float(when), qid
    except ValueError:
        return None


@dataclass(frozen=True)
class AuditQuery:
    """A page of the audit trail, newest first; empty fields do not filter."""

    obj: str = ""
    actor: str = ""
    action: str = ""
    since: float | None = None
    until: float | None = None
    before_id: int | None = None
    limit: int = 100


@dataclass
class Page:
    """A page of results, the total that match, and the cursor of the next page (None: last page)."""

    items: list[Any]
    total: int
    next_cursor: str | None = None
    total_exact: bool = True
    """False when ``total`` is a lower bound (a search counts up to ``COUNT_LIMIT``)."""
    extra: dict[str, Any] = field(default_factory=dict)


def like_literal(text: str) -> str:
    """``text`` for a LIKE pattern with ``ESCAPE '\\'``: its %, _ and \\ match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fts5_match(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression: every word a quoted prefix (``"word"*``), all required."""
    return " ".join(f'"{w}"*' for w in words)


def tsquery(words: Sequence[str]) -> str:
    """A PostgreSQL ``to_tsquery('simple', ...)`` text: every word a prefix (``word:*``), all required."""
    return " & ".join(f"{w}:*" for w in words)


@dataclass(frozen=True)
class QuarantineSQL:
    """The FROM, WHERE and ORDER BY of a quarantine query, for one SQL dialect."""

    source: str
    where: str
    args: list[Any]
    page_where: str
    page_args: list[Any]
    order: str
    capped: bool
    """Count up to ``COUNT_LIMIT`` only: a search through the side tables, where an exact count of
    tens of thousands of matches would cost more than the page itself."""

    def count_sql(self) -> str:
        if self.capped:
            return f"SELECT count(*) FROM (SELECT 1 FROM {self.source} WHERE {self.where} LIMIT {COUNT_LIMIT + 1}) AS m"
        return f"SELECT count(*) FROM {self.source} WHERE {self.where}"


def quarantine_sql(query: QuarantineQuery, dialect: str) -> QuarantineSQL:
    """Build the query both backends run. ``dialect`` is ``sqlite`` or ``postgresql``; every
    value is a bound parameter, only this module's own names are formatted into the text."""
    p = "?" if dialect == "sqlite" else "%s"
    # SQLite's planner takes CROSS JOIN as the order to join in: the most selective index drives.
    join = "CROSS JOIN" if dialect == "sqlite" else "JOIN"
    conds: list[str] = []
    args: list[Any] = []
    keys = query.keys()
    words = query.words()
    if keys:
        # The first key drives: its index rows are in list order (held_at, qid).
        source = f"quarantine_keys k0 {join} quarantine q ON q.id = k0.qid"
        when, ident = "k0.held_at", "k0.qid"
        conds.append(f"k0.key = {p}")
        args.append(keys[0])
        for i, key in enumerate(keys[1:], start=1):
            conds.append(f"EXISTS (SELECT 1 FROM quarantine_keys k{i} WHERE k{i}.key = {p}"
                         f" AND k{i}.held_at = q.held_at AND k{i}.qid = q.id)")
            args.append(key)
        if words and dialect == "sqlite":
            conds.append("+q.rowid IN (SELECT rowid FROM quarantine_subjects WHERE quarantine_subjects MATCH ?)")
            args.append(fts5_match(words))
        elif words:
            conds.append("EXISTS (SELECT 1 FROM quarantine_search s WHERE s.qid = q.id"
                         " AND s.words @@ to_tsquery('simple', %s))")
            args.append(tsquery(words))
    elif words:
        when, ident = "q.held_at", "q.id"
        if dialect == "sqlite":
            # The list's own index drives (newest first, stopping at a page); the text index's matches
            # are one set it is checked against ("+" keeps SQLite from driving by rowid and sorting).
            source = "quarantine q"
            conds.append("+q.rowid IN (SELECT rowid FROM quarantine_subjects WHERE quarantine_subjects MATCH ?)")
            args.append(fts5_match(words))
        else:
            source = "quarantine_search s JOIN quarantine q ON q.id = s.qid"
            conds.append("s.words @@ to_tsquery('simple', %s)")
            args.append(tsquery(words))
    else:
        source = "quarantine q"
        when, ident = "q.held_at", "q.id"
    if query.status:
        conds.append(f"q.status = {p}")
        args.append(query.status)
    if query.tenant is not None:
        conds.append(f"q.tenant = {p}")
        args.append(query.tenant)
    _time_range(conds, args, when, query.since, query.until, p)
    where = " AND ".join(conds) or "1=1"
    page_where, page_args = where, list(args)
    if query.before is not None:
        page_where += f" AND ({when}, {ident}) < ({p}, {p})"
        page_args += [query.before[0], query.before[1]]
    return QuarantineSQL(source, where, args, page_where, page_args, f"{when} DESC, {ident} DESC",
                         capped=bool(keys or words))


def _time_range(conds: list[str], args: list[Any], column: str, since: float | None, until: float | None,
                p: str) -> None:
    """``since <= column < until``, either end open when None."""
    if since is not None:
        conds.append(f"{column} >= {p}")
        args.append(since)
    if until is not None:
        conds.append(f"{column} < {p}")
        args.append(until)


@dataclass(frozen=True)
class AuditSQL:
    where: str
    args: list[Any]


def audit_sql(query: AuditQuery, dialect: str) -> AuditSQL:
    p = "?" if dialect == "sqlite" else "%s"
    conds: list[str] = []
    args: list[Any] = []
    for column, value in (("object", query.obj), ("actor", query.actor), ("action", query.action)):
        if value:
            conds.append(f"{column} = {p}")
            args.append(value)
    _time_range(conds, args, "at", query.since, query.until, p)
    if query.before_id is not None:
        conds.append(f"id < {p}")
        args.append(query.before_id)
    return AuditSQL(" AND ".join(conds) or "1=1", args)




@dataclass
class MessageTrail:
    """What the store knows of one message, found by quarantine id, queue id or Message-ID."""

    decisions: list[DecisionRecord] = field(default_factory=list)
    held: list[Any] = field(default_factory=list)
    """QuarantineRecords."""
    relays: list[RelayRecord] = field(default_factory=list)
    queue_ids: list[str] = field(default_factory=list)
    """Spool queue ids the message went out under (relayed, or released from quarantine)."""


def message_ids(ref: str) -> list[str]:
    """A Message-ID as stored (``<id@host>``) and bare, or the reference itself."""
    bare = ref.strip().strip("<>").strip()
    return list(dict.fromkeys([ref.strip(), bare, f"<{bare}>"])) if bare else []


@runtime_checkable
class ReviewQueries(Protocol):
    """What both backends answer for the admin pages and API (beside ``Store``)."""

    async def search_quarantine(self, query: QuarantineQuery) -> Page: ...
    async def quarantine_ids(self, query: QuarantineQuery, limit: int = BULK_LIMIT) -> list[str]: ...
    async def quarantine_keys(self, qid: str) -> list[str]: ...
    async def audit_page(self, query: AuditQuery) -> Page: ...
    async def audit_for_objects(self, objects: Sequence[str]) -> dict[str, list[AuditEntry]]: ...
    async def message_trail(self, ref: str) -> MessageTrail: ...
    async def tenant_daily_counts(self, tenant: str, days: int = 14) -> list[dict[str, Any]]: ...
    async def quarantine_by_tenant(self) -> dict[str, dict[str, int]]: ...


def page_of(records: list[Any], total: int, query: QuarantineQuery) -> Page:
    """A page from up to ``query.limit + 1`` records (one more tells that a next page exists)."""
    items = records[:query.limit]
    more = len(records) > query.limit
    capped = quarantine_sql(query, "sqlite").capped and total > COUNT_LIMIT
    return Page(items, min(total, COUNT_LIMIT) if capped else total,
                cursor_text(items[-1].held_at, items[-1].id) if more and items else None, total_exact=not capped)
