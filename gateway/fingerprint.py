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

import codecs
import hashlib
import re
import struct
from dataclasses import dataclass
from typing import cast

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
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        pass
    else:
        zeroed = raw.translate(_LOWER_DIGITS_TO_ZERO)
        if b"@" not in raw and b"://" not in raw and b"www." not in zeroed:
            # Latin-1 text without addresses or links: lower case and digits from one byte table
            # (what the path below makes of such text, without str.lower's per-character look-ups).
            return _DIGIT_GROUPS.sub(b"0", zeroed).translate(_GAPS).decode("latin-1").split()
    lowered = text.lower()
    # (the address and link patterns only where they can match: most of the cost otherwise)
    if "://" in text or "www." in lowered:
        text = _URL.sub(" url ", text)
        lowered = text.lower()
    if "@" in text:
        text = EMAIL_ADDRESS.sub(" email ", text)
        lowered = text.lower()
    try:
        raw = lowered.encode("latin-1", "fingerprint-gap")
    except UnicodeEncodeError:
        return _WORD.findall(_DIGITS.sub("0", lowered))
    # The same words from byte tables: digits to "0", digit groups to one "0", other non-word
    # characters to spaces, then split (several times faster than the two patterns on str).
    return _DIGIT_GROUPS.sub(b"0", raw.translate(_DIGITS_TO_ZERO)).translate(_GAPS).decode("latin-1").split()


def _non_word_gap(err: UnicodeError) -> tuple[str, int]:
    """Encoding error handler: characters outside Latin-1 that are not word characters (€, dashes,
    quotes, emoji) become spaces, as they separate words either way; a word character (a letter or
    digit of another script) raises, and the text takes the pattern path."""
    if not isinstance(err, UnicodeEncodeError):
        raise err
    if any(ch.isalnum() or ch == "_" for ch in err.object[err.start:err.end]):
        raise err
    return " ", err.end


codecs.register_error("fingerprint-gap", _non_word_gap)
# Latin-1 text: \d is [0-9], \w a character that isalnum() or "_".
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else b for b in range(256))
# (written "00*", not "0+": a pattern that starts with a literal is searched for at memory speed,
# one that starts with a repeat is tried at every position: five times the cost on an invoice)
_DIGIT_GROUPS = re.compile(rb"00*(?:[.,:/-]0+)*")
# str.lower on Latin-1 text, as a byte table (every Latin-1 letter lowers to one Latin-1 letter).
_LOWER_DIGITS_TO_ZERO = bytes(_DIGITS_TO_ZERO[ord(chr(b).lower())] for b in range(256))
_GAPS = bytes(b if chr(b).isalnum() or b == 0x5F else 0x20 for b in range(256))


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
    known = _HASHES
    # A set of the hashes: one look-up per 3-gram, no set of the 3-grams themselves (equal
    # 3-grams have equal hashes; distinct ones share a 64-bit hash practically never).
    hashes = set(map(known.get, zip(words, words[1:], words[2:], strict=False)))
    if None in hashes:
        grams = set(zip(words, words[1:], words[2:], strict=False))
        if len(known) + len(grams) > _HASH_LIMIT:
            known.clear()
        known.update((g, _hash(g)) for g in grams if g not in known)
        hashes = set(map(known.get, grams))
    return Fingerprint(tuple(sorted(cast(set[int], hashes))[:K]))  # (no None left)


def template_fingerprint(raw: bytes) -> Fingerprint:
    """The message's template sketch (the policy engine makes it from the text it read already:
    ``Verdict.fingerprint``)."""
    return text_fingerprint(read_message(raw).body_text)
