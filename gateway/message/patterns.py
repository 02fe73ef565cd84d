"""Patterns that several readers of a message share, defined once: the policy checks find with
them, the repair (gateway/repair.py) removes what they find, the template fingerprint
(gateway/fingerprint.py) folds it away. One definition keeps "what counts as an emoji or an
address" the same for the rule that hits and the repair that strips."""

from __future__ import annotations

import regex

EMAIL_ADDRESS = regex.compile(r"(?i)[a-z0-9._%+\-]{1,64}@(?:[a-z0-9-]{1,63}\.)+[a-z]{2,24}")
"""An e-mail address as written in text (not a full RFC 5322 parser: what a reader takes for one)."""

NOT_EMOJI = frozenset("©®™‼⁉↔↕↖↗↘↙↩↪")
"""Extended_Pictographic characters that are ordinary text symbols: no emoji hit, never removed."""

EMOJI_CHARACTER = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}]")
"""One emoji character (check ``NOT_EMOJI`` for the text symbols among them)."""

_NOT = "".join(sorted(NOT_EMOJI))
EMOJI_SEQUENCE = regex.compile(
    rf"(?:(?![{_NOT}])[\p{{Extended_Pictographic}}\p{{Regional_Indicator}}][\uFE0E\uFE0F\u200D]*)+|[\uFE0F\u20E3]")
"""A run of emoji with their joiners and presentation selectors (what removing an emoji removes),
never a ``NOT_EMOJI`` symbol; a stray selector or keycap mark on its own."""
