"""Amazon order ids: the one definition of what an order id is, for policy, relay records and bounces.

An order id is 17 digits in groups of 3-7-7 (302-4817265-9034712). Sellers' systems do not always
write the plain hyphen: HTML templates use non-breaking or en dashes, Japanese templates full-width
digits. ``find_order_ids`` reads all of these and returns the canonical form; ``mask_order_ids``
blanks every order-id-shaped number (also with spaces between the groups, or as a 17-digit run) so
that no number matcher (phone numbers above all: the middle group of ``302-0817265-...`` is a
valid German number) ever sees one.
"""

from __future__ import annotations

import re
import unicodedata

import regex

from gateway.message import read_message

__all__ = ["ORDER_ID", "find_order_ids", "mask_order_ids", "order_ids_in_message", "order_ids_in_text"]

ORDER_ID = re.compile(r"(?<!\d)(\d{3}-\d{7}-\d{7})(?!\d)")
"""The canonical form (group 1 is the id)."""

# Hyphen-minus, hyphen, non-breaking hyphen, figure dash, en dash, em dash, minus sign, small and
# full-width hyphen-minus (NFKC folds the last two, but callers may pass raw text).
_DASH = "\\-\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d"
# The regex module: on long texts several times faster than re for these digit patterns.
_WRITTEN = regex.compile(rf"(?<!\d)(\d{{3}})[{_DASH}](\d{{7}})[{_DASH}](\d{{7}})(?!\d)")
_MASKABLE = regex.compile(
    rf"(?<!\d)\d{{3}}[{_DASH}\s]{{1,3}}\d{{7}}[{_DASH}\s]{{1,3}}\d{{7}}(?!\d)|(?<!\d)\d{{17}}(?!\d)")

# The same two patterns for Latin-1 text, over one byte per character ("d" a digit, "-" the one
# Latin-1 dash, "s" white space, "x" anything else; the positions are the text's): bytes.translate
# classifies at memory speed, and patterns that start with a literal are searched for, where the
# str patterns (which start with a look-behind) are tried at every character. The look-behind
# ("no digit before") is checked on each match: a match that fails it cannot hide one that passes.
_CLASSES = bytes(ord("d") if 0x30 <= b <= 0x39 else ord("-") if b == 0x2D else
                 ord("s") if b in b"\t\n\v\f\r \x85\xa0" else ord("x") for b in range(256))
_WRITTEN_CLASSES = re.compile(rb"ddd-d{7}-d{7}(?!d)")
_MASKABLE_CLASSES = re.compile(rb"d(?:dd[-s]{1,3}d{7}[-s]{1,3}d{7}|d{16})(?!d)")


def _latin_spans(pattern: re.Pattern[bytes], text: str) -> list[tuple[int, int]] | None:
    """The spans of ``pattern`` in the classes of ``text`` not preceded by a digit; None when the
    text is not Latin-1."""
    try:
        classes = text.encode("latin-1").translate(_CLASSES)
    except UnicodeEncodeError:
        return None
    return [m.span() for m in pattern.finditer(classes) if not m.start() or classes[m.start() - 1] != 0x64]


# Enough text to find the order ids of any real message.
MAX_ORDER_ID_TEXT = _MAX_TEXT = 1024 * 1024


def _digits_folded(text: str) -> str:
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text)


def find_order_ids(text: str) -> tuple[str, ...]:
    """Distinct order ids in ``text`` in canonical form, in order of appearance."""
    return find_folded_order_ids(_digits_folded(text[:_MAX_TEXT]))


def find_folded_order_ids(text: str) -> tuple[str, ...]:
    """``find_order_ids`` of a text already NFKC-folded and at most ``_MAX_TEXT`` long (the policy
    engine folds the message's text once for this and its other readers)."""
    spans = _latin_spans(_WRITTEN_CLASSES, text)
    if spans is not None:
        return tuple(dict.fromkeys(f"{text[s:s + 3]}-{text[s + 4:s + 11]}-{text[s + 12:e]}" for s, e in spans))
    return tuple(dict.fromkeys(f"{a}-{b}-{c}" for a, b, c in _WRITTEN.findall(text)))


order_ids_in_text = find_order_ids


def mask_order_ids(text: str, fill: str = "#") -> str:
    """``text`` with every order-id-shaped number replaced by ``fill`` characters (same length, so
    positions found in the masked text hold in the original). Expects NFKC-folded digits."""
    spans = _latin_spans(_MASKABLE_CLASSES, text)
    if spans is None:
        return _MASKABLE.sub(lambda m: fill * len(m.group(0)), text)
    if not spans:
        return text
    parts: list[str] = []
    at = 0
    for start, end in spans:
        parts += (text[at:start], fill * (end - start))
        at = end
    parts.append(text[at:])
    return "".join(parts)


def order_id_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The order-id-shaped numbers that overlap ``text[start:end]`` (looked for in a window around
    it only: number matchers ask about their few candidates instead of masking a whole text)."""
    left = max(0, start - 24)
    return [(left + m.start(), left + m.end()) for m in _MASKABLE.finditer(text[left:end + 24])
            if left + m.start() < end and left + m.end() > start]


def order_ids_in_message(raw: bytes) -> tuple[str, ...]:
    """Order ids in the Subject and the text of a raw message, read by the one message reader
    (every part decoded, HTML as text). CPU work: call it in a thread."""
    content = read_message(raw)
    return find_order_ids(content.subject + "\n" + content.body_text)
