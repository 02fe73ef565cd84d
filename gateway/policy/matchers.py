"""How rules look at a message: phrase lists (one Aho-Corasick pass for all rules, see
``gateway.policy.phrases``), phrases near each other, a message that says nothing but given
phrases, regular expressions, and named built-in checks for what is not text (links, images,
attachments, state: ``gateway.policy.checks``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import regex

from gateway.policy.checks import CHECKS
from gateway.policy.checks.links import domain_allowed
from gateway.policy.content import normalize
from gateway.policy.context import Context
from gateway.policy.document import Document
from gateway.policy.loader import Matcher
from gateway.policy.phrases import Key, Phrase, PhraseIndex

__all__ = ["Document", "Phrase", "PhraseIndex", "content_only", "domain_allowed", "near_pair", "run_matcher"]


def run_matcher(key: tuple[int, int], m: Matcher, ctx: Context) -> str | None:
    """The evidence (a snippet) when matcher ``m`` of a rule or purpose (``key``: its place in the
    phrase index) hits the message, else None."""
    mtype = m.type
    if mtype == "phrases" or mtype == "near":
        occ = ctx.occurrences
        first = occ.get((key[0], key[1], 0))
        if not first:
            return None  # (most lists: decided before the exceptions and zones are looked up)
        doc = ctx.doc
        unless = occ.get((key[0], key[1], 2), [])
        if mtype == "phrases":
            for start, end in _allowed(first, m, doc, unless):
                return f'"{doc.text[start:end]}" in {doc.snippet(start, end)}'
            return None
        first = list(_allowed(first, m, doc, unless))
        if not first:
            return None
        second = list(_allowed(occ.get((key[0], key[1], 1), []), m, doc, unless))
        pair = near_pair(first, second, m.within, doc.subject_end)
        return doc.snippet(*pair, 20) if pair else None
    if mtype == "only":
        return content_only(ctx, {(key[0], key[1], 1)}, {(key[0], key[1], 0)}, (key[0], key[1], 2), m.min_words)
    if mtype == "regex":
        targets = {"subject": (ctx.subject,), "body": (ctx.own_text,), "all": (ctx.subject, ctx.own_text)}
        for text in targets[m.zone]:
            for pattern in m.patterns:
                found = pattern.search(text, timeout=1.0)
                if found:
                    return found.group(0)[:200]
        return None
    return CHECKS[m.check].fn(ctx, m.params)


def _allowed(spans: list[tuple[int, int]], m: Matcher, doc: Document,
             unless: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The spans in the matcher's zone, not inside one of its ``unless`` phrases and (unless it
    reads them) not on an order-table line; lazily, so a phrase list stops at its first."""
    zone = m.zone
    in_subject = zone == "subject"
    subject_end = doc.subject_end
    item_lines = m.item_lines
    for s, e in spans:
        if zone != "all" and (s < subject_end) != in_subject:
            continue  # Document.in_zone
        if unless and any(us <= s < ue or us < e <= ue for us, ue in unless):
            continue
        if not item_lines and doc.in_item_line(s, e):
            continue  # a product name on an order line, not the seller's words
        yield s, e


def near_pair(first: list[tuple[int, int]], second: list[tuple[int, int]], within: int,
              subject_end: int) -> tuple[int, int] | None:
    """The span covering the first pair (one occurrence from each list, same zone) whose gap is at
    most ``within`` characters; bisection keeps this fast when both words are frequent."""
    if not second:
        return None
    ordered = sorted(second)
    starts = [s for s, _ in ordered]
    longest = max(e - s for s, e in ordered)
    for s1, e1 in first:
        i = bisect.bisect_left(starts, s1 - within - longest)
        while i < len(ordered) and ordered[i][0] <= e1 + within:
            s2, e2 = ordered[i]
            i += 1
            if (s1 < subject_end) != (s2 < subject_end):
                continue
            gap = s2 - e1 if s2 >= e1 else s1 - e2
            if gap <= within:
                return min(s1, s2), max(e1, e2)
    return None


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
