"""Checks on contact data: e-mail addresses and phone numbers, with the context that allows them."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import phonenumbers
import regex

from gateway.message import normalize
from gateway.message.patterns import EMAIL_ADDRESS
from gateway.orderids import order_id_spans
from gateway.policy.checks.registry import check
from gateway.policy.context import Context
from gateway.policy.phrases import CJK

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
    return tuple(f" {f}" if not CJK.search(f) else f for f in folded)


_EMAIL = EMAIL_ADDRESS


@check("email-addresses", "e-mail addresses written in the message (a buyer alias is not one)",
       allow_context=[], window=80)
def _email_addresses(ctx: Context, params: Mapping[str, Any]) -> str | None:
    for target in ctx.content.contact_links:
        if target.lower().startswith("mailto:"):
            address = target[7:].split("?", 1)[0].strip()
            if address and "@marketplace.amazon." not in address.lower() and _EMAIL.search(address):
                return address
    for text in (ctx.masked_subject, ctx.masked_text):
        if "@" not in text:
            continue  # (the pattern needs one; most text has none)
        for m in _EMAIL.finditer(text):
            address = m.group(0)
            if "@marketplace.amazon." in address.lower():
                continue
            if _context_allows(text, m.start(), m.end(), params["allow_context"], params["window"]):
                continue
            return address
    return None


_PHONE_CANDIDATE = regex.compile(r"(?:\+|\(|\b)\d[\d\s()./\-]{6,22}\d")
# The stretches from a digit to the last digit that the candidate's characters join to it: every
# candidate lies in one (or starts just before one, at its "+" or "("). Finding them is linear
# (possessive); the candidate pattern, which backtracks from every digit through the spaces of an
# order table, then runs only on the few stretches long enough to hold one.
_DIGIT_STRETCH = regex.compile(r"\d(?=[\d\s()./\-]{7})(?:[\s()./\-]*+\d)*+")
# The same on Latin-1 text, as one byte per character ("d" a digit, "s" a separator, "x" anything
# else; the positions are the text's): its only digits are 0-9, its white space the ASCII one,
# NEL and NBSP (and 0x1c-0x1f, which only widen a stretch). bytes.translate classifies at memory
# speed, and a pattern of literals is searched for as fast, where the str pattern asks the
# Unicode database at every character.
_LATIN_CLASSES = bytes(ord("d") if 0x30 <= b <= 0x39 else
                       ord("s") if b in b"\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0()./-" else ord("x")
                       for b in range(256))
_LATIN_STRETCH = re.compile(rb"d(?=[ds]{7})(?:s*+d)*+")
# Written as a phone number even without a label: international (+, 00) or with a trunk prefix
# (0, (0). Numbers of countries without a trunk prefix (Poland, Spain, Italy's mobiles, the US:
# "61 850 12 34", "612 345 678", "(555) 123-4567") count only after a phone label on their line.
_TRUNK = regex.compile(r"\+|00|\(?0")
# Bank, tax and register ids hold long digit runs that parse as foreign phone numbers ("0044 ..." in
# an IBAN is +44): blanked before the search, like order ids.
_ACCOUNT_IDS = re.compile(
    r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){3,7}(?:[ ]?[A-Z0-9]{1,3})?\b"  # IBAN
    r"|\b(?:DE|ATU|FR|IT|ES|NL|BE|PL|SE|GB|CHE)[ ]?[0-9A-Z]{8,12}\b"      # VAT ids
)
# Calendar dates ("04.12.2026", "09-12-2026", "12/04/2026", "2026-12-04") start with a 0 and parse
# as German or Italian numbers with an area code: a delivery date would refuse the message. Blanked
# like order ids; a date's separators repeat, which a phone number's grouping never needs.
_DATES = regex.compile(
    r"(?<![\d.\-/])(?:"
    r"(?:0?[1-9]|[12]\d|3[01])([./\-])(?:0?[1-9]|1[0-2])\1(?:(?:19|20)\d{2}|\d{2})"  # day month year
    r"|(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:19|20)\d{2}"                   # US month/day/year
    r"|(?:19|20)\d{2}([./\-])(?:0?[1-9]|1[0-2])\2(?:0?[1-9]|[12]\d|3[01])"          # ISO 8601
    r")(?!\d|[./\-]\d)"
)
# Clock-time ranges ("kl. 08.00-12.00", "08:00–12:00") hold eight digits with a leading 0 and parse as
# a Stockholm or Milan number: a delivery window would refuse the message. Blanked like dates.
_TIME_RANGES = regex.compile(
    r"(?<![\d.:\-/])(?:[01]?\d|2[0-4])[.:][0-5]\d\s*(?:[-\u2013\u2014]|to|bis|till)\s*(?:[01]?\d|2[0-4])[.:][0-5]\d(?![\d]|[.:]\d)"
)
_REGION = {"com": "US", "ca": "CA", "com.mx": "MX", "com.br": "BR", "co.uk": "GB", "de": "DE", "fr": "FR",
           "it": "IT", "es": "ES", "nl": "NL", "se": "SE", "pl": "PL", "com.be": "BE", "com.tr": "TR",
           "ae": "AE", "sa": "SA", "eg": "EG", "in": "IN", "co.jp": "JP", "com.au": "AU", "sg": "SG"}
_PHONE_LIKE = regex.compile(r"^(?:\+|00|\(0)|\d[\s./\-]+\d")


def _phone_candidates(text: str) -> Iterator[regex.Match[str]]:
    """``_PHONE_CANDIDATE.finditer(text)``, looked for in the digit stretches only."""
    try:
        stretches = _LATIN_STRETCH.finditer(text.encode("latin-1").translate(_LATIN_CLASSES))
    except UnicodeEncodeError:
        stretches = _DIGIT_STRETCH.finditer(text)  # type: ignore[assignment]
    for stretch in stretches:
        start, end = stretch.span()
        if start and text[start - 1] in "+(":
            start -= 1
        yield from _PHONE_CANDIDATE.finditer(text, start, end)


def _label_before(text: str, start: int, reach: int = 48) -> str:
    """The words on the number's line just before it (where a label like "Tel.:" or "IBAN:" stands)."""
    line_start = text.rfind("\n", max(0, start - reach), start) + 1
    return _normalized_label(text[max(line_start, start - reach):start])


