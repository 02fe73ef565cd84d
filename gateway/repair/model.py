"""What a repair may remove (the kinds the rule packs name), what it removed, and its options."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

# What a rule's `strip` action may remove; the rule packs map their rules onto these.
TRACKING_PIXEL = "tracking-pixel"
REMOTE_IMAGE = "remote-image"
LINKED_LOGO = "linked-logo"
FOOTER = "newsletter-footer"
SIGNATURE_CONTACT = "signature-contact"
EMOJI = "emoji"
KINDS: tuple[str, ...] = (TRACKING_PIXEL, REMOTE_IMAGE, LINKED_LOGO, FOOTER, SIGNATURE_CONTACT, EMOJI)

REPAIRED_HEADER = "X-Gateway-Repaired"


@dataclass(frozen=True, slots=True)
class Removal:
    kind: str
    what: str
    """What was removed, shortened (an image URL, a footer's text, a signature line)."""
    where: str
    """``subject`` or the MIME part, e.g. ``text/html (part 1.2)``."""

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "what": self.what, "where": self.where}


@dataclass(frozen=True, slots=True)
class Repaired:
    raw: bytes
    removals: tuple[Removal, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.removals)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.kind for r in self.removals))


@dataclass(frozen=True, slots=True)
class RepairOptions:
    kinds: frozenset[str]
    allow_domains: tuple[str, ...] = ()
    """Link and image hosts that stay (Amazon, carriers' tracking pages, the admin's list)."""
    max_pixels: int = 3


def kinds_of(names: Collection[str]) -> frozenset[str]:
    """The known repair kinds among ``names`` (unknown names are ignored)."""
    return frozenset(n for n in names if n in KINDS)
