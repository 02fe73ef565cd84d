"""What the policy engine knows beyond the message: one type, ``PolicyState``.

The engine asks it (from the evaluating thread or worker process) how many review requests an
order had and whether a buyer alias opted out or is dead. The stores hand out their own views of
it (``Store.policy_state``: SQLite reads in the evaluating thread, PostgreSQL asks the event loop),
``gateway check`` without a store and the tests use ``InMemoryPolicyState``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gateway.store.records import AliasStatus


class PolicyState(Protocol):
    """Called from the evaluating worker thread, never the event loop."""

    def review_requests(self, order_id: str) -> int: ...

    def alias_status(self, alias: str) -> AliasStatus | None: ...


@dataclass
class InMemoryPolicyState:
    """A PolicyState in a dict: nothing recorded unless given (tests, ``gateway check`` without a store)."""

    reviews: dict[str, int] = field(default_factory=dict)
    aliases: dict[str, AliasStatus] = field(default_factory=dict)

    def review_requests(self, order_id: str) -> int:
        return self.reviews.get(order_id, 0)

    def alias_status(self, alias: str) -> AliasStatus | None:
        return self.aliases.get(alias.lower())


def examples_state(headers: Mapping[str, str]) -> InMemoryPolicyState:
    """State for a rule example, from its ``X-Example-*`` headers."""
    state = InMemoryPolicyState()
    for key, value in headers.items():
        k = key.lower()
        if k == "x-example-review-requests":
            for item in value.split(","):
                order, _, count = item.strip().partition("=")
                if order and count.strip().isdigit():
                    state.reviews[order.strip()] = int(count)
        elif k == "x-example-alias-status":
            alias, _, status = value.strip().partition("=")
            if status.strip() in ("optout", "dead"):
                state.aliases[alias.strip().lower()] = status.strip()  # type: ignore[assignment]
    return state