@functools.lru_cache(maxsize=4096)
def _normalized_label(label: str) -> str:
    """(Labels recur from message to message: one template's "Tel.:", "Rechnungsdatum:".)"""
    return normalize(label)


def _last_of(label: str, words: Sequence[str], whole: bool) -> int:
    """Where in ``label`` the last of ``words`` starts (-1 when none occurs); as whole words or
    as word beginnings ("kunden" finds "Kundennummer"). One compiled pattern per word list."""
    pattern = _label_pattern(tuple(words), whole)
    if pattern is None:
        return -1
    last = -1
    for m in pattern.finditer(label):
        last = m.start()
    return last


@functools.lru_cache(maxsize=64)
def _label_pattern(words: tuple[str, ...], whole: bool) -> re.Pattern[str] | None:
    """Zero-width matches where one of ``words`` starts (after a space), so that overlapping and
    nested labels are all seen; longest first, as the regex tries them in order."""
    folded = sorted({normalize(w).strip() for w in words} - {""}, key=len, reverse=True)
    if not folded:
        return None
    # " (?=...)" rather than "(?= ...)": the same starts (a match only takes its space, the next
    # search begins after it), but re can search for the space instead of trying every position.
    return re.compile(" (?=(?:" + "|".join(map(re.escape, folded)) + ")" + (" )" if whole else ")"))


def _names_an_id(label: str, id_words: Sequence[str], phone_heads: Sequence[str]) -> bool:
    """The word just before the number calls it an id: a compound on a word for "number"
    ("Vertragsnummer", "Abholcode", "Mandatsreferenz") or such a word after its head ("Art.-Nr.",
    "model no"), unless the head is a phone word ("Telefonnummer", "Tel.-Nr.", "Servicenummer")."""
    words = label.split()
    if not words:
        return False
    last = words[-1]
    for suffix in _folded(tuple(id_words)):
        if not last.endswith(suffix):
            continue
        head = last[: len(last) - len(suffix)] or (words[-2] if len(words) > 1 else "")
        return not any(head.startswith(p) or (len(p) >= 5 and p in head) for p in _folded(tuple(phone_heads)))
    return False


