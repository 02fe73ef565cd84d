"""How rules look at a message: phrase lists (one Aho-Corasick pass for all rules), phrases near each
other, regular expressions, and named built-in checks for what is not text (links, images,
attachments, state).

Phrases are normalised exactly as message text is (``content.normalize``): lower case, look-alikes
folded, punctuation runs turned into one space. A phrase matches whole words; ``*`` at its start or
end lets it match inside a longer word ("*rabatt" finds "Sommerrabatt"). Phrases in CJK scripts
match anywhere, as those scripts do not separate words.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import ahocorasick
import phonenumbers
import regex

from gateway.orderids import order_id_spans
from gateway.policy.content import Link, MessageContent, normalize
from gateway.policy.language import marketplace_languages
from gateway.policy.stems import COMPOUNDING, MIN_COMPOUND_HEAD, has_stemmer, japanese_stem, stem_words

if TYPE_CHECKING:
    from gateway.classify import MarketplaceRecipient

LANGUAGES: frozenset[str] = frozenset({"any", "de", "en", "fr", "it", "es", "ja", "nl", "pl", "sv", "tr",
                                       "pt", "ar"})

Zone = Literal["subject", "body", "all"]

_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]")


class PolicyStateLike(Protocol):
    def review_requests(self, order_id: str) -> int: ...
    def alias_status(self, alias: str) -> Literal["optout", "dead"] | None: ...


# --------------------------------------------------------------------------------------------------
# The document rules match against


# In normalised text ("29,95 EUR" reads "29 95 eur", "12,800円" "12 800円").
_PRICE = re.compile(r"\d \d{2} (?:eur|€|usd|\$|gbp|£|chf|pln|zł|sek|kr|try|tl|aed|sar|brl|r\$)(?!\w)"
                    r"|(?<!\w)(?:€|\$|£|¥|r\$) ?\d+(?: \d{3})* \d{2}(?!\d)|\d円|¥ ?\d")
_CURRENCY_HINTS = (" eur ", "€", "$", "£", "¥", "円", " chf ", " pln ", " zł ", " kr ", " sek ", " tl ", " try ",
                   " aed ", " sar ", " brl ", " usd ", " gbp ")
_ITEM_MARKER = re.compile(r"(?<!\w)(?:art nr|artikelnr|artikel nr|art no|sku|ean|asin|qty|menge|anzahl|stk|stück"
                          r"|pos|réf|ref|cod|codice|código|aantal|ilość|antal|adet|quantité|quantità|cantidad"
                          r"|\d+ x)(?!\w)|品番|数量|単価")


@dataclass(slots=True)
class StemView:
    """The document's words replaced by their stems in one language, with the way back: where
    each word starts in the stemmed text and in the normalised text."""

    text: str
    words: list[str]
    stem_starts: list[int]
    word_starts: list[int]

    def span_in_document(self, start: int, end: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.stem_starts, start) - 1
        j = bisect.bisect_right(self.stem_starts, max(start, end - 1)) - 1
        return self.word_starts[i], self.word_starts[j] + len(self.words[j])


def _starts(words: list[str]) -> list[int]:
    """Where each word starts in ``" ".join(words)``."""
    lengths = itertools.accumulate(map(len, words), initial=0)
    return list(map(operator.add, lengths, range(len(words))))


@dataclass(slots=True)
class Document:
    """The normalised subject and body in one string: ``" subject \\x01 body "``."""

    text: str
    subject_end: int
    _stems: dict[str, StemView] = field(default_factory=dict)
    _items: dict[int, bool] = field(default_factory=dict)
    _prices: list[int] | None = None

    @classmethod
    def build(cls, subject: str, body: str) -> Document:
        ns = normalize(subject)
        return cls(text=ns + "\x01" + normalize(body), subject_end=len(ns))

    def stemmed(self, lang: str) -> StemView:
        view = self._stems.get(lang)
        if view is None:
            words = self.text[1:-1].split(" ")
            stems = stem_words(lang, words)
            view = StemView(text=" " + " ".join(stems) + " ", words=words,
                            stem_starts=[1 + s for s in _starts(stems)],
                            word_starts=[1 + s for s in _starts(words)])
            self._stems[lang] = view
        return view

    def in_item_line(self, start: int, end: int) -> bool:
        """Whether a span lies in a line item of an order table (product name, quantity, prices):
        a product called "5-Sterne Hotelkissen" or "Porta buoni sconto" is not a request or an
        offer. Two prices, or a price and an article number or quantity, around it say so."""
        if self._prices is None:
            text = self.text
            # One pass for the whole document, and none for text without a currency.
            has_money = any(sign in text for sign in _CURRENCY_HINTS)
            self._prices = [m.start() for m in _PRICE.finditer(text)] if has_money else []
        if not self._prices:
            return False
        cached = self._items.get(start)
        if cached is None:
            left = bisect.bisect_left(self._prices, start - 80)
            right = bisect.bisect_right(self._prices, end + 80)
            prices = right - left
            cached = prices >= 2 or (
                prices == 1 and _ITEM_MARKER.search(self.text, max(0, start - 80), end + 80) is not None)
            self._items[start] = cached
        return cached

    def in_zone(self, start: int, zone: Zone) -> bool:
        if zone == "all":
            return True
        return (start < self.subject_end) == (zone == "subject")

    def snippet(self, start: int, end: int, context: int = 25) -> str:
        left = max(0, start - context)
        right = min(len(self.text), end + context)
        text = self.text[left:right].replace("\x01", " | ").strip()
        return ("…" if left > 0 else "") + text + ("…" if right < len(self.text) else "")


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    """Normalised, without the surrounding spaces."""
    left_bound: bool
    right_bound: bool
    lang: str = "any"

    @classmethod
    def parse(cls, raw: str, lang: str = "any") -> Phrase:
        stripped = raw.strip()
        left = not stripped.startswith("*")
        right = not stripped.endswith("*")
        text = normalize(stripped.strip("*")).strip()
        if _CJK.search(text):
            left = right = False
        return cls(text=text, left_bound=left, right_bound=right, lang=lang)

    def stemmed(self) -> Phrase | None:
        """The phrase as its stems in its language (None where no stemmer applies)."""
        if not self.left_bound or not has_stemmer(self.lang) or _CJK.search(self.text):
            return None
        stems = stem_words(self.lang, self.text.split(" "))
        right = self.right_bound
        if right and self.lang in COMPOUNDING and len(stems[-1]) >= MIN_COMPOUND_HEAD:
            right = False  # the head of a compound: "termin" finds "Terminvorschlägen"
        return Phrase(text=" ".join(stems), left_bound=True, right_bound=right, lang=self.lang)


Key = tuple[int, int, int]
"""(rule index, matcher index, slot): which phrase list of which matcher an occurrence belongs to."""

_Entries = dict[tuple[str, bool, bool], list[Key]]


def _automaton(entries: _Entries) -> Any:
    automaton = ahocorasick.Automaton()
    for (text, left, right), keys in entries.items():
        word = (" " if left else "") + text + (" " if right else "")
        lead, trail = int(left), int(right)
        if word in automaton:
            length, _, _, old = automaton.get(word)
            automaton.add_word(word, (length, lead, trail, old + tuple(keys)))
        else:
            automaton.add_word(word, (len(word), lead, trail, tuple(keys)))
    if not len(automaton):
        return None
    automaton.make_automaton()
    return automaton


class PhraseIndex:
    """All phrase lists of all rules in one Aho-Corasick automaton: one pass per message, plus
    one pass per stemmed language over the document's stems.

    Word boundaries are part of the automaton's keys: the normalised text separates words by
    exactly one space, so a whole-word phrase is stored as " phrase " and only whole-word
    occurrences are reported, with no check per candidate.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entries] = {}
        """Phrases as written, by the language whose stems also hold them ("" for the rest)."""
        self._stem_entries: dict[str, _Entries] = {}
        self._exact: dict[frozenset[str], Any] = {}
        self._stem_automata: dict[str, Any] = {}

    def add(self, key: Key, phrase: Phrase) -> None:
        if not phrase.text:
            return
        stem = phrase.stemmed()
        group = phrase.lang if stem is not None and stem.text else ""
        entries = self._entries.setdefault(group, {})
        entries.setdefault((phrase.text, phrase.left_bound, phrase.right_bound), []).append(key)
        if phrase.lang == "ja":
            short = japanese_stem(phrase.text)
            if short:
                entries.setdefault((short, False, False), []).append(key)
        if stem is not None and stem.text:
            stems = self._stem_entries.setdefault(phrase.lang, {})
            stems.setdefault((stem.text, stem.left_bound, stem.right_bound), []).append(key)

    def build(self) -> None:
        self._exact = {}
        self._stem_automata = {lang: a for lang, entries in self._stem_entries.items()
                               if (a := _automaton(entries)) is not None}

    def _exact_without(self, stemmed: frozenset[str]) -> Any:
        """The automaton of the phrases as written, less those of the languages scanned as stems
        (their phrases are found through their stems; one pass per message either way)."""
        automaton = self._exact.get(stemmed, False)
        if automaton is False:
            merged: _Entries = {}
            for group, entries in self._entries.items():
                if group in stemmed:
                    continue
                for entry, keys in entries.items():
                    merged.setdefault(entry, []).extend(keys)
            automaton = _automaton(merged)
            if len(self._exact) < 64:
                self._exact[stemmed] = automaton
        return automaton

    @property
    def stemmed_languages(self) -> frozenset[str]:
        return frozenset(self._stem_automata)

    def scan(self, doc: Document, languages: Sequence[str] = (), limit: int = 16) -> dict[Key, list[tuple[int, int]]]:
        """Occurrences (start, end) of each phrase list, at most ``limit`` per key; in the words
        as written and, for each of ``languages`` with a stemmer, in their stems."""
        found: dict[Key, list[tuple[int, int]]] = {}
        full: set[Key] = set()  # keys with ``limit`` occurrences: later matches are skipped cheaply
        languages = [lang for lang in languages if lang in self._stem_automata]
        exact = self._exact_without(frozenset(languages))
        if exact is not None:
            for end_index, (length, lead, trail, keys) in exact.iter(doc.text):
                if full.issuperset(keys):
                    continue
                start = end_index - length + 1 + lead
                end = end_index + 1 - trail
                for key in keys:
                    spans = found.get(key)
                    if spans is None:
                        found[key] = [(start, end)]
                    elif len(spans) < limit:
                        spans.append((start, end))
                    else:
                        full.add(key)
        for lang in languages:
            automaton = self._stem_automata[lang]
            view = doc.stemmed(lang)
            for end_index, (length, lead, trail, keys) in automaton.iter(view.text):
                if full.issuperset(keys):
                    continue
                span = view.span_in_document(end_index - length + 1 + lead, end_index + 1 - trail)
                for key in keys:
                    spans = found.get(key)
                    if spans is None:
                        found[key] = [span]
                    elif len(spans) >= limit:
                        full.add(key)
                    elif span not in spans:
                        spans.append(span)
        for spans in found.values():
            if len(spans) > 1:
                spans.sort()
        return found


