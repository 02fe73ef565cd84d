"""How rules look at a message: phrase lists (one Aho-Corasick pass for all rules), phrases near each
other, regular expressions, and named built-in checks for what is not text (links, images,
attachments, state).

Phrases are normalised exactly as message text is (``content.normalize``): lower case, look-alikes
folded, punctuation runs turned into one space. A phrase matches whole words; ``*`` at its start or
end lets it match inside a longer word ("*rabatt" finds "Sommerrabatt"). Phrases in CJK scripts
match anywhere, as those scripts do not separate words.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import ahocorasick
import regex

from gateway.policy.content import Link, MessageContent, normalize
from gateway.policy.state import PolicyState
from gateway.policy.stems import COMPOUNDING, MIN_COMPOUND_HEAD, has_stemmer, japanese_stem, stem_words

if TYPE_CHECKING:
    from gateway.classify import MarketplaceRecipient

LANGUAGES: frozenset[str] = frozenset({"any", "de", "en", "fr", "it", "es", "ja", "nl", "pl", "sv", "tr",
                                       "pt", "ar"})

Zone = Literal["subject", "body", "all"]

_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]")


# --------------------------------------------------------------------------------------------------
# The document rules match against


# Prices as written: "29,95 EUR", "€ 16,50", "$64.00", "12,800円", "450.00 درهم", "269,00 kr".
_PRICE = re.compile(r"(?i)\d[.,]\d{2}\s?(?:€|eur\b|usd\b|\$|£|gbp\b|chf\b|zł|pln\b|kr\b|sek\b|tl\b|try\b|aed\b|sar\b"
                    r"|brl\b|درهم|ريال)|(?:€|\$|£|¥|r\$)\s?\d|\d円")
_CURRENCY_HINTS = ("eur", "EUR", "€", "$", "£", "¥", "円", "CHF", "PLN", "zł", "kr", "SEK", "TL", "TRY", "AED", "SAR",
                   "BRL", "USD", "GBP", "درهم", "ريال")
_ITEM_MARKER = re.compile(r"(?i)(?:^\s*\d{1,3}\s|\b(?:art\.?[ -]?nr|artikelnr|art\.? no|sku|ean|asin|qty|menge|anzahl"
                          r"|stk|stück|pos|réf|ref|cod|codice|código|aantal|ilość|antal|adet|quantité|quantità"
                          r"|cantidad)\b|\b\d+\s?x\s|品番|数量|単価)")
_SENTENCE_END = re.compile(r"[.!?。！？]\s|[.!?。！？]$")


def _item_spans(source: str, text: str, body_start: int) -> list[tuple[int, int]]:
    if not any(hint in source for hint in _CURRENCY_HINTS):
        return []
    lines = source.split("\n")
    priced = [len(_PRICE.findall(line)) if any(h in line for h in _CURRENCY_HINTS) else 0 for line in lines]
    spans: list[tuple[int, int]] = []
    pos = body_start
    for i, line in enumerate(lines):
        item = priced[i] >= 2 or (priced[i] == 1 and _ITEM_MARKER.search(line) is not None)
        if not item and 0 < len(line.strip()) <= 80 and not _SENTENCE_END.search(line.strip()):
            # A table cell of an HTML order table: prices follow within the next few short lines.
            item = sum(priced[i + 1: i + 5]) >= 2 and all(len(x) <= 80 for x in lines[i + 1: i + 5])
        if not item:
            continue
        norm = normalize(line).strip()
        if not norm:
            continue
        found = text.find(norm, pos)
        if found >= 0:
            spans.append((found, found + len(norm)))
            pos = found + len(norm)
    return spans


@dataclass(slots=True)
class StemView:
    """The document's words replaced by their stems in one language, with the way back: where
    each word starts in the stemmed text and in the normalised text."""

    text: str
    words: list[str]
    stem_starts: list[int]
    word_starts: list[int]

    def span_in_document(self, start: int, end: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.stem_starts, start) - 1
        j = bisect.bisect_right(self.stem_starts, max(start, end - 1)) - 1
        return self.word_starts[i], self.word_starts[j] + len(self.words[j])


def _starts(words: list[str]) -> list[int]:
    """Where each word starts in ``" ".join(words)``."""
    lengths = itertools.accumulate(map(len, words), initial=0)
    return list(map(operator.add, lengths, range(len(words))))


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
            stems = stem_words(lang, words)
            view = StemView(text=" " + " ".join(stems) + " ", words=words,
                            stem_starts=[1 + s for s in _starts(stems)],
                            word_starts=[1 + s for s in _starts(words)])
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


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    """Normalised, without the surrounding spaces."""
    left_bound: bool
    right_bound: bool
    lang: str = "any"

    @classmethod
    def parse(cls, raw: str, lang: str = "any") -> Phrase:
        stripped = raw.strip()
        left = not stripped.startswith("*")
        right = not stripped.endswith("*")
        text = normalize(stripped.strip("*")).strip()
        if _CJK.search(text):
            left = right = False
        return cls(text=text, left_bound=left, right_bound=right, lang=lang)

    def stemmed(self) -> Phrase | None:
        """The phrase as its stems in its language (None where no stemmer applies)."""
        if not self.left_bound or not has_stemmer(self.lang) or _CJK.search(self.text):
            return None
        stems = stem_words(self.lang, self.text.split(" "))
        right = self.right_bound
        if right and self.lang in COMPOUNDING and len(stems[-1]) >= MIN_COMPOUND_HEAD:
            right = False  # the head of a compound: "termin" finds "Terminvorschlägen"
        return Phrase(text=" ".join(stems), left_bound=True, right_bound=right, lang=self.lang)


Key = tuple[int, int, int]
"""(rule index, matcher index, slot): which phrase list of which matcher an occurrence belongs to."""

_Entries = dict[tuple[str, bool, bool], list[Key]]


def _automaton(entries: _Entries) -> Any:
    automaton = ahocorasick.Automaton()
    for (text, left, right), keys in entries.items():
        word = (" " if left else "") + text + (" " if right else "")
        lead, trail = int(left), int(right)
        if word in automaton:
            length, _, _, old = automaton.get(word)
            automaton.add_word(word, (length, lead, trail, old + tuple(keys)))
        else:
            automaton.add_word(word, (len(word), lead, trail, tuple(keys)))
    if not len(automaton):
        return None
    automaton.make_automaton()
    return automaton


class PhraseIndex:
    """All phrase lists of all rules in one Aho-Corasick automaton: one pass per message, plus
    one pass per stemmed language over the document's stems.

    Word boundaries are part of the automaton's keys: the normalised text separates words by
    exactly one space, so a whole-word phrase is stored as " phrase " and only whole-word
    occurrences are reported, with no check per candidate.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entries] = {}
        """Phrases as written, by the language whose stems also hold them ("" for the rest)."""
        self._stem_entries: dict[str, _Entries] = {}
        self._exact: dict[frozenset[str], Any] = {}
        self._stem_automata: dict[str, Any] = {}

    def add(self, key: Key, phrase: Phrase) -> None:
        if not phrase.text:
            return
        stem = phrase.stemmed()
        group = phrase.lang if stem is not None and stem.text else ""
        entries = self._entries.setdefault(group, {})
        entries.setdefault((phrase.text, phrase.left_bound, phrase.right_bound), []).append(key)
        if phrase.lang == "ja":
            short = japanese_stem(phrase.text)
            if short:
                entries.setdefault((short, False, False), []).append(key)
        if stem is not None and stem.text:
            stems = self._stem_entries.setdefault(phrase.lang, {})
            stems.setdefault((stem.text, stem.left_bound, stem.right_bound), []).append(key)

    def build(self) -> None:
        self._exact = {}
        self._stem_automata = {lang: a for lang, entries in self._stem_entries.items()
                               if (a := _automaton(entries)) is not None}

    def _exact_without(self, stemmed: frozenset[str]) -> Any:
        """The automaton of the phrases as written, less those of the languages scanned as stems
        (their phrases are found through their stems; one pass per message either way)."""
        automaton = self._exact.get(stemmed, False)
        if automaton is False:
            merged: _Entries = {}
            for group, entries in self._entries.items():
                if group in stemmed:
                    continue
                for entry, keys in entries.items():
                    merged.setdefault(entry, []).extend(keys)
            automaton = _automaton(merged)
            if len(self._exact) < 64:
                self._exact[stemmed] = automaton
        return automaton

    @property
    def stemmed_languages(self) -> frozenset[str]:
        return frozenset(self._stem_automata)

    def scan(self, doc: Document, languages: Sequence[str] = (), limit: int = 16) -> dict[Key, list[tuple[int, int]]]:
        """Occurrences (start, end) of each phrase list, at most ``limit`` per key; in the words
        as written and, for each of ``languages`` with a stemmer, in their stems."""
        found: dict[Key, list[tuple[int, int]]] = {}
        full: set[Key] = set()  # keys with ``limit`` occurrences: later matches are skipped cheaply
        languages = [lang for lang in languages if lang in self._stem_automata]
        exact = self._exact_without(frozenset(languages))
        if exact is not None:
            for end_index, (length, lead, trail, keys) in exact.iter(doc.text):
                if full.issuperset(keys):
                    continue
                start = end_index - length + 1 + lead
                end = end_index + 1 - trail
                for key in keys:
                    spans = found.get(key)
                    if spans is None:
                        found[key] = [(start, end)]
                    elif len(spans) < limit:
                        spans.append((start, end))
                    else:
                        full.add(key)
        for lang in languages:
            automaton = self._stem_automata[lang]
            view = doc.stemmed(lang)
            for end_index, (length, lead, trail, keys) in automaton.iter(view.text):
                if full.issuperset(keys):
                    continue
                span = view.span_in_document(end_index - length + 1 + lead, end_index + 1 - trail)
                for key in keys:
                    spans = found.get(key)
                    if spans is None:
                        found[key] = [span]
                    elif len(spans) >= limit:
                        full.add(key)
                    elif span not in spans:
                        spans.append(span)
        for spans in found.values():
            if len(spans) > 1:
                spans.sort()
        return found


