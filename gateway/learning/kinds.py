"""The kinds of notice learned from, and the names of packs that are none or unknown."""

from __future__ import annotations

POLICY = "policy"
RESTRICTION = "restriction"
LEARNED_NOTICES = frozenset({POLICY, RESTRICTION})
NO_PACK = "none"
UNKNOWN_PACK = "unknown"
MAX_REASON = 600
