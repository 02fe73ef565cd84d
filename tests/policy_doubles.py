"""Engine doubles light enough to import in a policy worker process (tests/test_evaluation.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from gateway.policy.verdict import Action, Verdict

HEAVY = b"HEAVY"


class CostlyPolicy:
    """An engine double: burns CPU for ``seconds`` on a message containing HEAVY."""

    isolate_evaluation = True  # run it where the gateway's own engine runs

    def __init__(self, seconds: float = 30.0) -> None:
        self.seconds = seconds

    def evaluate(self, raw: bytes, recipients: Sequence[Any], state: Any = None) -> Verdict:
        if HEAVY in raw:
            until = time.monotonic() + self.seconds
            n = 0
            while time.monotonic() < until:
                n += 1
        if state is not None and b"ASK" in raw:
            # The store's view stays in the gateway process; the worker calls back for it.
            return Verdict(action=Action.REJECT if state.review_requests("123-1234567-1234567") else Action.RELAY)
        return Verdict(action=Action.RELAY)

    def apply(self, raw: bytes, verdict: Verdict) -> bytes:
        return raw


class CountingState:
    def review_requests(self, order_id: str) -> int:
        return 1 if order_id == "123-1234567-1234567" else 0

    def alias_status(self, alias: str) -> None:
        return None


class AliasEchoPolicy:
    """An engine double that rejects mail to an alias its state view calls opted out."""

    isolate_evaluation = True

    def evaluate(self, raw: bytes, recipients: Sequence[Any], state: Any = None) -> Verdict:
        optout = state is not None and state.alias_status("buyer1@marketplace.amazon.de") == "optout"
        return Verdict(action=Action.REJECT if optout else Action.RELAY)

    def apply(self, raw: bytes, verdict: Verdict) -> bytes:
        return raw