# --------------------------------------------------------------------------------------------------
# What a check sees


@dataclass(slots=True)
class Context:
    content: MessageContent
    subject: str
    own_text: str
    doc: Document
    reply: bool
    marketplace: str | None
    recipients: Sequence[MarketplaceRecipient]
    state: PolicyStateLike | None
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
    """The seller's own text, NFKC-folded and invisible characters removed; number matchers blank
    the order ids around each candidate they look at (``orderids.order_id_spans``)."""
    language: str | None = None
    language_percent: int = 0
    purpose: str | None = None
    critical_evidence: float = 0.0
    """The summed evidence for critical purposes (>0: the message is at least partly critical)."""
    critical: bool = False
    tags: set[str] = field(default_factory=set)
    limits: dict[str, int] = field(default_factory=dict)
    """Per counted tag, the limit a stateful check applied (see Verdict.counter_limits)."""
    occurrences: dict[Key, list[tuple[int, int]]] = field(default_factory=dict)
    _links: list[Link] | None = None

    @property
    def links(self) -> list[Link]:
        """Links in the seller's own text and HTML (quoted parts of replies excluded for text URLs)."""
        if self._links is None:
            from gateway.policy.content import text_links

            hrefs = [lnk for lnk in self.content.links if lnk.source == "href"]
            self._links = hrefs + text_links(self.own_text)
        return self._links


