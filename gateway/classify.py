"""Which envelope recipients are marketplace buyer aliases, and of which marketplace.

Amazon relays seller mail through ``<alias>@marketplace.amazon.<tld>``; thread replies may use
``<alias>+<token>@...``. The alias (without the token) identifies the buyer-seller pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MarketplaceRecipient:
    address: str
    alias: str
    """The buyer alias address without a ``+token``, lower-cased: the registry key."""
    token: str | None
    marketplace: str
    """The marketplace tld, e.g. ``de`` or ``co.uk``."""


class Classifier:
    def __init__(self, tlds: Iterable[str], domain_prefix: str = "marketplace.amazon.") -> None:
        self._prefix = domain_prefix.lower()
        self._tlds = frozenset(t.lower() for t in tlds)

    def marketplace_of(self, domain: str) -> str | None:
        domain = domain.lower().rstrip(".")
        if not domain.startswith(self._prefix):
            return None
        tld = domain[len(self._prefix):]
        return tld if tld in self._tlds else None

    def classify(self, address: str) -> MarketplaceRecipient | None:
        local, sep, domain = address.rpartition("@")
        if not sep or not local:
            return None
        tld = self.marketplace_of(domain)
        if tld is None:
            return None
        base, plus, token = local.partition("+")
        alias = f"{base.lower()}@{domain.lower().rstrip('.')}"
        return MarketplaceRecipient(address=address, alias=alias, token=token if plus else None,
                                    marketplace=tld)

    def marketplace_recipients(self, addresses: Sequence[str]) -> list[MarketplaceRecipient]:
        found = (self.classify(a) for a in addresses)
        return [r for r in found if r is not None]
