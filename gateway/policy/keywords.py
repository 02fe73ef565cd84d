"""The subject keyword that lets critical mail through a buyer's opt-out (``[Wichtig]``,
``[Important]``, ``[重要]``): the default table, how Amazon reads it, and the subject rewrites."""

from __future__ import annotations

from collections.abc import Sequence

import regex

# The keyword per marketplace tld: used when the packs have no [keywords] table (policies/critical.toml
# has one).
DEFAULT_KEYWORDS: dict[str, str] = {
    "de": "Wichtig",
    "com": "Important", "co.uk": "Important", "ca": "Important", "com.au": "Important", "in": "Important",
    "sg": "Important", "ae": "Important",
    "es": "Importante", "com.mx": "Importante", "it": "Importante",
    "fr": "Important",
    "co.jp": "重要",
}
FALLBACK_KEYWORD = "Important"

_SPACES = regex.compile(r"\s{2,}")


def keyword_pattern(keyword: str) -> regex.Pattern[str]:
    """The keyword as Amazon reads it: in half-width square brackets, any case."""
    return regex.compile(r"\[\s*" + regex.escape(keyword) + r"\s*\]", regex.IGNORECASE)


def keyword_variants(keyword: str) -> regex.Pattern[str]:
    """The keyword in any bracket a seller's system may write: half- or full-width square
    brackets, lenticular or tortoise-shell brackets (［重要］, 【重要】, 〔重要〕)."""
    return regex.compile(r"[\[［【〔]\s*" + regex.escape(keyword) + r"\s*[\]］】〕]", regex.IGNORECASE)


def with_keyword(subject: str, keyword: str) -> str:
    """The subject with the keyword in front, half-width; the same keyword written in other
    brackets (［重要］, 【重要】) is replaced, not doubled."""
    subject = _SPACES.sub(" ", keyword_variants(keyword).sub("", subject)).strip()
    return f"[{keyword}] {subject}".rstrip()


def without_keywords(subject: str, patterns: Sequence[regex.Pattern[str]]) -> str:
    """The subject with every keyword (``patterns``: ``keyword_variants`` of each) removed."""
    for pattern in patterns:
        subject = pattern.sub("", subject)
    return _SPACES.sub(" ", subject).strip()
