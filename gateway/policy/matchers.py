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
from gateway.policy.stems import (
    COMPOUNDING,
    MIN_COMPOUND_HEAD,
    SUFFIXING,
    has_stemmer,
    japanese_stem,
    japanese_variants,
    stem_words,
)

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

Span = tuple[int, int]

_OTHER_SCRIPTS = "\u0250"
"""Phrases with a letter from here on (past Latin Extended-B) go into the second automaton."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """One distinct phrase in one automaton: where its match starts and ends relative to the
    automaton's hit (the word-boundary spaces are part of the key), and the phrase lists it is in."""

    length: int
    lead: int
    trail: int
    stemmed: str
    """The language whose stem text it is matched in ("" for the text as written)."""
    keys: tuple[Key, ...]


def _automaton(entries: dict[tuple[str, bool, bool], int], table: list[_Entry]) -> Any:
    """An automaton over ``entries`` whose values are the entries' ids (positions in ``table``)."""
    if not entries:
        return None
    automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    for (text, left, right), pid in entries.items():
        automaton.add_word((" " if left else "") + text + (" " if right else ""), pid)
    automaton.make_automaton()
    return automaton


class Occurrences:
    """Where the phrase lists of a message occur: the automata's hits, grouped by phrase, turned
    into spans per phrase list only when a rule asks (``get``). Most phrase lists of most rules
    have no hit; their rules are decided without looking (``found``)."""

    __slots__ = ("_cache", "_doc", "_ends", "_index", "_limit", "_pids", "_spans")

    def __init__(self, index: PhraseIndex, doc: Document, ends: dict[int, list[int]], limit: int) -> None:
        self._index = index
        self._doc = doc
        self._ends = ends
        self._limit = limit
        self._cache: dict[Key, list[Span]] = {}
        self._spans: dict[int, list[Span]] = {}
        # The phrase lists that occur, with their phrases that do: from the few phrases found,
        # not from the many phrases of each list.
        pids: dict[Key, list[int]] = {}
        table = index.table
        for pid in ends:
            for key in table[pid].keys:
                found = pids.get(key)
                if found is None:
                    pids[key] = [pid]
                else:
                    found.append(pid)
        self._pids = pids

    def _spans_of(self, pid: int, ends: list[int]) -> list[Span]:
        spans = self._spans.get(pid)
        if spans is None:
            entry = self._index.table[pid]
            first, last = entry.length - 1 - entry.lead, entry.trail
            if entry.stemmed:
                spans = self._doc.stemmed(entry.stemmed).spans_in_document(ends[: self._limit], first, last)
            else:
                spans = [(e - first, e + 1 - last) for e in ends[: self._limit]]
            self._spans[pid] = spans
        return spans

    @property
    def found(self) -> set[int] | Any:
        """The ids of the phrases that occur (a set-like view)."""
        return self._ends.keys()

    def any(self, key: Key) -> bool:
        return key in self._pids

    def get(self, key: Key, default: Any = None) -> list[Span] | Any:
        spans = self._cache.get(key)
        if spans is not None:
            return spans or default
        pids = self._pids.get(key)
        if pids is None:
            return default
        spans = []
        for pid in pids:
            spans += self._spans_of(pid, self._ends[pid])
        if len(pids) > 1:
            spans = sorted(set(spans))[: self._limit]
        self._cache[key] = spans
        return spans or default

    def __getitem__(self, key: Key) -> list[Span]:
        spans = self.get(key)
        if spans is None:
            raise KeyError(key)
        return spans

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and self.any(key)

    def keys(self) -> list[Key]:
        return list(self._pids)

    def items(self) -> list[tuple[Key, list[Span]]]:
        return [(key, self[key]) for key in self.keys()]


