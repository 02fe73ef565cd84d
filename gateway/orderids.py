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

# Enough text to find the order ids of any real message.
_MAX_TEXT = 1024 * 1024


def _digits_folded(text: str) -> str:
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text)


def find_order_ids(text: str) -> tuple[str, ...]:
    """Distinct order ids in ``text`` in canonical form, in order of appearance."""
    text = _digits_folded(text[:_MAX_TEXT])
    return tuple(dict.fromkeys(f"{a}-{b}-{c}" for a, b, c in _WRITTEN.findall(text)))


order_ids_in_text = find_order_ids


def mask_order_ids(text: str, fill: str = "#") -> str:
    """``text`` with every order-id-shaped number replaced by ``fill`` characters (same length, so
    positions found in the masked text hold in the original). Expects NFKC-folded digits."""
    return _MASKABLE.sub(lambda m: fill * len(m.group(0)), text)


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
