"""Amazon's notices to sellers about buyer messages it did not deliver.

Opt-out notices ("... because the buyer has chosen to opt out of receiving unsolicited messages
from sellers"), policy rejections, sending restrictions and invalid aliases, in the marketplace
languages listed in ``policies/bounces/amazon.toml``. The notices often name only the order id; the
buyer alias is reported when the notice or its quoted original carries it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache

import gateway.bounces.reasons as reasons
from gateway.bounces.addresses import address_in
from gateway.bounces.phrases import PhraseIndex
from gateway.bounces.report import BouncedRecipient
from gateway.classify import Classifier
from gateway.message.report import ReportContent
from gateway.orderids import ORDER_ID

_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}@marketplace\.amazon\.[A-Za-z.]{1,10}[A-Za-z]", re.IGNORECASE)
_SENDER_TLD = re.compile(r"@(?:[a-z0-9-]+\.)*amazon\.([a-z.]+)$")
_LINK_TLD = re.compile(r"\b(?:sellercentral|www)\.amazon\.([a-z]{2,3}(?:\.[a-z]{2})?)\b")


@dataclass(frozen=True, slots=True)
class Wording:
    kind: str
    language: str
    verified: bool
    reason: str
    subjects: tuple[str, ...]
    phrases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AmazonRules:
    wordings: tuple[Wording, ...]
    marketplaces: tuple[str, ...]
    index: PhraseIndex
    """Every wording's phrases, keyed by the wording's position."""


@dataclass(frozen=True, slots=True)
class Notice:
    notice: str
    order_id: str | None
    marketplace: str | None
    alias: str | None
    language: str | None
    verified: bool
    recipients: tuple[BouncedRecipient, ...]


def fold(text: str) -> str:
    """Case, whitespace and apostrophe differences do not matter for matching."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")
    return " ".join(text.casefold().split())


@cache
def rules() -> AmazonRules:
    data = tomllib.loads((reasons.POLICY_DIR / "amazon.toml").read_text(encoding="utf-8"))
    wordings = tuple(
        Wording(kind=str(n["kind"]), language=str(n["language"]), verified=bool(n.get("verified")),
                reason=str(n["reason"]), subjects=tuple(fold(s) for s in n.get("subjects", [])),
                phrases=tuple(fold(p) for p in n.get("phrases", [])))
        for n in data["notice"]
    )
    index = PhraseIndex((p, str(i)) for i, w in enumerate(wordings) for p in w.phrases)
    return AmazonRules(wordings=wordings, marketplaces=tuple(data["marketplaces"]), index=index)


def _sender_marketplace(mail: ReportContent, tlds: frozenset[str]) -> tuple[bool, str | None]:

    addr = address_in(mail.from_) or ""
    m = _SENDER_TLD.search(addr)
    if m is None:
        return False, None
    return True, m.group(1) if m.group(1) in tlds else None


def _match(mail: ReportContent, from_amazon: bool) -> Wording | None:
    r = rules()
    hits = r.index.keys_in(fold(mail.text))
    if hits:
        return r.wordings[min(int(h) for h in hits)]
    if from_amazon:
        subject = fold(mail.subject)
        for w in rules().wordings:
            if any(s and s in subject for s in w.subjects):
                return w
    return None


@cache
def _classifier() -> Classifier:
    return Classifier(rules().marketplaces)


def alias_among(texts: list[str]) -> tuple[str | None, str | None]:
    """The first buyer alias (without +token) in ``texts`` and its marketplace."""
    classifier = _classifier()
    for text in texts:
        for candidate in _ALIAS.findall(text):
            found = classifier.classify(candidate.rstrip("."))
            if found is not None:
                return found.alias, found.marketplace
    return None, None


def parse_notice(mail: ReportContent) -> Notice | None:
    r = rules()
    tlds = frozenset(r.marketplaces)
    from_amazon, sender_tld = _sender_marketplace(mail, tlds)
    wording = _match(mail, from_amazon)
    if wording is None:
        return None
    # Where the alias can be: the quoted original's To, the notice text, or the notice's own From
    # (notices relayed through the messaging service come from the buyer's alias).
    alias, marketplace = alias_among([mail.to, mail.original.to if mail.original else "", mail.text,
                                      mail.from_])
    if marketplace is None:
        marketplace = sender_tld
    if marketplace is None:
        link = _LINK_TLD.search(mail.text)
        if link is not None and link.group(1) in tlds:
            marketplace = link.group(1)
    order = ORDER_ID.search(f"{mail.subject}\n{mail.text}")
    recipients: tuple[BouncedRecipient, ...] = ()
    if alias is not None:
        recipients = (BouncedRecipient(address=alias, reason=wording.reason,
                                       status=reasons.status_for(wording.reason, None),
                                       diagnostic=f"amazon-{wording.kind} notice ({wording.language})"),)
    return Notice(notice=wording.kind, order_id=order.group(1) if order else None, marketplace=marketplace,
                  alias=alias, language=wording.language, verified=wording.verified, recipients=recipients)
