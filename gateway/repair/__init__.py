"""Repair instead of refuse: remove the elements of a message that only its template got wrong.

A seller's ERP template with a tracking pixel, a linked shop logo, a newsletter footer, a website line
in the signature or an emoji gets every Amazon message refused, and the seller seldom has someone who
can edit the template. These elements carry no content the buyer needs, so the gateway can take them
out and relay the rest. Content violations (promotion, review pressure, off-Amazon contact in the
message's own words) are never repaired here: the rule packs decide which rules may ``strip``.

The edit is surgery on the bytes: only the text/plain and text/html parts that change are decoded,
edited and encoded again with their own charset and transfer encoding; every other byte (other
headers, attachments, boundaries) stays as it was. Inside HTML only the removed tags are cut out,
so the rest of the markup is the seller's own. A header ``X-Gateway-Repaired`` names what was done.

Modules: ``model`` (the kinds, results and options), ``parts`` (text leaves as byte offsets, decoded
and encoded again), ``html`` and ``plain`` (the two repairs), ``signs`` (what both recognise).
"""

from __future__ import annotations

import re

from gateway.message.mime import header_end, parse_headers, replace_subject
from gateway.message.text import decode_header_value
from gateway.repair.html import repair_html
from gateway.repair.model import (
    EMOJI,
    FOOTER,
    KINDS,
    LINKED_LOGO,
    REMOTE_IMAGE,
    REPAIRED_HEADER,
    SIGNATURE_CONTACT,
    TRACKING_PIXEL,
    Removal,
    Repaired,
    RepairOptions,
    kinds_of,
)
from gateway.repair.parts import decode_body, encode_body, text_leaves
from gateway.repair.plain import repair_plain
from gateway.repair.signs import strip_emoji

__all__ = ["EMOJI", "FOOTER", "KINDS", "LINKED_LOGO", "REMOTE_IMAGE", "REPAIRED_HEADER", "SIGNATURE_CONTACT",
           "TRACKING_PIXEL", "Removal", "RepairOptions", "Repaired", "kinds_of", "repair"]


def repair(raw: bytes, options: RepairOptions) -> Repaired:
    """``raw`` with what ``options.kinds`` names removed; the input itself when nothing was."""
    if not options.kinds:
        return Repaired(raw)
    removals: list[Removal] = []
    edits: list[tuple[int, int, bytes]] = []
    for leaf in text_leaves(raw):
        text = decode_body(raw[leaf.start:leaf.end], leaf.cte, leaf.charset)
        if text is None:
            continue
        where = f"{leaf.ctype} (part {leaf.path})"
        found: list[Removal] = []
        if leaf.ctype == "text/html":
            edited = repair_html(text, options, where, found)
        else:
            edited = repair_plain(text, options, where, found)
        if edited != text and found:
            body = encode_body(edited, leaf.cte, leaf.charset, leaf.eol)
            if body is not None:
                edits.append((leaf.start, leaf.end, body))
                removals.extend(found)
    out = raw
    for start, end, body in sorted(edits, reverse=True):
        out = out[:start] + body + out[end:]
    if EMOJI in options.kinds:
        out = _repair_subject(out, removals)
    if not removals:
        return Repaired(raw)
    kinds = ", ".join(dict.fromkeys(r.kind for r in removals))
    return Repaired(_add_header(out, REPAIRED_HEADER, kinds), tuple(removals))


# -- headers --------------------------------------------------------------------------------------

def _repair_subject(raw: bytes, removals: list[Removal]) -> bytes:
    found = header_end(raw)
    subject = parse_headers(raw[:found[0]] if found else raw).get("Subject")
    if subject is None:
        return raw
    decoded = decode_header_value(subject)
    removed: list[str] = []
    cleaned = re.sub(r"\s{2,}", " ", strip_emoji(decoded, removed)).strip()
    if not removed:
        return raw
    removals.append(Removal(EMOJI, " ".join(removed)[:200], "subject"))
    return replace_subject(raw, cleaned)


def _add_header(raw: bytes, name: str, value: str) -> bytes:
    eol = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    return f"{name}: {value}".encode("ascii", "replace") + eol + raw

