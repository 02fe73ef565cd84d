"""Checks on form and attachments: emoji, formatting, attachment size, kinds and names, structure."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from gateway.message import normalize
from gateway.message.patterns import EMOJI_CHARACTER, NOT_EMOJI
from gateway.policy.checks.registry import check
from gateway.policy.context import Context

# Every emoji lies in these blocks; a one-range scan (stdlib re) rules most texts out quickly.
_EMOJI_BLOCKS = re.compile("[\u203c\u2049\u2122-\u2bff\u3030\u303d\u3297\u3299\U0001f000-\U0001fffd]")


def _latin1(text: str) -> bool:
    """Only Latin-1 characters (most European mail): no emoji possible but the © and ® we allow."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


@check("emoji", "emoji characters (Unicode Extended_Pictographic)")
def _emoji(ctx: Context, params: Mapping[str, Any]) -> str | None:
    for text in (ctx.subject, ctx.own_text):
        if _latin1(text) or not _EMOJI_BLOCKS.search(text):
            continue
        for m in EMOJI_CHARACTER.finditer(text):
            if m.group(0) not in NOT_EMOJI:
                return f"U+{ord(m.group(0)):04X} {m.group(0)}"
    return None


_CAPS_WORD = re.compile(r"[A-Z][A-ZÀ-ÖØ-Þ]{3,}")
# Capital letters of cp1252 text as "A", everything else as a space: runs of capitals in C speed.
_CAPS_RUN = re.compile(rb"AAAA+")
_CAPS_TABLE = bytes(0x41 if (0x41 <= b <= 0x5A or (0xC0 <= b <= 0xDE and b != 0xD7)) else 0x20 for b in range(256))


def _many_capital_words(text: str, limit: int) -> bool:
    """A fast pre-check: more than ``limit`` runs of four or more capitals (may over-count)."""
    try:
        raw = text.encode("latin-1")  # a copy; cp1252's encoder walks a table (same letters here)
    except UnicodeEncodeError:
        try:
            raw = text.encode("cp1252")
        except UnicodeEncodeError:
            return True
    # (counting the runs of four or more, without a list of every capital's run)
    return len(_CAPS_RUN.findall(raw.translate(_CAPS_TABLE))) > limit


# Reply prefixes mail clients write in the marketplace languages (RE, AW, SV, Odp, YNT, Antw, R, Rif, ...).
_REPLY_PREFIX = re.compile(r"(?i)^\s*(?:re|aw|sv|odp|ynt|cvp|antw|r|rif|res|ref|返信|回复)\s*(?:\[\d+\])?\s*[:：]")
_NEUTRAL_COLORS = frozenset({"#000", "#000000", "black", "inherit", "#fff", "#ffffff", "white", "transparent",
                              "windowtext", "currentcolor", "initial", "rgb(0,0,0)", "rgb(0, 0, 0)"})


@check("excessive-formatting", "many formatting tags, colours, large fonts, shouting",
       max_tags=25, max_colors=3, max_font_px=24, max_caps_words=8)
def _excessive_formatting(ctx: Context, params: Mapping[str, Any]) -> str | None:
    c = ctx.content
    if c.html_formatting > int(params["max_tags"]):
        return f"{c.html_formatting} formatting elements"
    colors = {col for col in c.html_colors if col not in _NEUTRAL_COLORS}
    if len(colors) > int(params["max_colors"]):
        return f"{len(colors)} colours: " + ", ".join(sorted(colors)[:5])
    if c.html_max_font_px > float(params["max_font_px"]):
        return f"font size {c.html_max_font_px:.0f}px"
    # A reply's subject after "Re:"/"AW:"/"SV:" is the buyer's own ("Schublade klemmt!!!").
    subject = "" if ctx.reply and _REPLY_PREFIX.match(ctx.subject) else ctx.subject
    for shout in ("!!!", "???"):
        if shout in subject or shout in ctx.own_text:
            return shout
    if _many_capital_words(ctx.own_text, int(params["max_caps_words"])):
        caps = _CAPS_WORD.findall(ctx.own_text)
        if len(caps) > int(params["max_caps_words"]):
            return "capitals: " + " ".join(caps[:5])
    return None


@check("attachment-size", "decoded attachments larger in total than the limit", max_bytes=10 * 1024 * 1024)
def _attachment_size(ctx: Context, params: Mapping[str, Any]) -> str | None:
    total = ctx.content.attachments_total
    if total > int(params["max_bytes"]):
        return f"{total} bytes in {len(ctx.content.attachments)} attachment(s)"
    return None


@check("attachment-kinds", "attachments whose content (or name) is of the listed kinds",
       kinds=["executable", "script", "archive"])
def _attachment_kinds(ctx: Context, params: Mapping[str, Any]) -> str | None:
    kinds = set(params["kinds"])
    for att in ctx.content.attachments:
        if att.kind in kinds:
            return f"{att.filename or '(unnamed)'}: {att.kind} ({att.sniffed_type or att.declared_type})"
    return None


@check("attachment-not-allowed-kind", "attachments of a kind outside the allowed list",
       allowed=["pdf", "image", "text"], report_parts=[])
def _attachment_other(ctx: Context, params: Mapping[str, Any]) -> str | None:
    allowed = set(params["allowed"])
    # The machine-readable part of a report (a read receipt's message/disposition-notification) is
    # the mail client's, not a file the seller attached.
    reports = set(params["report_parts"])
    for att in ctx.content.attachments:
        if att.kind not in allowed and att.declared_type.lower() not in reports:
            return f"{att.filename or '(unnamed)'}: {att.sniffed_type or att.declared_type}"
    return None


@check("message-truncated", "MIME structure too deep or with too many parts to read completely")
def _message_truncated(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if ctx.content.truncated:
        return "; ".join(ctx.content.problems)[:200] or "structure limit reached"
    return None


@check("order-id-missing", "no 17-digit order id (3-7-7) in subject or body")
def _order_id_missing(ctx: Context, params: Mapping[str, Any]) -> str | None:
    return None if ctx.order_ids else "no order id like 302-4817265-9034712"


# Sentences that carry no request of their own.


@functools.lru_cache(maxsize=256)
def _normalized(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(normalize(w).strip() for w in words)


_TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "å": "aa", "æ": "ae", "ø": "oe"})


@functools.lru_cache(maxsize=256)
def _file_name_forms(words: tuple[str, ...]) -> tuple[str, ...]:
    """The words as file names write them, too: "Broschuere", "Broschure" for "Broschüre", "Catalogo"
    for "Catálogo" (ERPs and scanners keep file names ASCII)."""
    forms: dict[str, None] = {}
    for word in _normalized(words):
        forms[word] = None
        forms[word.translate(_TRANSLITERATION)] = None
        bare = "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch))
        forms[bare] = None
    return tuple(f for f in forms if f)


@check("attachment-names", "an attachment of the given kinds whose file name contains one of the words",
       words=[], kinds=["pdf"])
def _attachment_names(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if not ctx.content.attachments:
        return None
    words = _file_name_forms(tuple(params["words"]))
    kinds = set(params["kinds"])
    for att in ctx.content.attachments:
        if att.kind in kinds:
            name = normalize(att.filename)
            if any(w and w in name for w in words):
                return att.filename
    return None
