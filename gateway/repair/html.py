"""The HTML repair: elements found with their offsets in the source, and only the removed tags cut
out, so the rest of the markup stays the seller's own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import regex

from gateway.message.patterns import EMAIL_ADDRESS
from gateway.repair.model import (
    EMOJI,
    FOOTER,
    LINKED_LOGO,
    REMOTE_IMAGE,
    SIGNATURE_CONTACT,
    TRACKING_PIXEL,
    Removal,
    RepairOptions,
)
from gateway.repair.signs import FOOTER_WORDS, SOCIAL, URLISH, allowed_host, strip_emoji, url_host

_CONTACT_LABEL = regex.compile(
    r"(?i)(?:^|(?<=[\s|•·/]))(?:web(?:site|seite)?|www|internet|homepage|online-?shop|shop|site|sito|"
    r"sitio|e-?mail|mail|courriel|correo|posta)\s*[:：]\s*$")
_LEGAL = regex.compile(r"(?i)\b(?:gmbh|ug|ag|kg|e\.k\.|hrb|hra|handelsregister|amtsgericht|ust-?id|"
                       r"steuernummer|geschäftsführer|ltd|limited|company no|vat|sarl|sas|siret|rcs|s\.r\.l\.|"
                       r"p\.\s?iva|s\.l\.|cif|nif|b\.v\.|kvk|sp\. z o\.o\.|nip|ab|org\.?nr|inc|llc)\b")
_BLOCKS = frozenset({"p", "div", "td", "th", "tr", "li", "table", "tbody", "section", "footer", "center", "h1",
                     "h2", "h3", "h4", "h5", "h6", "blockquote"})
_BR_AFTER = re.compile(r"[ \t]*<br\s*/?>[ \t]*(?:\r?\n)?", re.I)
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"})


@dataclass(slots=True)
class _Element:
    tag: str
    attrs: dict[str, str]
    start: int
    open_end: int
    end: int = -1
    """End of the closing tag; -1 while open (or never closed)."""
    close_start: int = -1
    children: list[_Element] = field(default_factory=list)
    parent: _Element | None = None


class _Scanner(HTMLParser):
    """Elements with the character offsets of their tags in the source."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=False)
        self.html = html
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", html)]
        self.root = _Element("#root", {}, 0, 0, len(html))
        self._open: list[_Element] = [self.root]
        self.elements: list[_Element] = []
        self.feed(html)
        self.close()

    def _offset(self) -> int:
        line, col = self.getpos()
        return self._line_starts[line - 1] + col

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._offset()
        text = self.get_starttag_text() or ""
        el = _Element(tag, {k: v or "" for k, v in attrs}, start, start + len(text), parent=self._open[-1])
        self._open[-1].children.append(el)
        self.elements.append(el)
        if tag in _VOID:
            el.end = el.close_start = el.open_end
        else:
            self._open.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self._open[-1].tag == tag:
            el = self._open.pop()
            el.end = el.close_start = el.open_end

    def handle_endtag(self, tag: str) -> None:
        start = self._offset()
        close = self.html.find(">", start)
        end = len(self.html) if close < 0 else close + 1
        for i in range(len(self._open) - 1, 0, -1):
            if self._open[i].tag == tag:
                for el in self._open[i:]:
                    if el.end < 0:
                        el.close_start, el.end = (start, end) if el is self._open[i] else (start, start)
                del self._open[i:]
                return


def _remote(src: str) -> bool:
    return src.strip().lower().startswith(("http://", "https://", "//"))


def _px(value: str | None) -> int | None:
    m = re.match(r"\s*(\d+)", value or "")
    return int(m.group(1)) if m else None


def _style_px(style: str, prop: str) -> int | None:
    m = re.search(rf"(?i)(?:^|;)\s*{prop}\s*:\s*(\d+)", style)
    return int(m.group(1)) if m else None


