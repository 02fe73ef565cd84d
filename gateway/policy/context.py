"""What a rule's matcher or check sees of a message: the ``Context`` of one evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import regex

from gateway.policy.content import Link, MessageContent
from gateway.policy.document import Document
from gateway.policy.phrases import Occurrences, PhraseIndex
from gateway.policy.state import PolicyState

if TYPE_CHECKING:
    from gateway.classify import MarketplaceRecipient



@dataclass(slots=True)
class Context:
    content: MessageContent
    subject: str
    own_text: str
    doc: Document
    reply: bool
    marketplace: str | None
    recipients: Sequence[MarketplaceRecipient]
    state: PolicyState | None
    order_ids: tuple[str, ...]
    keyword: str | None
    """The marketplace's critical keyword with brackets, e.g. ``[Wichtig]``; None when disabled."""
    keyword_pattern: regex.Pattern[str] | None
    """Finds the marketplace's keyword in a subject (any case, brackets required)."""
    keyword_patterns: Sequence[regex.Pattern[str]]
    """Every configured keyword, for finding misuse."""
    allow_domains: tuple[str, ...]
    masked_subject: str = ""
    """The subject, NFKC-folded, invisible characters removed, order ids blanked: what number
    matchers read."""
    masked_text: str = ""
    """The seller's own text, NFKC-folded, invisible characters removed, order ids blanked (one
    regex pass per message: what number matchers read)."""
    clean_text: str | None = None
    """``strip_invisible(own_text)``, made once for the masked text and the text links."""
    language: str | None = None
    language_percent: int = 0
    purpose: str | None = None
    critical_evidence: float = 0.0
    """The summed evidence for critical purposes (>0: the message is at least partly critical)."""
    critical: bool = False
    tags: set[str] = field(default_factory=set)
    limits: dict[str, int] = field(default_factory=dict)
    """Per counted tag, the limit a stateful check applied (see Verdict.counter_limits)."""
    occurrences: Occurrences = field(default_factory=lambda: _NO_OCCURRENCES)
    _links: list[Link] | None = None

    @property
    def links(self) -> list[Link]:
        """Links in the seller's own text and HTML (quoted parts of replies excluded for text URLs)."""
        if self._links is None:
            from gateway.message.mime import clean_text_links
            from gateway.policy.content import strip_invisible

            clean = self.clean_text if self.clean_text is not None else strip_invisible(self.own_text)
            hrefs = [lnk for lnk in self.content.links if lnk.source == "href"]
            self._links = hrefs + clean_text_links(clean)
        return self._links


_NO_OCCURRENCES: Occurrences = Occurrences(PhraseIndex(), Document("", 0), {}, 0)
