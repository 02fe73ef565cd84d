"""Word stems per language, so that a rule's phrase finds the inflected forms of its words.

Snowball stemmers (PyStemmer, the C build of the Snowball algorithms) cover the European
marketplace languages and Turkish and Arabic: "Bewertung" and "bewerten" both become "bewert",
"Sterne" and "Sternen" "stern", "schedule" and "scheduling" "schedul", "entrega" and "entregar"
"entreg". Phrases and message text are stemmed by the same stemmer, so a rule author writes the
base form once. German, Dutch and Swedish glue words together ("Terminvorschlägen"): there the
last word of a phrase also matches the start of a longer word (see ``COMPOUNDING``).

Japanese has no spaces and no Snowball stemmer; its phrases already match anywhere in the text.
Its inflection lives in the hiragana after a word's kanji or katakana stem (書いて, 書きます, 書く),
so a Japanese phrase also matches with its trailing hiragana dropped (``japanese_stem``).

Stemming is a dictionary look-up for words seen before (a bounded cache per language); only new
words go to the stemmer.
"""

from __future__ import annotations

from functools import cache

import regex
import Stemmer

ALGORITHMS: dict[str, str] = {
    "de": "german", "en": "english", "fr": "french", "it": "italian", "es": "spanish", "nl": "dutch",
    "pl": "polish", "sv": "swedish", "tr": "turkish", "pt": "portuguese", "ar": "arabic",
}
COMPOUNDING = frozenset({"de", "nl", "sv"})
"""Languages that write compounds as one word: a phrase's last word also matches as a word start."""
SUFFIXING = frozenset({"tr"})
"""Languages that add case and possessive suffixes to the word, which their Snowball stemmer
over-strips ("adresinde" -> "adre"): their phrases are matched as written too, so that a phrase
written as a word start ("adres*", "5 yıldız*") finds the suffixed forms."""
MIN_COMPOUND_HEAD = 5
"""A stem shorter than this matches whole words only ("rat" must not find "Rathaus")."""

_CACHE_LIMIT = 200_000


class _LanguageStems:
    __slots__ = ("cache", "stemmer")

    def __init__(self, algorithm: str) -> None:
        self.stemmer = Stemmer.Stemmer(algorithm)
        self.cache: dict[str, str] = {}

    def words(self, words: list[str]) -> list[str]:
        known = self.cache
        out = list(map(known.get, words))
        if None in out:
            new = sorted({w for w, s in zip(words, out, strict=True) if s is None})
            if len(known) + len(new) > _CACHE_LIMIT:
                known.clear()
            known.update(zip(new, self.stemmer.stemWords(new), strict=True))
            out = list(map(known.__getitem__, words))
        return out  # type: ignore[return-value]


@cache
def _language(lang: str) -> _LanguageStems | None:
    algorithm = ALGORITHMS.get(lang)
    return _LanguageStems(algorithm) if algorithm else None


def has_stemmer(lang: str) -> bool:
    return lang in ALGORITHMS


def stem_words(lang: str, words: list[str]) -> list[str]:
    """The stems of ``words`` (already normalised: lower case, no punctuation)."""
    stems = _language(lang)
    return stems.words(words) if stems is not None else list(words)


_TRAILING_KANA = regex.compile(r"(?<=[\p{Han}\p{Katakana}ー])\p{Hiragana}+$")


MAX_KANA_ENDING = 4
"""The longest hiragana tail dropped as an inflected ending (書いて, 書きます, 送ります)."""


def japanese_stem(phrase: str) -> str | None:
    """The phrase without its inflected ending (trailing hiragana after a kanji or katakana), when
    at least three characters remain; None when there is nothing to drop. A longer hiragana tail is
    a word of its own, not an ending: ご注文ありがとう without ありがとう is just ご注文 (order)."""
    m = _TRAILING_KANA.search(phrase)
    if m is None or m.start() < 3 or len(phrase) - m.start() > MAX_KANA_ENDING:
        return None
    return phrase[: m.start()]


# Polite Japanese writes the same verb plain-polite or humble: 発送しました, 発送いたしました,
# 発送させていただきました; お送りします, お送りいたします. A phrase in one form finds the others.
_KEIGO_FORMS: tuple[tuple[str, ...], ...] = (
    ("しました", "いたしました", "させていただきました", "致しました"),
    ("します", "いたします", "させていただきます", "致します"),
    ("しております", "いたしております"),
)


def japanese_variants(phrase: str) -> list[str]:
    """The phrase in the other polite forms of its verb ending (empty when it has none)."""
    for forms in _KEIGO_FORMS:
        for form in sorted(forms, key=len, reverse=True):
            if phrase.endswith(form):
                stem = phrase[: -len(form)]
                return [stem + other for other in forms if other != form and stem]
    return []