class PhraseIndex:
    """All phrase lists of all rules in Aho-Corasick automata built once at pack load: one pass
    over the message text, plus one pass per stemmed language over the document's stems.

    Word boundaries are part of the automaton's keys: the normalised text separates words by
    exactly one space, so a whole-word phrase is stored as " phrase " and only whole-word
    occurrences are reported, with no check per candidate. The automata store integers (phrase
    ids); a scan only collects the end positions per phrase id, and everything else is worked out
    per phrase list when a rule asks (``Occurrences``).
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, bool, bool], tuple[list[Key], set[str]]] = {}
        """Phrases as written: their lists, and the groups they are in (the language whose stems
        also hold them, "" for the rest)."""
        self._stem_entries: dict[str, dict[tuple[str, bool, bool], list[Key]]] = {}
        self.table: list[_Entry] = []
        self.key_pids: dict[Key, tuple[int, ...]] = {}
        self._exact_ids: dict[tuple[str, bool, bool], tuple[int, frozenset[str]]] = {}
        self._exact: dict[frozenset[str], list[tuple[Any, re.Pattern[str] | None]]] = {}
        self._stem_automata: dict[str, Any] = {}

    def add(self, key: Key, phrase: Phrase) -> None:
        if not phrase.text:
            return
        stem = phrase.stemmed()
        # A suffixing language's phrases are also matched as written: "adres*" finds "adresinde",
        # which its stemmer cuts to "adre".
        group = phrase.lang if stem is not None and stem.text and phrase.lang not in SUFFIXING else ""
        forms = [(phrase.text, phrase.left_bound, phrase.right_bound)]
        if phrase.lang == "ja":
            short = japanese_stem(phrase.text)
            forms += [(short, False, False)] if short else []
            forms += [(variant, False, False) for variant in japanese_variants(phrase.text)]
        for form in forms:
            keys, groups = self._entries.setdefault(form, ([], set()))
            keys.append(key)
            groups.add(group)
        if stem is not None and stem.text:
            stems = self._stem_entries.setdefault(phrase.lang, {})
            stems.setdefault((stem.text, stem.left_bound, stem.right_bound), []).append(key)

    def _entry(self, text: str, left: bool, right: bool, stemmed: str, keys: list[Key]) -> int:
        self.table.append(_Entry(len(text) + left + right, int(left), int(right), stemmed,
                                 tuple(dict.fromkeys(keys))))
        return len(self.table) - 1

    def build(self) -> None:
        self.table = []
        self._exact = {}
        self._exact_ids = {entry: (self._entry(*entry, "", keys), frozenset(groups))
                           for entry, (keys, groups) in self._entries.items()}
        self._stem_automata = {}
        for lang, entries in self._stem_entries.items():
            ids = {entry: self._entry(*entry, lang, keys) for entry, keys in entries.items()}
            automaton = _automaton(ids, self.table)
            if automaton is not None:
                self._stem_automata[lang] = automaton
        by_key: dict[Key, list[int]] = {}
        for pid, item in enumerate(self.table):
            for key in item.keys:
                by_key.setdefault(key, []).append(pid)
        self.key_pids = {key: tuple(pids) for key, pids in by_key.items()}

    def pids_of(self, keys: Sequence[Key]) -> frozenset[int]:
        """The phrase ids any of ``keys`` can be found through."""
        return frozenset(pid for key in keys for pid in self.key_pids.get(key, ()))

    def _exact_without(self, stemmed: frozenset[str]) -> list[tuple[Any, re.Pattern[str] | None]]:
        """The automata of the phrases as written, less those only in the languages scanned as
        stems (their phrases are found through their stems; one pass per message either way).

        Split by script: phrases in Latin letters in one automaton; those with other letters
        (Japanese, Arabic, Cyrillic, ...) in a second one, run only when the text holds one of
        their characters. A large alphabet makes every step of an automaton slower, and most mail
        is written in Latin letters only."""
        automata = self._exact.get(stemmed)
        if automata is None:
            latin: dict[tuple[str, bool, bool], int] = {}
            other: dict[tuple[str, bool, bool], int] = {}
            for entry, (pid, groups) in self._exact_ids.items():
                if groups - stemmed:
                    (latin if max(entry[0]) < _OTHER_SCRIPTS else other)[entry] = pid
            automata = []
            if (automaton := _automaton(latin, self.table)) is not None:
                automata.append((automaton, None))
            if (automaton := _automaton(other, self.table)) is not None:
                letters = sorted({ch for text, _, _ in other for ch in text if ch >= _OTHER_SCRIPTS})
                automata.append((automaton, re.compile("[" + "".join(map(re.escape, letters)) + "]")))
            if len(self._exact) < 64:
                self._exact[stemmed] = automata
        return automata

    @property
    def stemmed_languages(self) -> frozenset[str]:
        return frozenset(self._stem_automata)

    def scan(self, doc: Document, languages: Sequence[str] = (), limit: int = 16) -> Occurrences:
        """Occurrences of each phrase list, at most ``limit`` per list (the first by position): in
        the words as written and, for each of ``languages`` with a stemmer, in their stems."""
        ends: dict[int, list[int]] = {}
        languages = [lang for lang in languages if lang in self._stem_automata]
        text = doc.text
        automata = [(automaton, text) for automaton, letters in self._exact_without(frozenset(languages))
                    if letters is None or (not text.isascii() and letters.search(text))]
        automata += [(self._stem_automata[lang], doc.stemmed(lang).text) for lang in languages]
        for automaton, text in automata:
            for end, pid in automaton.iter(text):
                found = ends.get(pid)
                if found is None:
                    ends[pid] = [end]
                else:
                    found.append(end)
        return Occurrences(self, doc, ends, limit)


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
    """The seller's own text, NFKC-folded, invisible characters removed, order ids blanked (one
    regex pass per message: what number matchers read)."""
    language: str | None = None
    language_percent: int = 0
    purpose: str | None = None
    critical_evidence: float = 0.0
    """The summed evidence for critical purposes (>0: the message is at least partly critical)."""
    critical: bool = False
    tags: set[str] = field(default_factory=set)
    limits: dict[str, int] = field(default_factory=dict)
    """Per counted tag, the limit a stateful check applied (see Verdict.counter_limits)."""
    occurrences: Occurrences = field(default_factory=lambda: _NO_OCCURRENCES)
    _links: list[Link] | None = None

    @property
    def links(self) -> list[Link]:
        """Links in the seller's own text and HTML (quoted parts of replies excluded for text URLs)."""
        if self._links is None:
            from gateway.policy.content import text_links

            hrefs = [lnk for lnk in self.content.links if lnk.source == "href"]
            self._links = hrefs + text_links(self.own_text)
        return self._links


_NO_OCCURRENCES: Occurrences = Occurrences(PhraseIndex(), Document("", 0), {}, 0)


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