def _text_of(html: str, el: _Element) -> str:
    inner = html[el.open_end:el.close_start if el.close_start >= 0 else len(html)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", inner)).strip()


def _is_tracking(img: _Element, options: RepairOptions) -> bool:
    src = img.attrs.get("src", "")
    style = img.attrs.get("style", "")
    sizes = [_px(img.attrs.get("width")), _px(img.attrs.get("height")),
             _style_px(style, "width"), _style_px(style, "height")]
    tiny = any(s is not None and s <= options.max_pixels for s in sizes)
    return _remote(src) and (tiny or "?" in src)


def _footer_link(a: _Element, html: str) -> bool:
    href = a.attrs.get("href", "")
    host = url_host(href)
    if any(host == s or host.endswith("." + s) for s in SOCIAL):
        return True
    return bool(FOOTER_WORDS.search(href) or FOOTER_WORDS.search(_text_of(html, a)))


def _block_of(el: _Element) -> _Element | None:
    node = el.parent
    while node is not None and node.tag != "#root":
        if node.tag in _BLOCKS:
            return node
        node = node.parent
    return None


def repair_html(html: str, options: RepairOptions, where: str, found: list[Removal]) -> str:
    scan = _Scanner(html)
    cuts: list[tuple[int, int]] = []
    kinds = options.kinds
    for el in scan.elements:
        if el.tag == "img":
            src = el.attrs.get("src", "")
            if TRACKING_PIXEL in kinds and _is_tracking(el, options):
                cuts.append((el.start, el.end))
                found.append(Removal(TRACKING_PIXEL, src[:200], where))
            elif (REMOTE_IMAGE in kinds and _remote(src) and not allowed_host(url_host(src), options.allow_domains)
                  and not _is_tracking(el, options)):
                cuts.append((el.start, el.end))
                found.append(Removal(REMOTE_IMAGE, src[:200], where))
        elif el.tag == "a" and el.end >= 0:
            href = el.attrs.get("href", "")
            external = _remote(href) and not allowed_host(url_host(href), options.allow_domains)
            if FOOTER in kinds and (external or href.lower().startswith("mailto:")) and _footer_link(el, html):
                block = _block_of(el)
                if block is not None and block.end >= 0 and len(_text_of(html, block)) <= 240:
                    if (block.start, block.end) in cuts:
                        continue  # the footer's other links went with it
                    cuts.append((block.start, block.end))
                    found.append(Removal(FOOTER, _text_of(html, block)[:200] or href[:200], where))
                else:
                    cuts.append((el.start, el.end))
                    found.append(Removal(FOOTER, _text_of(html, el)[:200] or href[:200], where))
            elif LINKED_LOGO in kinds and external and any(c.tag == "img" for c in _descendants(el)):
                # Unwrap: the link goes, the (inline) logo stays.
                cuts.append((el.start, el.open_end))
                cuts.append((el.close_start, el.end))
                found.append(Removal(LINKED_LOGO, href[:200], where))
            elif SIGNATURE_CONTACT in kinds and _signature_link(el, href, html, options):
                start = _label_start(html, el.start)
                br = _BR_AFTER.match(html, el.end)
                cuts.append((start, br.end() if br else el.end))
                found.append(Removal(SIGNATURE_CONTACT, (html[start:el.start] + _text_of(html, el))[:200], where))
    text = _cut(html, cuts)
    if EMOJI in kinds:
        text = _strip_emoji_outside_tags(text, where, found)
    return text


def _descendants(el: _Element) -> Iterator[_Element]:
    for child in el.children:
        yield child
        yield from _descendants(child)


def _signature_link(a: _Element, href: str, html: str, options: RepairOptions) -> bool:
    """A website or e-mail line of the signature: a link that shows its own address and stands under a
    contact label (``Web:``), beside the company's legal details, or in the message's last part."""
    lowered = href.lower()
    if lowered.startswith("mailto:"):
        target = EMAIL_ADDRESS.search(lowered)
        if target is None or "marketplace.amazon." in target.group(0):
            return False
    elif not _remote(href) or allowed_host(url_host(href), options.allow_domains):
        return False
    shown = _text_of(html, a).strip()
    if not (URLISH.match(shown) or EMAIL_ADDRESS.fullmatch(shown)):
        return False  # "hier in unserem Shop": a link in the message's own words is content
    if _label_start(html, a.start) < a.start:
        return True
    block = _block_of(a)
    if block is not None and _LEGAL.search(_text_of(html, block)):
        return True
    return a.start >= len(html) * 0.6


def _label_start(html: str, pos: int) -> int:
    """Where a label such as ``Web:`` or ``E-Mail:`` right before ``pos`` begins (else ``pos``)."""
    window_start = max(0, pos - 40)
    before = html[window_start:pos]
    tag_end = before.rfind(">")
    segment_start = window_start + tag_end + 1 if tag_end >= 0 else window_start
    segment = html[segment_start:pos]
    m = _CONTACT_LABEL.search(segment)
    return segment_start + m.start() if m else pos


def _cut(text: str, cuts: list[tuple[int, int]]) -> str:
    if not cuts:
        return text
    merged: list[list[int]] = []
    for s, e in sorted(cuts):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out, pos = [], 0
    for s, e in merged:
        out.append(text[pos:s])
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _strip_emoji_outside_tags(html: str, where: str, found: list[Removal]) -> str:
    pieces = re.split(r"(<[^>]*>)", html)
    removed: list[str] = []
    for i in range(0, len(pieces), 2):
        pieces[i] = strip_emoji(pieces[i], removed)
    if removed:
        found.append(Removal(EMOJI, " ".join(removed)[:200], where))
    return "".join(pieces)