def domain_allowed(host: str, allowed: Sequence[str]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().strip(".")
        if entry.endswith(".*"):  # amazon.* : any public suffix after the label
            label = entry[:-2]
            parts = host.split(".")
            for i in range(len(parts)):
                if parts[i] == label.split(".")[-1] and ".".join(parts[i - label.count("."): i + 1]) == label:
                    rest = parts[i + 1:]
                    if 1 <= len(rest) <= 2 and all(len(p) <= 3 for p in rest):
                        return True
        elif host == entry or host.endswith("." + entry):
            return True
    return False


# --------------------------------------------------------------------------------------------------
# Built-in checks: each returns evidence (a short string) when it hits, None otherwise.

CheckFn = Callable[[Context, Mapping[str, Any]], str | None]


@dataclass(frozen=True, slots=True)
class Check:
    fn: CheckFn
    defaults: Mapping[str, Any]
    description: str


CHECKS: dict[str, Check] = {}


def check(name: str, description: str, **defaults: Any) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = Check(fn=fn, defaults=defaults, description=description)
        return fn
    return register


@check("external-links", "links to hosts outside the allow-list", allow_domains=[])
def _external_links(ctx: Context, params: Mapping[str, Any]) -> str | None:
    allowed = tuple(params["allow_domains"]) + ctx.allow_domains
    for link in ctx.links:
        if link.url.lower().startswith(("mailto:", "tel:", "cid:", "data:")):
            continue
        if not link.host or not domain_allowed(link.host, allowed):
            return link.url[:200]
    return None


@check("optout-links", "links whose address or label offers to unsubscribe",
       words=["unsubscribe", "optout", "opt-out", "opt_out", "abmelden", "abbestellen", "desinscri",
              "desabonn", "disiscriv", "cancelar-suscripcion", "darse-de-baja", "dar-de-baja"])
def _optout_links(ctx: Context, params: Mapping[str, Any]) -> str | None:
    words = [w.lower() for w in params["words"]]
    for link in ctx.links:
        target = (link.url + " " + link.label).lower()
        if any(w in target for w in words):
            return link.url[:200]
    return None


_EMOJI = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}]")
# Every emoji lies in these blocks; a one-range scan (stdlib re) rules most texts out quickly.
_EMOJI_BLOCKS = re.compile("[\u203c\u2049\u2122-\u2bff\u3030\u303d\u3297\u3299\U0001f000-\U0001fffd]")
_NOT_EMOJI = frozenset("©®™‼⁉↔↕↖↗↘↙↩↪")


