"""A held message as the reviewer needs to see it: decoded text, the buyer's HTML made safe, parts.

Everything here is CPU work on untrusted bytes: callers run it in a worker thread.

- ``preview``: the headers (decoded), the text of every text part (HTML reduced to text that keeps
  link targets and image sources, so a remote-image or link hit is visible), and the part list; all
  read by the one message reader (``gateway.message.display``), so the reviewer sees the text the
  rules judged.
- ``sanitised_html``: the HTML body as the buyer's mail program would show it, cleaned by
  ammonia (nh3): no scripts, no event handlers, no forms; remote images replaced by a marker,
  links disarmed. The admin pages show it in a sandboxed frame under a CSP that loads nothing.
- ``highlight``: marks rule evidence in text. Phrase rules record evidence as normalised
  snippets (``gateway.policy.content.normalize``: case, look-alike letters, punctuation folded),
  so the text is folded the same way, character by character, and matches are mapped back onto
  the original characters.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import nh3
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from gateway.message import decode_header_value, normalize, read_headers, strip_invisible
from gateway.message.display import LeafPart, html_as_text, html_body, leaf_parts
from gateway.store.base import QuarantineRecord

PREVIEW_LIMIT = 200_000
HTML_LIMIT = 2_000_000

_SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID")

html_to_text = html_as_text
"""An HTML body as text with link targets and image sources written out (``gateway.message.display``)."""


@dataclass(frozen=True)
class TextSection:
    label: str
    """``text/plain`` or ``text/html (as text)``."""
    text: str


@dataclass
class Preview:
    headers: list[tuple[str, str]]
    text: str
    """The first text section's text (the API's ``preview.text``)."""
    source: str
    """Which part ``text`` came from: ``text/plain``, ``text/html (as text)`` or ``none``."""
    parts: list[dict[str, Any]] = field(default_factory=list)
    sections: list[TextSection] = field(default_factory=list)
    has_html: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"headers": [list(h) for h in self.headers], "text": self.text, "source": self.source,
                "parts": self.parts, "sections": [{"label": s.label, "text": s.text} for s in self.sections],
                "has_html": self.has_html}


def _listed(part: LeafPart) -> dict[str, Any]:
    return {"index": part.index, "content_type": part.content_type, "filename": part.filename,
            "size": len(part.data), "disposition": part.disposition}


def preview(data: bytes) -> Preview:
    """Headers, every text part's decoded text, and the part list; nothing remote, nothing run."""
    head = read_headers(data)
    headers = [(name, decode_header_value(head.get(name))) for name in _SHOWN_HEADERS if name in head]
    parts = leaf_parts(data)
    sections: list[TextSection] = []
    has_html = False
    budget = PREVIEW_LIMIT
    for part in parts:
        if not part.is_body_text or budget <= 0:
            continue
        if part.content_type == "text/html":
            has_html = True
            text, label = html_as_text(part.text()[:HTML_LIMIT]), "text/html (as text)"
        else:
            text, label = part.text(), "text/plain"
        if len(text) > budget:
            text = text[:budget] + "\n[... truncated]"
        budget -= len(text)
        sections.append(TextSection(label, text))
    first = sections[0] if sections else TextSection("none", "")
    return Preview(headers, first.text, first.label, [_listed(p) for p in parts], sections, has_html)


def part_payload(data: bytes, index: int) -> tuple[str, bytes] | None:
    """(file name, decoded bytes) of leaf part ``index``, or None when there is no such part."""
    parts = leaf_parts(data)
    if not 0 <= index < len(parts):
        return None
    part = parts[index]
    return part.filename or f"part-{index}", part.data


# -- the buyer's view -------------------------------------------------------------------------------

_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup", "dd", "del",
         "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li",
         "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody",
         "td", "tfoot", "th", "thead", "tr", "u", "ul"}
