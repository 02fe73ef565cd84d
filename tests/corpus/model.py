"""What a locale's template data looks like (one module per language under ``locales/``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Shop:
    name: str
    domain: str
    sender: str
    """Local part of the From address (service, info, shop, ...)."""
    legal: tuple[str, ...]
    """Footer lines with the company register data a real template carries (no phone, no e-mail)."""
    contact: tuple[str, ...]
    """Footer lines with the seller's phone, e-mail and website (what the ERP's default footer has)."""
    erp: str
    signer: str


@dataclass(frozen=True)
class Carrier:
    name: str
    url: str
    """Tracking URL on the carrier's own domain, with ``{tn}`` for the tracking number."""
    number: str
    """A pattern for the tracking number: ``9`` a digit, ``A`` a capital letter, others literal."""


@dataclass(frozen=True)
class Variant:
    subject: str
    paragraphs: tuple[str, ...]


@dataclass
class Locale:
    lang: str
    """Language of the text (de, en, fr, ...)."""
    tag: str
    """Language tag used in file names and Content-Language (de-DE, en-GB, ...)."""
    marketplace: str
    """Amazon marketplace tld the buyer alias is on (de, co.uk, co.jp, ...)."""
    order_prefixes: tuple[str, ...]
    money: Callable[[float], str]
    vat_rate: float
    vat_label: str
    """Template with {rate} and {amount}."""
    words: dict[str, str]
    salutations: tuple[str, ...]
    """Templates with {title} {first} {last}."""
    buyers: tuple[tuple[str, str, str], ...]
    closings: tuple[str, ...]
    shops: tuple[Shop, ...]
    products: tuple[tuple[str, float], ...]
    addresses: tuple[tuple[str, str, str], ...]
    carriers: tuple[Carrier, ...]
    date: Callable[[int, int, int], str]
    """(year, month, day) -> the date as the locale's templates write it."""
    texts: dict[str, tuple[Variant, ...]]
    snippets: dict[str, tuple[str, ...]]
    charsets: tuple[str, ...]
    """Charsets this language's senders use, most common first."""
    questions: tuple[tuple[str, str], ...] = ()
    """(buyer's question, seller's answer) pairs for replies in a buyer-initiated thread."""
    quote_header: str = "-----Original Message-----"
    reply_prefix: str = "Re:"
    keyword: str | None = None
    """The critical subject keyword (without brackets) where a source documents it."""
    hard_products: tuple[tuple[str, float], ...] = field(default_factory=tuple)
    """Product names that contain trigger words but are plain product names."""