def _latin1(text: str) -> bool:
    """Only Latin-1 characters (most European mail): no emoji possible but the © and ® we allow."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


@check("emoji", "emoji characters (Unicode Extended_Pictographic)")
def _emoji(ctx: Context, params: Mapping[str, Any]) -> str | None:
    for text in (ctx.subject, ctx.own_text):
        if _latin1(text) or not _EMOJI_BLOCKS.search(text):
            continue
        for m in _EMOJI.finditer(text):
            if m.group(0) not in _NOT_EMOJI:
                return f"U+{ord(m.group(0)):04X} {m.group(0)}"
    return None


_PARAGRAPH_BREAK = regex.compile(r"\n[ \t]*\n")


def _paragraph_around(text: str, start: int, end: int, window: int) -> tuple[int, int]:
    """The paragraph (text between blank lines) around a span, cut to ``window`` characters on
    either side: "Hersteller" two lines above a hotline number belongs to it, a word three
    paragraphs away does not."""
    left = max(0, start - window)
    breaks = list(_PARAGRAPH_BREAK.finditer(text, left, start))
    if breaks:
        left = breaks[-1].end()
    right = min(len(text), end + window)
    after = _PARAGRAPH_BREAK.search(text, end, right)
    if after is not None:
        right = after.start()
    return left, right


def _context_allows(text: str, start: int, end: int, words: Sequence[str], window: int) -> bool:
    left, right = _paragraph_around(text, start, end, window)
    around = normalize(text[left:right])
    return any(needle in around for needle in _context_needles(tuple(words)))


@functools.lru_cache(maxsize=256)
def _context_needles(words: tuple[str, ...]) -> tuple[str, ...]:
    """A word prefix in spaced scripts ("hersteller" finds "Herstellers"); anywhere in CJK."""
    folded = (normalize(w).strip() for w in words)
    return tuple(f" {f}" if not _CJK.search(f) else f for f in folded)


_EMAIL = regex.compile(r"(?i)[a-z0-9._%+\-]{1,64}@(?:[a-z0-9-]{1,63}\.)+[a-z]{2,24}")


@check("email-addresses", "e-mail addresses written in the message (a buyer alias is not one)",
       allow_context=[], window=80)
def _email_addresses(ctx: Context, params: Mapping[str, Any]) -> str | None:
    for text in (ctx.masked_subject, ctx.masked_text):
        for m in _EMAIL.finditer(text):
            address = m.group(0)
            if "@marketplace.amazon." in address.lower():
                continue
            if _context_allows(text, m.start(), m.end(), params["allow_context"], params["window"]):
                continue
            return address
    return None


_PHONE_CANDIDATE = regex.compile(r"(?:\+|\b00|\(0|\b0)[\d\s()./\-]{6,22}\d")
# Bank, tax and register ids hold long digit runs that parse as foreign phone numbers ("0044 ..." in
# an IBAN is +44): blanked before the search, like order ids.
_ACCOUNT_IDS = re.compile(
    r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){3,7}(?:[ ]?[A-Z0-9]{1,3})?\b"  # IBAN
    r"|\b(?:DE|ATU|FR|IT|ES|NL|BE|PL|SE|GB|CHE)[ ]?[0-9A-Z]{8,12}\b"      # VAT ids
)
_REGION = {"com": "US", "ca": "CA", "com.mx": "MX", "com.br": "BR", "co.uk": "GB", "de": "DE", "fr": "FR",
           "it": "IT", "es": "ES", "nl": "NL", "se": "SE", "pl": "PL", "com.be": "BE", "com.tr": "TR",
           "ae": "AE", "sa": "SA", "eg": "EG", "in": "IN", "co.jp": "JP", "com.au": "AU", "sg": "SG"}
_PHONE_LIKE = regex.compile(r"^(?:\+|00|\(0)|\d[\s./\-]+\d")


def _label_before(text: str, start: int, reach: int = 48) -> str:
    """The words on the number's line just before it (where a label like "Tel.:" or "IBAN:" stands)."""
    line_start = text.rfind("\n", max(0, start - reach), start) + 1
    return normalize(text[max(line_start, start - reach):start])