_ATTRIBUTES = {
    "*": {"style", "title", "align", "dir", "lang"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "width", "valign", "bgcolor"},
    "th": {"colspan", "rowspan", "width", "valign", "bgcolor"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor"},
    "font": {"color", "face", "size"},
    "col": {"span", "width"},
}
_STYLE_PROPERTIES = {
    "background-color", "border", "border-bottom", "border-collapse", "border-color", "border-left",
    "border-radius", "border-right", "border-style", "border-top", "border-width", "color", "display",
    "font", "font-family", "font-size", "font-style", "font-weight", "height", "letter-spacing",
    "line-height", "margin", "margin-bottom", "margin-left", "margin-right", "margin-top", "max-width",
    "min-width", "padding", "padding-bottom", "padding-left", "padding-right", "padding-top",
    "text-align", "text-decoration", "text-transform", "vertical-align", "white-space", "width",
}


@dataclass
class BuyerView:
    html: str
    blocked: list[str]
    """What was not loaded: remote image sources."""
    links: list[str]
    """Link targets, disarmed in the view (listed for the reviewer)."""


def _remote(url: str) -> str | None:
    """The host a URL would fetch from, or None when it fetches nothing from the network."""
    stripped = url.strip()
    if stripped.lower().startswith(("data:", "cid:")):
        return None
    parts = urlsplit(stripped if "//" in stripped else f"//{stripped}")
    return parts.hostname or stripped[:80] or "?"


def sanitised_html(data: bytes) -> BuyerView | None:
    """The first HTML body of the message, safe to show in a sandboxed frame; None without one."""
    body = html_body(data)
    if body is None:
        return None
    tree = HTMLParser(body.text()[:HTML_LIMIT])
    blocked: list[str] = []
    links: list[str] = []
    for img in tree.css("img"):
        src = img.attributes.get("src") or ""
        host = _remote(src)
        if host is not None:
            blocked.append(src)
            img.replace_with(f"[remote image blocked: {host}]")
        elif src.lower().startswith("cid:"):
            img.replace_with("[embedded image]")
    for anchor in tree.css("a"):
        href = anchor.attributes.get("href")
        if href:
            links.append(href)
            anchor.attrs["title"] = f"link: {href[:300]}"
            del anchor.attrs["href"]
    markup = tree.html or ""
    clean = nh3.clean(markup, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"data"},
                      filter_style_properties=_STYLE_PROPERTIES, strip_comments=True, link_rel=None)
    return BuyerView(clean, blocked, links)


# -- evidence ----------------------------------------------------------------------------------------

def evidence_of(record: QuarantineRecord) -> list[str]:
    hits = record.verdict.get("hits", [])
    return [str(h.get("evidence")) for h in hits if isinstance(h, dict) and h.get("evidence")]


@functools.lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    """One character as phrase matching sees it; empty for a word gap (space, punctuation)."""
    return normalize(ch).strip()


def _folded(text: str) -> tuple[str, list[int]]:
    """``text`` folded as ``normalize`` folds it, and for each folded character its index in ``text``."""
    out: list[str] = []
    origin: list[int] = []
    gap = True
    for i, ch in enumerate(text):
        folded = _fold(ch)
        if not folded:
            if not gap and strip_invisible(ch):  # invisible characters join, others separate words
                out.append(" ")
                origin.append(i)
                gap = True
            continue
        for f in folded:
            out.append(f)
            origin.append(i)
        gap = False
    return "".join(out), origin


def _needles(evidence: list[str]) -> list[str]:
    out: list[str] = []
    for item in evidence:
        out.append(item)
        # "image -> link target" (linked images): each side stands in the text on its own.
        out += [side for side in item.split(" -> ") if side != item]
    return [n for n in dict.fromkeys(out) if n.strip()]


def evidence_spans(text: str, evidence: list[str]) -> list[tuple[int, int]]:
    """Where the evidence stands in ``text`` (merged, sorted spans), literal or after folding."""
    spans: list[tuple[int, int]] = []
    needles = _needles(evidence)
    if not needles or not text:
        return []
    literal = re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)), re.IGNORECASE)
    spans += [(m.start(), m.end()) for m in literal.finditer(text) if m.end() > m.start()]
    folded, origin = _folded(text)
    for needle in needles:
        target = normalize(needle).strip()
        if not target:
            continue
        start = folded.find(target)
        while start != -1:
            end = start + len(target)
            spans.append((origin[start], origin[end - 1] + 1))
            start = folded.find(target, end)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, needles: list[str]) -> list[tuple[str, bool]]:
    """Split ``text`` into (segment, is_evidence) pieces."""
    spans = evidence_spans(text, needles)
    if not spans:
        return [(text, False)] if text else []
    out: list[tuple[str, bool]] = []
    pos = 0
    for start, end in spans:
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return out
