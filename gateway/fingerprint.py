"""A message's template: what stays the same when one ERP template is filled in for another order.

After Amazon refuses a message the gateway relayed, further messages of the same template can be
held for review until an admin marks the template fixed. Two messages are of one template when their
fixed text is nearly the same: names, order ids, amounts, dates, addresses and links vary from
order to order, the sentences around them do not. The fingerprint is a bottom-k sketch (the k
smallest hashes) of the message's normalised word 3-grams, digits folded and addresses and links
replaced; the share of the sketches' union found in both estimates the 3-gram sets' Jaccard
similarity. A filled-in name changes the few 3-grams around it, another template most of them.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

from gateway.message import read_message
from gateway.message.patterns import EMAIL_ADDRESS

_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
_DIGITS = re.compile(r"\d+(?:[.,:/-]\d+)*")
_WORD = re.compile(r"\w+")
K = 64
MAX_TEXT = 8000
SAME_TEMPLATE = 0.6
"""Estimated Jaccard similarity from which two messages are taken for one template."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    hashes: tuple[int, ...]
    """The K smallest 64-bit hashes of the message's 3-grams, ascending."""

    def encode(self) -> str:
        """16 hex digits per hash (big-endian), concatenated."""
        return struct.pack(f">{len(self.hashes)}Q", *self.hashes).hex()

    @classmethod
    def decode(cls, text: str) -> Fingerprint:
        return cls(tuple(int(text[i:i + 16], 16) for i in range(0, len(text) - 15, 16)))

    def similarity(self, other: Fingerprint) -> float:
        if not self.hashes or not other.hashes:
            return 0.0
        mine, theirs = set(self.hashes), set(other.hashes)
        union = sorted(mine | theirs)[:K]
        return sum(1 for h in union if h in mine and h in theirs) / len(union)

    def same_template(self, other: Fingerprint, threshold: float = SAME_TEMPLATE) -> bool:
        return self.similarity(other) >= threshold


def _words(text: str) -> list[str]:
    lowered = text.lower()
    # (the address and link patterns only where they can match: most of the cost otherwise)
    if "://" in text or "www." in lowered:
        text = _URL.sub(" url ", text)
        lowered = text.lower()
    if "@" in text:
        text = EMAIL_ADDRESS.sub(" email ", text)
        lowered = text.lower()
    return _WORD.findall(_DIGITS.sub("0", lowered))


def _shingles(text: str) -> set[str]:
    """The text's word 3-grams, digits folded."""
    words = _words(text)
    return set(map(" ".join, zip(words, words[1:], words[2:], strict=False)))


def _hash(gram: tuple[str, str, str]) -> int:
    return int.from_bytes(hashlib.blake2b(" ".join(gram).encode(), digest_size=8).digest(), "big")


_HASHES: dict[tuple[str, str, str], int] = {}
"""The hashes of 3-grams seen before: messages of one template share most of their 3-grams, and a
look-up costs a tenth of the hash. Keyed by the words (a tuple hashes from its words' cached
hashes; the joined 3-gram is only made for a new one). Bounded (emptied when full)."""
_HASH_LIMIT = 20_000


def text_fingerprint(text: str) -> Fingerprint:
    """The template sketch of a message's text (its first ``MAX_TEXT`` characters: a template shows
    in its opening, and a long message costs no more); empty for fewer than three words."""
    words = _words(text[:MAX_TEXT])
    grams = set(zip(words, words[1:], words[2:], strict=False))
    known = _HASHES
    if None in map(known.get, grams):
        if len(known) + len(grams) > _HASH_LIMIT:
            known.clear()
        known.update((g, _hash(g)) for g in grams if g not in known)
    return Fingerprint(tuple(sorted(map(known.__getitem__, grams))[:K]))


def template_fingerprint(raw: bytes) -> Fingerprint:
    """The message's template sketch (the policy engine makes it from the text it read already:
    ``Verdict.fingerprint``)."""
    return text_fingerprint(read_message(raw).body_text)
