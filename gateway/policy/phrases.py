"""Phrase lists: phrases as rule authors write them, and one index of every rule's phrases in
Aho-Corasick automata, scanned once per message.

Phrases are normalised exactly as message text is (``content.normalize``): lower case, look-alikes
folded, punctuation runs turned into one space. A phrase matches whole words; ``*`` at its start or
end lets it match inside a longer word ("*rabatt" finds "Sommerrabatt"). Phrases in CJK scripts
match anywhere, as those scripts do not separate words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick
import regex

from gateway.policy.content import normalize
from gateway.policy.document import Document
from gateway.policy.stems import (
    COMPOUNDING,
    MIN_COMPOUND_HEAD,
    SUFFIXING,
    has_stemmer,
    japanese_stem,
    japanese_variants,
    stem_words,
)

LANGUAGES: frozenset[str] = frozenset({"any", "de", "en", "fr", "it", "es", "ja", "nl", "pl", "sv", "tr",
                                       "pt", "ar"})

CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]")
"""Scripts written without spaces between words."""


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
        if CJK.search(text):
            left = right = False
        return cls(text=text, left_bound=left, right_bound=right, lang=lang)

    def stemmed(self) -> Phrase | None:
        """The phrase as its stems in its language (None where no stemmer applies)."""
        if not self.left_bound or not has_stemmer(self.lang) or CJK.search(self.text):
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
                    if letters is None or _holds_other_script(text, letters)]
        automata += [(self._stem_automata[lang], doc.stemmed(lang).text) for lang in languages]
        for automaton, text in automata:
            for end, pid in automaton.iter(text):
                found = ends.get(pid)
                if found is None:
                    ends[pid] = [end]
                else:
                    found.append(end)
        return Occurrences(self, doc, ends, limit)


def _holds_other_script(text: str, letters: re.Pattern[str]) -> bool:
    """Whether ``text`` holds one of ``letters`` (all past Latin Extended-B): not when it is all
    Latin-1 (a copy for Python, whose strings of such text are one byte a character)."""
    if text.isascii():
        return False
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return letters.search(text) is not None
    return False
