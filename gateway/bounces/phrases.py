"""All the wording of a rule table found in one pass over a text (Aho-Corasick, pyahocorasick).

The reason, vendor and remote-host tables hold hundreds of phrases; testing each with ``in`` costs
one scan of the text per phrase. An automaton built once finds every phrase in a single scan, and
each rule then asks only whether its keys were among the hits.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick

# Texts up to this long are remembered with their answer, this many per index.
MEMO_TEXT = 8192
MEMO_ENTRIES = 64


class PhraseIndex:
    """Phrases, each with the keys (rule names) it stands for."""

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        by_phrase: dict[str, set[str]] = {}
        for phrase, key in entries:
            if phrase:
                by_phrase.setdefault(phrase, set()).add(key)
        self._automaton = ahocorasick.Automaton()
        for phrase, keys in by_phrase.items():
            self._automaton.add_word(phrase, frozenset(keys))
        self._empty = not by_phrase
        self._memo: dict[str, frozenset[str]] = {}
        if not self._empty:
            self._automaton.make_automaton()

    def found_in(self, text: str) -> bool:
        """Whether any phrase occurs in ``text`` (the scan stops at the first)."""
        if self._empty or not text:
            return False
        return next(iter(self._automaton.iter(text)), None) is not None

    def keys_in(self, text: str) -> frozenset[str]:
        """The keys of every phrase that occurs in ``text``. The answers for the last few short texts
        are kept: one recipient's diagnostic is asked about by several verdicts in turn."""
        if self._empty or not text:
            return frozenset()
        short = len(text) <= MEMO_TEXT
        if short and (hit := self._memo.get(text)) is not None:
            return hit
        found: set[str] = set()
        for _end, keys in self._automaton.iter(text):
            found |= keys
        answer = frozenset(found)
        if short:
            if len(self._memo) >= MEMO_ENTRIES:
                self._memo.clear()
            self._memo[text] = answer
        return answer