# --------------------------------------------------------------------------------------------------
# What a check sees


@dataclass(slots=True)
class Context:
    content: MessageContent
    subject: str
    own_text: str
    doc: Document
    reply: bool
    marketplace: str | None
    recipients: Sequence[MarketplaceRecipient]
    state: PolicyState | None
    order_ids: tuple[str, ...]
    keyword: str | None
    """The marketplace's critical keyword with brackets, e.g. ``[Wichtig]``; None when disabled."""
    keyword_pattern: regex.Pattern[str] | None
    """Finds the marketplace's keyword in a subject (any case, brackets required)."""
    keyword_patterns: Sequence[regex.Pattern[str]]
    """Every configured keyword, for finding misuse."""
    allow_domains: tuple[str, ...]
    masked_subject: str = ""
    """The subject, NFKC-folded, invisible characters removed, order ids blanked: what number
    matchers read."""
    masked_text: str = ""
    """The seller's own text, NFKC-folded and invisible characters removed; number matchers blank
    the order ids around each candidate they look at (``orderids.order_id_spans``)."""
    language: str | None = None
    language_percent: int = 0
    purpose: str | None = None
    critical_evidence: float = 0.0
    """The summed evidence for critical purposes (>0: the message is at least partly critical)."""
    critical: bool = False
    tags: set[str] = field(default_factory=set)
    limits: dict[str, int] = field(default_factory=dict)
    """Per counted tag, the limit a stateful check applied (see Verdict.counter_limits)."""
    occurrences: dict[Key, list[tuple[int, int]]] = field(default_factory=dict)
    _links: list[Link] | None = None

    @property
    def links(self) -> list[Link]:
        """Links in the seller's own text and HTML (quoted parts of replies excluded for text URLs)."""
        if self._links is None:
            from gateway.policy.content import text_links

            hrefs = [lnk for lnk in self.content.links if lnk.source == "href"]
            self._links = hrefs + text_links(self.own_text)
        return self._links


