"""Which language a message is written in, and which languages a marketplace's buyers read.

Amazon: proactive messages must be "in the buyer's language". The gateway does not know the buyer's
language setting, so the marketplace's languages stand in for it. Detection uses CLD2 (pycld2, the
compact language detector of Chromium: C code, no model to load) on a sample of the seller's own
text; a text too short or too mixed to say gives no language, and then nothing is flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pycld2

# The languages a marketplace's buyers read (the site's own first; amazon.de and others also offer
# English as a shopping language).
MARKETPLACE_LANGUAGES: dict[str, tuple[str, ...]] = {
    "de": ("de", "en"), "co.uk": ("en",), "com": ("en", "es"), "ca": ("en", "fr"), "com.au": ("en",),
    "in": ("en", "hi"), "sg": ("en",), "fr": ("fr",), "com.be": ("fr", "nl", "en"), "it": ("it",),
    "es": ("es",), "com.mx": ("es",), "com.br": ("pt",), "nl": ("nl", "en"), "pl": ("pl",),
    "se": ("sv", "en"), "com.tr": ("tr",), "ae": ("ar", "en"), "sa": ("ar", "en"), "eg": ("ar", "en"),
    "co.jp": ("ja",),
}

SAMPLE_CHARS = 1200
"""CLD2 is linear in its input; the first part of the seller's text says enough."""
MIN_LETTERS = 40


@dataclass(frozen=True, slots=True)
class Detected:
    language: str | None
    """ISO 639-1 code, None when the text does not say reliably."""
    percent: int = 0
    """Share of the sample in that language."""


_CODES = {"iw": "he", "zh-Hant": "zh"}


_SIGNATURE = re.compile(r"\n-- ?\r?\n")


def _without_signature(text: str) -> str:
    """The text before the signature separator ("-- " on a line of its own): a legal footer with
    place and company names ("Donostia", "Gipuzkoa") says where the seller is, not which language
    the message is written in, and can make CLD2 call a clear text unreliable."""
    m = _SIGNATURE.search(text, 0, SAMPLE_CHARS + 200)
    if m is None or m.start() < MIN_LETTERS * 2:
        return text
    return text[: m.start()]


def detect(text: str) -> Detected:
    sample = _without_signature(text)[:SAMPLE_CHARS]
    if len(sample) < MIN_LETTERS or (len(sample.split(None, 8)) < 8 and sample.isascii()):
        return Detected(None)  # too short to tell (scripts without spaces are judged by length)
    try:
        reliable, _, details = pycld2.detect(sample, isPlainText=True)
    except pycld2.error:
        # CLD2 refuses invalid UTF-8 (lone surrogates from broken input): drop them and retry once.
        try:
            reliable, _, details = pycld2.detect(sample.encode("utf-8", "ignore").decode("utf-8"),
                                                 isPlainText=True)
        except pycld2.error:
            return Detected(None)
    if not details:
        return Detected(None)
    _, code, percent, _ = details[0]
    if code in ("un", "xxx") or not reliable:
        return Detected(None)
    return Detected(_CODES.get(code, code), int(percent))


def shares(text: str) -> dict[str, int]:
    """Every language CLD2 reads in the sample of ``text`` with its share in percent (a bilingual
    mail has two). Asked only when a message would be held for its language, so never on the hot
    path; empty when CLD2 cannot tell."""
    sample = _without_signature(text)[:SAMPLE_CHARS]
    try:
        _, _, details = pycld2.detect(sample.encode("utf-8", "ignore").decode("utf-8"), isPlainText=True)
    except pycld2.error:
        return {}
    return {_CODES.get(code, code): int(percent) for _, code, percent, _ in details if code not in ("un", "xxx")}


def marketplace_languages(marketplace: str | None) -> tuple[str, ...]:
    return MARKETPLACE_LANGUAGES.get(marketplace or "", ())