@functools.lru_cache(maxsize=16)
def _folded(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({normalize(w).strip() for w in words} - {""}, key=len, reverse=True))


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _hidden_tel_link(ctx: Context, region: str) -> str | None:
    """A ``tel:`` link to a valid number that the visible text does not show ("Rufen Sie uns an"):
    contact data with no context to allow it. A linked number that is also written out is left
    to the text check below, where a carrier's or manufacturer's context can allow it."""
    visible = None
    for target in ctx.content.contact_links:
        if not target.lower().startswith("tel:"):
            continue
        number = target[4:].split(";", 1)[0].strip()
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(parsed):
            continue
        if visible is None:
            visible = _digits(ctx.masked_subject + " " + ctx.masked_text)
        national = str(parsed.national_number)
        if national not in visible:
            return target
    return None


@check("phone-numbers", "phone numbers (phonenumbers library), except in carrier or warranty context",
       allow_context=[], window=80, phone_labels=[], other_labels=[], id_words=[], phone_heads=[])
def _phone_numbers(ctx: Context, params: Mapping[str, Any]) -> str | None:
    """A number that the phonenumbers library calls valid, and that reads as a phone number: it has
    a phone label ("Tel.", "Hotline", "rufen Sie an") before it on its line, or is written as one
    ("+49 ...", "030 1234567", "(030) ..."). A number whose label says it is something else
    (invoice, customer or VAT number, IBAN) is not one; carrier, manufacturer and warranty numbers
    are allowed when their paragraph says so."""
    region = _REGION.get(ctx.marketplace or "", "DE")
    hidden = _hidden_tel_link(ctx, region)
    if hidden is not None:
        return hidden
    phone_labels = params["phone_labels"]
    other_labels = params["other_labels"]
    for text in (ctx.masked_subject, ctx.masked_text):
        for cand in _phone_candidates(text):
            number = cand.group(0)
            digits = sum(map(str.isdigit, number))
            if digits < 7:
                continue
            if not _TRUNK.match(number) and _last_of(_label_before(text, cand.start()), phone_labels, True) < 0:
                continue  # no trunk prefix and no phone label: a date, an EAN, a tracking number
            # Order ids and bank or tax ids around the candidate are not phone numbers: blanked.
            line_start = text.rfind("\n", 0, cand.start()) + 1
            line_end = text.find("\n", cand.end())
            line = text[line_start: line_end if line_end >= 0 else len(text)]
            blanks = [(s - line_start, e - line_start)
                      for s, e in order_id_spans(text, cand.start(), cand.end())]
            blanks += [m.span() for m in _ACCOUNT_IDS.finditer(line)]
            blanks += [m.span() for m in _DATES.finditer(line)]
            blanks += [m.span() for m in _TIME_RANGES.finditer(line)]
            if blanks:
                chars = list(number)
                offset = cand.start() - line_start
                for s, e in blanks:
                    for i in range(max(s, offset), min(e, offset + len(chars))):
                        chars[i - offset] = " "
                number = "".join(chars)
                digits = sum(map(str.isdigit, number))
            if digits < 7 or digits > 15:
                continue
            for match_start, match_end, raw_string in _valid_numbers(number, region):
                start = cand.start() + match_start
                end = cand.start() + match_end
                label = _label_before(text, start)
                phone_at = _last_of(label, phone_labels, True)
                other_at = _last_of(label, other_labels, False)
                if other_at > phone_at or _names_an_id(label, params["id_words"], params["phone_heads"]):
                    continue
                if phone_at < 0 and not (_TRUNK.match(raw_string) and _PHONE_LIKE.search(raw_string)):
                    continue  # a bare digit run with no label: an id, not a phone number
                if _context_allows(text, start, end, params["allow_context"], params["window"]):
                    continue
                return raw_string
    return None


@functools.lru_cache(maxsize=4096)
def _valid_numbers(number: str, region: str) -> tuple[tuple[int, int, str], ...]:
    """(start, end, as written) of the valid phone numbers the phonenumbers library finds in a
    candidate. Its matcher is pure Python and costs ~0.1-0.2 ms a call; the same candidates (dates,
    prices, hotlines in footers) recur from message to message, so its answers are kept."""
    try:
        return tuple((m.start, m.end, str(m.raw_string))
                     for m in phonenumbers.PhoneNumberMatcher(number, region, leniency=phonenumbers.Leniency.VALID))
    except Exception:
        return ()
