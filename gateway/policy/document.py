"""The document rules match against: the normalised subject and body in one string, its words
as stems per language, and where the order-table lines are."""

from __future__ import annotations

import bisect
import itertools
import operator
from dataclasses import dataclass, field
from typing import Literal

from gateway.policy.content import fold
from gateway.policy.items import item_spans
from gateway.policy.stems import stem_words

Zone = Literal["subject", "body", "all"]


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
    _words: list[str] | None = None
    """``text[1:-1].split(" ")``, when ``build`` made the text."""

    @classmethod
    def build(cls, subject: str, body: str) -> Document:
        # normalize() of each, keeping the words: the stem views split the text into them again
        # otherwise (``text[1:-1].split(" ")``: an empty subject or body is one empty word).
        subject_words = fold(subject).split()
        body_words = fold(body).split()
        ns = " " + " ".join(subject_words) + " "
        return cls(text=ns + "\x01 " + " ".join(body_words) + " ", subject_end=len(ns), source=body,
                   _words=(subject_words or [""]) + ["\x01"] + (body_words or [""]))

    def stemmed(self, lang: str) -> StemView:
        view = self._stems.get(lang)
        if view is None:
            words = self._words if self._words is not None else self.text[1:-1].split(" ")
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
            self._item_spans = item_spans(self.source, self.text, self.subject_end)
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