def domain_allowed(host: str, allowed: Sequence[str]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().strip(".")
        if entry.endswith(".*"):  # amazon.* : any public suffix after the label
            label = entry[:-2]
            parts = host.split(".")
            for i in range(len(parts)):
                if parts[i] == label.split(".")[-1] and ".".join(parts[i - label.count("."): i + 1]) == label:
                    rest = parts[i + 1:]
                    if 1 <= len(rest) <= 2 and all(len(p) <= 3 for p in rest):
                        return True
        elif host == entry or host.endswith("." + entry):
            return True
    return False


_SENTENCE = regex.compile(r"[^.!?。！？\n]+")


def content_only(ctx: Context, filler_keys: set[Key], main_keys: set[Key], closing_key: Key,
                 min_words: int) -> str | None:
    """Hit when the body has one of the main phrases and every other sentence of substance is
    covered (at least half) by main or filler phrases. Short sentences (greetings, names) and the
    signature after a closing phrase do not count; a message with attachments has substance."""
    if ctx.content.attachments:
        return None  # an invoice or instructions attached is the message's substance
    body_start = ctx.doc.subject_end + 1
    main = [(s, e) for key in main_keys for s, e in ctx.occurrences.get(key, ()) if s >= body_start]
    if not main:
        return None
    text = ctx.doc.text
    covered = bytearray(len(text))
    for key in filler_keys | main_keys:
        for start, end in ctx.occurrences.get(key, ()):
            covered[start:end] = b"\x01" * (end - start)
    closings = [s for s, _ in ctx.occurrences.get(closing_key, ()) if s >= body_start]
    signature_at = min(closings) if closings else len(text)
    pos = body_start
    for sentence in _SENTENCE.findall(ctx.own_text):
        norm = normalize(sentence).strip()
        if not norm:
            continue
        found = text.find(norm, pos)
        if found >= 0:
            pos = found + len(norm)
        if found >= signature_at:
            break
        words = [w for w in norm.split() if not w.isdigit()]
        if len(words) <= min_words:
            continue
        if found >= 0:
            # Share of letters covered: numbers (order ids, tracking numbers) are neutral.
            letters = [i for i in range(found, found + len(norm)) if text[i].isalpha()]
            if letters and sum(covered[i] for i in letters) >= 0.5 * len(letters):
                continue
        return None
    start, end = min(main)
    return ctx.doc.snippet(start, end, 30)


