"""What is judged and how: ``[marketplace]``, ``[policy]`` and ``[learning]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from gateway.config.base import PositiveFloat, Section

# Every Amazon marketplace (its buyer aliases at marketplace.amazon.<tld>) is checked by default: an
# alias at a marketplace left out here would pass as ordinary mail, unchecked. Ireland (amazon.ie)
# and South Africa (amazon.co.za) are the newest.
DEFAULT_MARKETPLACE_TLDS: tuple[str, ...] = (
    "com", "ca", "com.mx", "com.br", "co.uk", "de", "fr", "it", "es", "nl", "se", "pl", "com.be",
    "com.tr", "ae", "sa", "eg", "in", "co.jp", "com.au", "sg", "ie", "co.za",
)

# The tlds [marketplace] tlds may name; a tld outside it is a typo that would quietly leave that
# marketplace's mail unchecked.
KNOWN_MARKETPLACE_TLDS: frozenset[str] = frozenset(DEFAULT_MARKETPLACE_TLDS)


class MarketplaceConfig(Section):
    domain_prefix: str = "marketplace.amazon."
    tlds: tuple[str, ...] = DEFAULT_MARKETPLACE_TLDS

    @field_validator("tlds")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one marketplace tld is needed")
        tlds = tuple(t.lower().strip(".") for t in value)
        unknown = [t for t in tlds if t not in KNOWN_MARKETPLACE_TLDS]
        if unknown:
            raise ValueError(f"not an Amazon marketplace: {', '.join(map(repr, unknown))} "
                             f"(known: {', '.join(sorted(KNOWN_MARKETPLACE_TLDS))})")
        return tlds


class PolicyConfig(Section):
    enabled: bool = True
    # Rule packs shipped with the gateway; None means the packaged `policies/` folder.
    packs_dir: Path | None = None
    # An admin's own packs: add rules, override a rule by id, or disable it.
    local_packs_dir: Path | None = None
    # Per-rule action overrides: {"links-external" = "reject"}
    actions: dict[str, Literal["reject", "quarantine", "rewrite", "relay", "strip"]] = Field(default_factory=dict)
    disabled: tuple[str, ...] = ()
    critical_keywords: dict[str, str] = Field(default_factory=dict)
    # Amazon may have removed the subject keyword override; keep the behaviour switchable.
    keyword_override: bool = True
    misused_keyword_action: Literal["quarantine", "reject", "rewrite"] = "quarantine"
    # Shadow mode: decide, log and count everything, but relay every message unchanged.
    shadow: bool = False
    evaluation_timeout: PositiveFloat = 10.0
    # "process": evaluations run in worker processes, and one that times out is ended there and
    # then (gateway/evaluation.py); "thread": in this process, where a timed-out one runs on.
    evaluation_isolation: Literal["process", "thread"] = "process"
    # Hosts a message may link to besides Amazon's own and the carriers in the links pack.
    link_allow_domains: tuple[str, ...] = ()
    # Rules with a score instead of an action add up; these sums quarantine or reject.
    score_quarantine: PositiveFloat = 5.0
    score_reject: PositiveFloat = 10.0



class LearningConfig(Section):
    """Learning from Amazon's verdicts (gateway/learning.py): what the gateway does after Amazon
    refused a message it relayed, or restricted the seller's proactive messaging."""

    # After a policy notice for a relayed message, hold further messages of its template for review
    # until an admin marks the template fixed (or a rule holds or refuses them by itself). On by
    # default: it only ever holds (never refuses), and only after Amazon itself refused the template.
    hold_templates: bool = True
    # Estimated share of word 3-grams two messages must share to be one template (0.6: the same ERP
    # template filled in for another order scores ~0.7, another template < 0.1).
    template_similarity: Annotated[float, Field(gt=0.0, le=1.0)] = 0.6
    # While Amazon restricts a tenant's proactive messaging, order-critical mail (the subject keyword)
    # is refused like any proactive message; true lets it through (replies always pass).
    restricted_allow_critical: bool = False
    # How long an instance trusts what it read of holds and restrictions before reading again
    # (several instances on one PostgreSQL see another's change within this time).
    state_seconds: Annotated[float, Field(ge=0.0, le=300.0)] = 5.0