def _last_of(label: str, words: Sequence[str], whole: bool) -> int:
    """Where in ``label`` the last of ``words`` starts (-1 when none occurs); as whole words or
    as word beginnings ("kunden" finds "Kundennummer")."""
    return max((label.rfind(needle) for needle in _label_needles(tuple(words), whole)), default=-1)


@functools.lru_cache(maxsize=64)
def _label_needles(words: tuple[str, ...], whole: bool) -> tuple[str, ...]:
    return tuple(" " + normalize(w).strip() + (" " if whole else "") for w in words)


@check("phone-numbers", "phone numbers (phonenumbers library), except in carrier or warranty context",
       allow_context=[], window=80, phone_labels=[], other_labels=[])
def _phone_numbers(ctx: Context, params: Mapping[str, Any]) -> str | None:
    """A number that the phonenumbers library calls valid, and that reads as a phone number: it has
    a phone label ("Tel.", "Hotline", "rufen Sie an") before it on its line, or is written as one
    ("+49 ...", "030 1234567", "(030) ..."). A number whose label says it is something else
    (invoice, customer or VAT number, IBAN) is not one; carrier, manufacturer and warranty numbers
    are allowed when their paragraph says so."""
    region = _REGION.get(ctx.marketplace or "", "DE")
    phone_labels = params["phone_labels"]
    other_labels = params["other_labels"]
    for text in (ctx.masked_subject, ctx.masked_text):
        for cand in _PHONE_CANDIDATE.finditer(text):
            number = cand.group(0)
            digits = sum(ch.isdigit() for ch in number)
            if digits < 7:
                continue
            # Order ids and bank or tax ids around the candidate are not phone numbers: blanked.
            line_start = text.rfind("\n", 0, cand.start()) + 1
            line_end = text.find("\n", cand.end())
            line = text[line_start: line_end if line_end >= 0 else len(text)]
            blanks = [(s - line_start, e - line_start)
                      for s, e in order_id_spans(text, cand.start(), cand.end())]
            blanks += [m.span() for m in _ACCOUNT_IDS.finditer(line)]
            if blanks:
                chars = list(number)
                offset = cand.start() - line_start
                for s, e in blanks:
                    for i in range(max(s, offset), min(e, offset + len(chars))):
                        chars[i - offset] = " "
                number = "".join(chars)
                digits = sum(ch.isdigit() for ch in number)
            if digits < 7 or digits > 15:
                continue
            try:
                matches = list(phonenumbers.PhoneNumberMatcher(number, region,
                                                               leniency=phonenumbers.Leniency.VALID))
            except Exception:
                continue
            for match in matches:
                start = cand.start() + match.start
                end = cand.start() + match.end
                label = _label_before(text, start)
                phone_at = _last_of(label, phone_labels, True)
                other_at = _last_of(label, other_labels, False)
                if other_at > phone_at:
                    continue
                if phone_at < 0 and not _PHONE_LIKE.search(str(match.raw_string)):
                    continue  # a bare digit run with no label: an id, not a phone number
                if _context_allows(text, start, end, params["allow_context"], params["window"]):
                    continue
                return str(match.raw_string)
    return None


def _query_string(src: str) -> bool:
    return "?" in src and "=" in src.split("?", 1)[1]


@check("tracking-pixels", "tiny or query-string remote images (they report when a buyer opens the mail)",
       max_pixels=3)
def _tracking_pixels(ctx: Context, params: Mapping[str, Any]) -> str | None:
    limit = int(params["max_pixels"])
    for img in ctx.content.images:
        if not img.remote:
            continue
        tiny = ((img.width is not None and img.width <= limit)
                or (img.height is not None and img.height <= limit))
        if tiny or _query_string(img.src):
            return img.src[:200]
    return None


