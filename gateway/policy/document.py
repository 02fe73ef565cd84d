"""The document rules match against: the normalised subject and body in one string, its words
as stems per language, and where the order-table lines are."""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from dataclasses import dataclass, field
from typing import Literal

from gateway.policy.content import fold, normalize
from gateway.policy.stems import stem_words

Zone = Literal["subject", "body", "all"]


# Prices as written: "29,95 EUR", "€ 16,50", "$64.00", "12,800円", "450.00 درهم", "269,00 kr".
_PRICE = re.compile(r"(?i)\d[.,]\d{2}\s?(?:€|eur\b|usd\b|\$|£|gbp\b|chf\b|zł|pln\b|kr\b|sek\b|tl\b|try\b|aed\b|sar\b"
                    r"|brl\b|درهم|ريال)|(?:€|\$|£|¥|r\$)\s?\d|\d円")
_CURRENCY_HINTS = ("eur", "EUR", "€", "$", "£", "¥", "円", "CHF", "PLN", "zł", "kr", "SEK", "TL", "TRY", "AED", "SAR",
                   "BRL", "USD", "GBP", "درهم", "ريال")
_ITEM_MARKER = re.compile(r"(?i)(?:^\s*\d{1,3}\s|\b(?:art\.?[ -]?nr|artikelnr|art\.? no|sku|ean|asin|qty|menge|anzahl"
                          r"|stk|stück|pos|réf|ref|cod|codice|código|aantal|ilość|antal|adet|quantité|quantità"
                          r"|cantidad)\b|\b\d+\s?x\s|品番|数量|単価)")
_SENTENCE_END = re.compile(r"[.!?。！？]\s|[.!?。！？]$")


def _hint_positions(source: str) -> list[int]:
    """Where the currency hints occur (str.find per hint: several times faster than one
    alternation pattern, which re tries hint by hint at every position)."""
    out = []
    for hint in _CURRENCY_HINTS:
        at = source.find(hint)
        while at >= 0:
            out.append(at)
            at = source.find(hint, at + 1)
    return out


def _item_spans(source: str, text: str, body_start: int) -> list[tuple[int, int]]:
    hints = sorted(_hint_positions(source))
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
            priced[line] = len(_PRICE.findall(lines[line]))
            if priced[line]:
                # Only lines with prices, or the few lines before them, can be items.
                candidates.update(range(max(0, line - 4), line + 1))
    items: list[str] = []
    for i in sorted(candidates):
        line_text = lines[i]
        item = priced[i] >= 2 or (priced[i] == 1 and _ITEM_MARKER.search(line_text) is not None)
        if not item and 0 < len(line_text.strip()) <= 80 and not _SENTENCE_END.search(line_text.strip()):
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


class StemView:
    """The document's words replaced by their stems in one language, with the way back to the
    normalised text. A hit's word is found by counting the spaces before it (a C loop); where
    that word starts in the normalised text is its start in the stem text plus how much longer
    the words before it are than their stems (one running sum, made on the first hit only)."""

    __slots__ = ("_longer", "stems", "text", "words")

    def __init__(self, words: list[str], stems: list[str]) -> None:
        self.words = words
        self.stems = stems
        self.text = " " + " ".join(stems) + " "
        self._longer: list[int] | None = None

    def spans_in_document(self, ends: list[int], first: int, last: int) -> list[tuple[int, int]]:
        """``span_in_document`` for automaton hits ending at ``ends`` (a match is
        ``text[end - first: end + 1 - last]``), in one go."""
        longer = self._longer
        if longer is None:
            longer = self._longer = list(itertools.accumulate(
                map(operator.sub, map(len, self.words), map(len, self.stems)), initial=0))
        text = self.text
        count = text.count
        rfind = text.rfind
        words = self.words
        out = []
        at = spaces = 0  # ends come in ascending order: spaces are counted on from the last hit
        for e in sorted(ends):
            start = e - first
            spaces += count(" ", at, start)
            at = start
            i = spaces - 1  # the word the match starts in
            inner = max(start, e - last)
            j = i + count(" ", start, inner)  # the word its last character is in
            word_start = rfind(" ", 0, start) + 1 + longer[i]
            last_start = rfind(" ", 0, inner) + 1 + longer[j]
            out.append((word_start, last_start + len(words[j])))
        return out

    def span_in_document(self, start: int, end: int) -> tuple[int, int]:
        """The words of ``self.text[start:end]`` as a span of the normalised text."""
        return self.spans_in_document([end - 1], end - 1 - start, 0)[0]


@dataclass(slots=True)
class Document:
    """The normalised subject and body in one string: ``" subject \\x01 body "``."""

    text: str
    subject_end: int
    _stems: dict[str, StemView] = field(default_factory=dict)
    source: str = ""
    """The body as written (line breaks kept), for finding order-table lines."""
    _item_spans: list[tuple[int, int]] | None = None

    @classmethod
    def build(cls, subject: str, body: str) -> Document:
        ns = normalize(subject)
        return cls(text=ns + "\x01" + normalize(body), subject_end=len(ns), source=body)

    def stemmed(self, lang: str) -> StemView:
        view = self._stems.get(lang)
        if view is None:
            words = self.text[1:-1].split(" ")
            view = StemView(words, stem_words(lang, words))
            self._stems[lang] = view
        return view

    def in_item_line(self, start: int, end: int) -> bool:
        """Whether a span lies in a line item of an order table (product name, quantity, prices):
        a product called "5-Sterne Hotelkissen" or "Porta buoni sconto" is not a request or an
        offer. A line is an item when it holds two prices, or a price and an article number or a
        quantity; a short line without sentence punctuation just before such prices (an HTML table
        cell) counts too. Found once per document, in the text as written, then located in the
        normalised text."""
        if self._item_spans is None:
            self._item_spans = _item_spans(self.source, self.text, self.subject_end)
        if not self._item_spans:
            return False
        i = bisect.bisect_right(self._item_spans, (start, len(self.text))) - 1
        return i >= 0 and self._item_spans[i][0] <= start and end <= self._item_spans[i][1]

    def in_zone(self, start: int, zone: Zone) -> bool:
        if zone == "all":
            return True
        return (start < self.subject_end) == (zone == "subject")

    def snippet(self, start: int, end: int, context: int = 25) -> str:
        left = max(0, start - context)
        right = min(len(self.text), end + context)
        text = self.text[left:right].replace("\x01", " | ").strip()
        return ("…" if left > 0 else "") + text + ("…" if right < len(self.text) else "")
