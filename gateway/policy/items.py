"""Where the line items of an order table are (product name, quantity, prices): a product called
"5-Sterne Hotelkissen" or "Porta buoni sconto" on such a line is not a request or an offer.

Found once per document in the text as written (line breaks kept), then located in the normalised
text. The patterns are case-insensitive alternations that ``re`` would try at every position of a
line; each is split so that the part that can match at all is known from a cheap test first (the
results are those of the whole patterns).
"""

from __future__ import annotations

import re

from gateway.policy.content import fold

_AMOUNT_WITH_CURRENCY = (r"\d[.,]\d{2}\s?(?:€|eur\b|usd\b|\$|£|gbp\b|chf\b|zł|pln\b|kr\b|sek\b|tl\b|try\b|aed\b"
                         r"|sar\b|brl\b|درهم|ريال)")
# Prices as written: "29,95 EUR", "€ 16,50", "$64.00", "12,800円", "450.00 درهم", "269,00 kr".
PRICE = re.compile(r"(?i)" + _AMOUNT_WITH_CURRENCY + r"|(?:€|\$|£|¥|r\$)\s?\d|\d円")
_AMOUNT_FIRST = re.compile(r"(?i)" + _AMOUNT_WITH_CURRENCY)
"""PRICE's first alternative: all of PRICE on a line without a currency sign or 円 (the other two
need one). It starts with a digit, which re searches for; PRICE is tried at every character."""
_SIGNS = ("€", "$", "£", "¥", "円")

CURRENCY_HINTS: tuple[str, ...] = ("eur", "EUR", "€", "$", "£", "¥", "円", "CHF", "PLN", "zł", "kr", "SEK", "TL",
                                   "TRY", "AED", "SAR", "BRL", "USD", "GBP", "درهم", "ريال")
_LATIN_HINTS = tuple(h for h in CURRENCY_HINTS if all(ord(ch) < 256 for ch in h))

_MARKER_WORDS = (r"art\.?[ -]?nr|artikelnr|art\.? no|sku|ean|asin|qty|menge|anzahl|stk|stück|pos|réf|ref|cod|codice"
                 r"|código|aantal|ilość|antal|adet|quantité|quantità|cantidad")
ITEM_MARKER = re.compile(r"(?i)(?:^\s*\d{1,3}\s|\b(?:" + _MARKER_WORDS + r")\b|\b\d+\s?x\s|品番|数量|単価)")
"""A position number at the line's start, an article-number or quantity word, "2 x", or the
Japanese words for item number, quantity, unit price. ``has_item_marker`` is its search."""
_MARKER_START = re.compile(r"\s*\d{1,3}\s")
_MARKER_WORD = re.compile(r"(?i)\b(?:" + _MARKER_WORDS + r")\b")
_MARKER_TIMES = re.compile(r"(?i)\b\d+\s?x\s")
_MARKER_CJK = ("品番", "数量", "単価")
_WORD_STARTS = ("art", "sku", "ean", "asin", "qty", "menge", "anzahl", "stk", "stück", "pos", "réf", "ref", "cod",
                "código", "aantal", "ilość", "antal", "adet", "quantit", "cantidad")
"""Every marker word begins with one of these, lower-cased."""
_CASE_PEERS = str.maketrans({"ſ": "s", "ı": "i", "İ": "i"})
"""Letters that re's IGNORECASE matches with s and i but str.lower does not turn into them."""

SENTENCE_END = re.compile(r"[.!?。！？]\s|[.!?。！？]$")


def prices_in(line: str) -> int:
    """``len(PRICE.findall(line))``."""
    if any(sign in line for sign in _SIGNS):
        return len(PRICE.findall(line))
    return len(_AMOUNT_FIRST.findall(line))


def has_item_marker(line: str) -> bool:
    """``ITEM_MARKER.search(line) is not None``: the alternatives one by one, each only where a
    plain substring test says it can match."""
    if _MARKER_START.match(line):
        return True
    lowered = line.lower() if line.isascii() else line.translate(_CASE_PEERS).lower()
    if any(start in lowered for start in _WORD_STARTS) and _MARKER_WORD.search(line):
        return True
    if "x" in lowered and _MARKER_TIMES.search(line):
        return True
    return any(word in line for word in _MARKER_CJK)


def hint_positions(source: str) -> list[int]:
    """Where the currency hints occur (str.find per hint: several times faster than one
    alternation pattern, which re tries hint by hint at every position). Latin-1 text cannot
    hold the others."""
    hints = _LATIN_HINTS
    if not source.isascii():
        try:
            source.encode("latin-1")
        except UnicodeEncodeError:
            hints = CURRENCY_HINTS
    out = []
    for hint in hints:
        at = source.find(hint)
        while at >= 0:
            out.append(at)
            at = source.find(hint, at + 1)
    return out


def item_spans(source: str, text: str, body_start: int) -> list[tuple[int, int]]:
    """The spans of the normalised ``text`` (the body from ``body_start``) that are order-table
    lines of ``source``. A line is an item when it holds two prices, or a price and an article
    number or a quantity; a short line without sentence punctuation just before such prices (an
    HTML table cell) counts too."""
    hints = sorted(hint_positions(source))
    if not hints:
        return []
    lines = source.split("\n")
    priced = [0] * len(lines)
    candidates: set[int] = set()
    line = at = 0
    last = -1
    for hint in hints:  # a hint holds no line break: it is in one line
        line += source.count("\n", at, hint)
        at = hint
        if line != last:
            last = line
            priced[line] = prices_in(lines[line])
            if priced[line]:
                # Only lines with prices, or the few lines before them, can be items.
                candidates.update(range(max(0, line - 4), line + 1))
    items: list[str] = []
    for i in sorted(candidates):
        line_text = lines[i]
        item = priced[i] >= 2 or (priced[i] == 1 and has_item_marker(line_text))
        if not item and 0 < len(line_text.strip()) <= 80 and not SENTENCE_END.search(line_text.strip()):
            # A table cell of an HTML order table: prices follow within the next few short lines.
            item = sum(priced[i + 1: i + 5]) >= 2 and all(len(x) <= 80 for x in lines[i + 1: i + 5])
        if item:
            items.append(line_text)
    spans: list[tuple[int, int]] = []
    pos = body_start
    # Each line as ``normalize`` has it, all folded in one call (folding is character by character
    # and keeps line breaks, so the folded lines are the lines folded).
    for folded in fold("\n".join(items)).split("\n") if items else ():
        norm = " ".join(folded.split())
        if not norm:
            continue
        found = text.find(norm, pos)
        if found >= 0:
            spans.append((found, found + len(norm)))
            pos = found + len(norm)
    return spans