@check("remote-images", "images loaded from a server outside the allow-list", allow_domains=[])
def _remote_images(ctx: Context, params: Mapping[str, Any]) -> str | None:
    allowed = tuple(params["allow_domains"]) + ctx.allow_domains
    for img in ctx.content.images:
        if img.remote and not domain_allowed(img.host, allowed):
            return img.src[:200]
    return None


@check("linked-images", "images (logos) wrapped in a link that leaves Amazon", allow_domains=[])
def _linked_images(ctx: Context, params: Mapping[str, Any]) -> str | None:
    from gateway.policy.content import host_of

    allowed = tuple(params["allow_domains"]) + ctx.allow_domains
    for img in ctx.content.images:
        if img.linked_to and not img.linked_to.lower().startswith(("#", "cid:")):
            host = host_of(img.linked_to)
            if not host or not domain_allowed(host, allowed):
                return f"{img.src[:80]} -> {img.linked_to[:120]}"
    return None


_CAPS_WORD = re.compile(r"[A-Z][A-ZÀ-ÖØ-Þ]{3,}")
# Capital letters of cp1252 text as "A", everything else as a space: runs of capitals in C speed.
_CAPS_TABLE = bytes(0x41 if (0x41 <= b <= 0x5A or (0xC0 <= b <= 0xDE and b != 0xD7)) else 0x20 for b in range(256))


def _many_capital_words(text: str, limit: int) -> bool:
    """A fast pre-check: more than ``limit`` runs of four or more capitals (may over-count)."""
    try:
        raw = text.encode("cp1252")
    except UnicodeEncodeError:
        return True
    runs = raw.translate(_CAPS_TABLE).split()
    return sum(1 for r in runs if len(r) >= 4) > limit


_NEUTRAL_COLORS = frozenset({"#000", "#000000", "black", "inherit", "#fff", "#ffffff", "white", "transparent",
                              "windowtext", "currentcolor", "initial", "rgb(0,0,0)", "rgb(0, 0, 0)"})


@check("excessive-formatting", "many formatting tags, colours, large fonts, shouting",
       max_tags=25, max_colors=3, max_font_px=24, max_caps_words=8)
def _excessive_formatting(ctx: Context, params: Mapping[str, Any]) -> str | None:
    c = ctx.content
    if c.html_formatting > int(params["max_tags"]):
        return f"{c.html_formatting} formatting elements"
    colors = {col for col in c.html_colors if col not in _NEUTRAL_COLORS}
    if len(colors) > int(params["max_colors"]):
        return f"{len(colors)} colours: " + ", ".join(sorted(colors)[:5])
    if c.html_max_font_px > float(params["max_font_px"]):
        return f"font size {c.html_max_font_px:.0f}px"
    for shout in ("!!!", "???"):
        if shout in ctx.subject or shout in ctx.own_text:
            return shout
    if _many_capital_words(ctx.own_text, int(params["max_caps_words"])):
        caps = _CAPS_WORD.findall(ctx.own_text)
        if len(caps) > int(params["max_caps_words"]):
            return "capitals: " + " ".join(caps[:5])
    return None


@check("attachment-size", "decoded attachments larger in total than the limit", max_bytes=10 * 1024 * 1024)
def _attachment_size(ctx: Context, params: Mapping[str, Any]) -> str | None:
    total = ctx.content.attachments_total
    if total > int(params["max_bytes"]):
        return f"{total} bytes in {len(ctx.content.attachments)} attachment(s)"
    return None


@check("attachment-kinds", "attachments whose content (or name) is of the listed kinds",
       kinds=["executable", "script", "archive"])
def _attachment_kinds(ctx: Context, params: Mapping[str, Any]) -> str | None:
    kinds = set(params["kinds"])
    for att in ctx.content.attachments:
        if att.kind in kinds:
            return f"{att.filename or '(unnamed)'}: {att.kind} ({att.sniffed_type or att.declared_type})"
    return None


@check("attachment-not-allowed-kind", "attachments of a kind outside the allowed list",
       allowed=["pdf", "image", "text"])
def _attachment_other(ctx: Context, params: Mapping[str, Any]) -> str | None:
    allowed = set(params["allowed"])
    for att in ctx.content.attachments:
        if att.kind not in allowed:
            return f"{att.filename or '(unnamed)'}: {att.sniffed_type or att.declared_type}"
    return None


