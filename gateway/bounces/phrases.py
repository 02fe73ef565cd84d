"""All the wording of a rule table found in one pass over a text (Aho-Corasick, pyahocorasick).

The reason, vendor and remote-host tables hold hundreds of phrases; testing each with ``in`` costs
one scan of the text per phrase. An automaton built once finds every phrase in a single scan, and
each rule then asks only whether its keys were among the hits.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick


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
        if not self._empty:
            self._automaton.make_automaton()

    def found_in(self, text: str) -> bool:
        """Whether any phrase occurs in ``text`` (the scan stops at the first)."""
        if self._empty or not text:
            return False
        return next(iter(self._automaton.iter(text)), None) is not None

    def keys_in(self, text: str) -> set[str]:
        """The keys of every phrase that occurs in ``text``."""
        found: set[str] = set()
        if self._empty or not text:
            return found
        for _end, keys in self._automaton.iter(text):
            found |= keys
        return found