@check("message-truncated", "MIME structure too deep or with too many parts to read completely")
def _message_truncated(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if ctx.content.truncated:
        return "; ".join(ctx.content.problems)[:200] or "structure limit reached"
    return None


@check("order-id-missing", "no 17-digit order id (3-7-7) in subject or body")
def _order_id_missing(ctx: Context, params: Mapping[str, Any]) -> str | None:
    return None if ctx.order_ids else "no order id like 302-4817265-9034712"


# Sentences that carry no request of their own.
_SENTENCE = regex.compile(r"[^.!?。！？\n]+")


def content_only(ctx: Context, filler_keys: set[Key], main_keys: set[Key], closing_key: Key,
                 min_words: int) -> str | None:
    """Hit when the body has one of the main phrases and every other sentence of substance is
    covered (at least half) by main or filler phrases. Short sentences (greetings, names) and the
    signature after a closing phrase do not count; a message with attachments has substance."""
    if ctx.content.attachments:
        return None  # an invoice or instructions attached is the message's substance
    body_start = ctx.doc.subject_end + 1
    main = [(s, e) for key in main_keys for s, e in ctx.occurrences.get(key, ()) if s >= body_start]
    if not main:
        return None
    text = ctx.doc.text
    covered = bytearray(len(text))
    for key in filler_keys | main_keys:
        for start, end in ctx.occurrences.get(key, ()):
            covered[start:end] = b"\x01" * (end - start)
    closings = [s for s, _ in ctx.occurrences.get(closing_key, ()) if s >= body_start]
    signature_at = min(closings) if closings else len(text)
    pos = body_start
    for sentence in _SENTENCE.findall(ctx.own_text):
        norm = normalize(sentence).strip()
        if not norm:
            continue
        found = text.find(norm, pos)
        if found >= 0:
            pos = found + len(norm)
        if found >= signature_at:
            break
        words = [w for w in norm.split() if not w.isdigit()]
        if len(words) <= min_words:
            continue
        if found >= 0:
            # Share of letters covered: numbers (order ids, tracking numbers) are neutral.
            letters = [i for i in range(found, found + len(norm)) if text[i].isalpha()]
            if letters and sum(covered[i] for i in letters) >= 0.5 * len(letters):
                continue
        return None
    start, end = min(main)
    return ctx.doc.snippet(start, end, 30)


@check("review-request-repeat", "a review request for an order that already had one (stateful)", limit=1)
def _review_repeat(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if "review-request" not in ctx.tags or ctx.state is None:
        return None
    ctx.limits["review-request"] = int(params["limit"])
    for order_id in ctx.order_ids:
        try:
            count = ctx.state.review_requests(order_id)
        except Exception:
            continue
        if count >= int(params["limit"]):
            return f"order {order_id} already had {count} review request(s)"
    return None


def _alias_statuses(ctx: Context) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if ctx.state is None:
        return out
    for rcpt in ctx.recipients:
        try:
            status = ctx.state.alias_status(rcpt.alias)
        except Exception:
            status = None
        if status:
            out.append((rcpt.alias, status))
    return out


@check("alias-dead", "the buyer alias bounced as unknown before")
def _alias_dead(ctx: Context, params: Mapping[str, Any]) -> str | None:
    for alias, status in _alias_statuses(ctx):
        if status == "dead":
            return alias
    return None


@check("buyer-opted-out", "proactive, non-critical mail to a buyer who opted out of unsolicited messages")
def _buyer_opted_out(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if ctx.reply or (ctx.critical and ctx.keyword is not None):
        return None
    for alias, status in _alias_statuses(ctx):
        if status == "optout":
            return alias
    return None


@check("critical-keyword-missing", "critical content without the marketplace's subject keyword")
def _keyword_missing(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if not ctx.critical or ctx.keyword is None:
        return None
    if ctx.keyword_pattern is not None and ctx.keyword_pattern.search(ctx.subject):
        return None
    for pattern in ctx.keyword_patterns:
        written = pattern.search(ctx.subject)
        if written is not None:
            return f"subject writes {written.group(0)!r}; Amazon reads only {ctx.keyword}"
    return f"subject {ctx.subject[:120]!r} lacks {ctx.keyword}"


@check("critical-keyword-misused", "the subject keyword on a message that is not critical")
def _keyword_misused(ctx: Context, params: Mapping[str, Any]) -> str | None:
    # Only a message with no critical evidence at all is a misuse: the seller's keyword on a
    # message that is partly about a delivery date or an address is given the benefit of the doubt.
    if ctx.critical or ctx.critical_evidence > 0:
        return None
    for pattern in ctx.keyword_patterns:
        m = pattern.search(ctx.subject)
        if m:
            return m.group(0)
    return None


@functools.lru_cache(maxsize=256)
def _normalized(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(normalize(w).strip() for w in words)


@check("attachment-names", "an attachment of the given kinds whose file name contains one of the words",
       words=[], kinds=["pdf"])
def _attachment_names(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if not ctx.content.attachments:
        return None
    words = _normalized(tuple(params["words"]))
    kinds = set(params["kinds"])
    for att in ctx.content.attachments:
        if att.kind in kinds:
            name = normalize(att.filename)
            if any(w and w in name for w in words):
                return att.filename
    return None


@check("links-to", "a link to one of the listed hosts (or their subdomains)", domains=[])
def _links_to(ctx: Context, params: Mapping[str, Any]) -> str | None:
    domains = tuple(params["domains"])
    for link in ctx.links:
        if link.host and domain_allowed(link.host, domains):
            return link.url[:200]
    return None


@check("purpose", "the message's purpose (from the purpose evidence) is one of the listed", purposes=[])
def _purpose_is(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if ctx.purpose is not None and ctx.purpose in params["purposes"]:
        return ctx.purpose
    return None


# "www dot shop dot com", "meinshop punkt de", "shop(dot)com", "shop [.] de": in normalised text the
# brackets and dots are gone, so these read "www dot shop dot com", "meinshop punkt de", ...
_DOT_WORDS = {
    # dot word: top-level domains after which it is a web address (not "au point de vue")
    "dot": "com|net|org|de|co uk|uk|fr|it|es|nl|pl|se|eu|shop|store|io|info|biz|at|ch|be|com tr|jp|co jp",
    "punkt": "de|com|net|org|at|ch|eu|shop|info|biz",
    "point": "com|fr|net|org|eu|shop",
    "punto": "com|it|net|org|shop",
    "kropka": "pl|com|eu|net",
    "nokta": "com|com tr|net|org",
    "ponto": "com|com br|br|net",
    "ドット": "com|jp|co jp|net",
}
_SPELLED_LINK = re.compile(
    r"(?:^| )((?:www (?:dot|punkt|point|punto|kropka|nokta|ponto) )?[a-z0-9][a-z0-9-]{2,62}"
    r" (?:" + "|".join(f"{w} (?:{t})" for w, t in _DOT_WORDS.items()) + r"))(?= |$)")
_LABEL_STOPWORDS = frozenset({"the", "und", "and", "der", "die", "das", "le", "la", "el", "il", "de", "en", "auf",
                              "zum", "ein", "one", "this", "that", "next", "first", "last", "same"})


@check("spelled-out-links", "web addresses spelled out with a dot word (dot, punkt, point, punto, kropka, ...)")
def _spelled_out_links(ctx: Context, params: Mapping[str, Any]) -> str | None:
    text = ctx.doc.text
    if not any(f" {w} " in text for w in _DOT_WORDS):
        return None
    for m in _SPELLED_LINK.finditer(text):
        label = m.group(1).split(" ")
        name = label[2] if label[0] == "www" and len(label) > 3 else label[0]
        if name in _LABEL_STOPWORDS or name.isdigit():
            continue
        if "amazon" in name:
            continue
        return m.group(1)
    return None


# Amazon pages that sell something else: a storefront, a search, other products.
_AMAZON_CROSS_SELL = re.compile(r"(?i)/(?:stores?|shops?)/|/s\?|[?&](?:me|seller|merchant)=|/sp\?|/gp/aag/|/b\?|/b/")
_AMAZON_PRODUCT = re.compile(r"(?i)/(?:dp|gp/product|exec/obidos/asin)/([A-Z0-9]{10})")


@check("amazon-cross-selling", "amazon.* links to a storefront, a search or to more than one product")
def _amazon_cross_selling(ctx: Context, params: Mapping[str, Any]) -> str | None:
    products: set[str] = set()
    for link in ctx.links:
        if not link.host or not domain_allowed(link.host, ("amazon.*", "amzn.*")):
            continue
        url = link.url
        if _AMAZON_CROSS_SELL.search(url):
            return url[:200]
        found = _AMAZON_PRODUCT.search(url)
        if found:
            products.add(found.group(1).upper())
            if len(products) > 1:
                return url[:200]
    return None


@check("language-mismatch", "the seller's text is in a language the marketplace's buyers do not read",
       accepted={}, min_percent=70)
def _language_mismatch(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if ctx.language is None or ctx.language_percent < int(params["min_percent"]):
        return None
    accepted = params["accepted"].get(ctx.marketplace or "") or marketplace_languages(ctx.marketplace)
    if not accepted or ctx.language in accepted:
        return None
    return f"written in {ctx.language} ({ctx.language_percent}%), .{ctx.marketplace} reads {', '.join(accepted)}"
