"""HTML bodies read by a real parser (lexbor): text as a browser shows it, links, images, formatting,
with bounded work per message (issue 16: nesting, elements and size limits)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from itertools import islice
from urllib.parse import urlsplit

import regex
from selectolax.lexbor import LexborHTMLParser, LexborNode

from gateway.message.model import Image, Link, MessageContent
from gateway.message.quotes import ATTRIBUTION, from_amazon_side
from gateway.message.text import strip_invisible

# --------------------------------------------------------------------------------------------------
# HTML

_FORMATTING_TAGS = ("b", "strong", "i", "em", "u", "font", "mark", "big", "h1", "h2", "h3", "blink",
                    "marquee", "s", "strike")
_COLOR = re.compile(r"(?i)(?:^|;|\s)(?:background-)?colou?r\s*:\s*([^;]+)")
_FONT_SIZE = re.compile(r"(?i)font-size\s*:\s*([\d.]+)\s*(px|pt|em|rem)?")
_EMPHASIS = re.compile(r"font-weight\s*:\s*(?:bold|[6-9]00)|text-decoration\s*:\s*underline"
                          r"|font-style\s*:\s*italic|background(?:-color)?\s*:")
_QUOTE_SELECTORS = ("blockquote", ".gmail_quote", ".moz-cite-prefix", ".yahoo_quoted", "#divRplyFwdMsg",
                    "#appendonsend", ".OutlookMessageHeader")


_LEADING_INT = regex.compile(r"\s*(\d+)")


def _int_attr(value: str | None) -> int | None:
    if not value:
        return None
    digits = _LEADING_INT.match(value)
    return int(digits.group(1)) if digits else None


@functools.lru_cache(maxsize=16)
def _style_property(prop: str) -> regex.Pattern[str]:
    """(compiled once: the module-level regex functions look their pattern up on every call)"""
    return regex.compile(rf"(?i)(?:^|;|\s){prop}\s*:\s*(\d+)")


def _style_size(style: str, prop: str) -> int | None:
    m = _style_property(prop).search(style)
    return int(m.group(1)) if m else None


def host_of(url: str) -> str:
    try:
        parts = urlsplit(url if "//" in url[:12] else "http://" + url)
        return (parts.hostname or "").rstrip(".")
    except ValueError:
        return ""


def _image(src: str, style: str, width_attr: str | None, height_attr: str | None, node: LexborNode) -> Image:
    width = _int_attr(width_attr)
    height = _int_attr(height_attr)
    width = width if width is not None else _style_size(style, "width")
    height = height if height is not None else _style_size(style, "height")
    linked: str | None = None
    parent: LexborNode | None = node.parent
    depth = 0
    while parent is not None and depth < 6:
        if parent.tag == "a":
            linked = (parent.attributes.get("href") or "").strip() or None
            break
        parent = parent.parent
        depth += 1
    remote = src.lower().startswith(("http:", "https:", "//"))
    return Image(src=src, host=host_of(src) if remote else "", width=width, height=height, linked_to=linked)


_STYLE_BLOCK = re.compile(r"(?is)<style\b[^>]*>(.*?)</style>")
_CSS_URL = re.compile(r"""(?i)url\(\s*(?:&quot;|["']?)\s*((?:https?:)?//[^"')\s]+)""")


def _css_images(css: str, out: MessageContent) -> None:
    """Remote images a style loads (``background-image: url(...)``, also in ``<style>`` blocks):
    they report an opening as a tracking pixel does."""
    for m in _CSS_URL.finditer(css):
        src = strip_invisible(m.group(1).replace("&amp;", "&"))
        out.images.append(Image(src=src, host=host_of(src), width=None, height=None, linked_to=None))


def _read_style(style: str, out: MessageContent) -> int:
    """Emphasis count of one inline style, and its colours and font sizes."""
    if "url(" in style or "URL(" in style:
        _css_images(style, out)
    style = style.lower()
    if "color" in style:
        for m in _COLOR.finditer(style):
            out.html_colors.add(m.group(1).strip())
    if "font-size" in style:
        for m in _FONT_SIZE.finditer(style):
            number = m.group(1)
            size = float(number) if number.replace(".", "", 1).isdigit() else 0.0
            unit = (m.group(2) or "px").lower()
            px = size * (16 if unit in ("em", "rem") else 1.333 if unit == "pt" else 1)
            out.html_max_font_px = max(out.html_max_font_px, px)
    # Emphasis only: mail clients put font-family and font-size on every paragraph.
    return 1 if _EMPHASIS.search(style) else 0


# Elements that do not break a line: text on either side of them is one word when no space
# separates it ("Ra<b></b>batt" reads "Rabatt", as a browser shows it).
_INLINE_TAGS = frozenset({"b", "i", "u", "s", "em", "strong", "span", "font", "small", "big", "sup", "sub",
                          "mark", "abbr", "wbr", "ins", "del", "tt", "strike", "nobr", "q", "cite", "code",
                          "kbd", "samp", "var", "bdi", "bdo", "data", "time", "label"})
_HTML_QUERY = ", ".join(["a[href]", "area[href]", "form[action]", "img", "[background]", "[style]",
                         "font[color]", *sorted(set(_FORMATTING_TAGS) | _INLINE_TAGS)])


@dataclass(frozen=True, slots=True)
class HtmlLimits:
    """Bounded work per message: an order of magnitude above what real seller mail needs (ERP
    templates: up to a few hundred KB, a few thousand elements, nesting below 60). Past a limit
    the rest of the HTML is not read, and the message says so (``truncated``, a problem)."""

    max_chars: int = 3_000_000
    max_tags: int = 50_000
    max_depth: int = 400
    depth_scan_from: int = 2_000
    """Nesting is measured only in HTML with more tags than this (cheaper for ordinary mail)."""


HTML_LIMITS = HtmlLimits()
_TAG = regex.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^>]*?(/?)>")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr", "p", "li", "td", "tr", "th", "option", "dt", "dd"})
"""Void elements, and elements whose end tag the parser implies (they never nest unbounded)."""
# The tags that change the nesting depth: _TAG's matches other than void or self-closing ones ("/"
# for an end tag, "" for a start tag).
# (re, not regex: several times faster on this pattern.)
_NESTING = re.compile(r"(?i)<(/?)(?!(?:" + "|".join(sorted(_VOID)) + r")(?![A-Za-z0-9:-]))"
                      r"[A-Za-z][A-Za-z0-9:-]*(?:[^>]*?[^/>])?>")
_NESTING_STRICT = re.compile(r"(?i)<(/?)(?!(?:" + "|".join(sorted(_VOID)) + r")(?![A-Za-z0-9:-]))"
                             r"[A-Za-z][A-Za-z0-9:-]*[^>]*>")


def _bounded_html(html: str, out: MessageContent, limits: HtmlLimits, strict: bool = False) -> str:
    """The part of ``html`` within the limits; what is cut is recorded as a problem.

    ``strict``: count a self-closing ``<div/>`` as the open element the HTML parser makes of it
    (outside SVG and MathML the slash means nothing), so that a flood of them is cut too; this
    over-counts real mail's empty ``<div/>``s, so it is for readers that lose nothing by reading
    less (reports), not for the policy's reading."""
    if len(html) > limits.max_chars:
        html = html[: limits.max_chars]
        out.problems.append(f"HTML longer than {limits.max_chars} characters: the rest was not read")
        out.truncated = True
    tags = html.count("<")
    if tags <= limits.depth_scan_from:
        return html
    # Where reading stops: at the first tag past max_tags, or at the first opening tag past
    # max_depth, whichever comes first. Both found by regular expressions scanning at C speed; only
    # the running depth is a Python loop, over the nesting tags alone.
    too_many = next(islice(_TAG.finditer(html), limits.max_tags, None), None) if tags > limits.max_tags else None
    too_deep: int | None = None
    depth = 0
    nesting = _NESTING_STRICT if strict else _NESTING
    for index, slash in enumerate(nesting.findall(html, 0, too_many.start() if too_many else len(html))):
        if slash:
            depth = depth - 1 if depth else 0
            continue
        depth += 1
        if depth > limits.max_depth:
            too_deep = index
            break
    if too_deep is not None:
        m = next(islice(nesting.finditer(html), too_deep, None))
        out.problems.append(f"HTML nested deeper than {limits.max_depth} elements: the rest was not read")
        out.truncated = True
        return html[: m.start()]
    if too_many is not None:
        out.problems.append(f"HTML with more than {limits.max_tags} elements: the rest was not read")
        out.truncated = True
        return html[: too_many.start()]
    return html


def _glued(node: LexborNode) -> bool:
    """An inline element with no white space between it and the text before or after it."""
    prev, nxt = node.prev, node.next
    before = (prev.text_content or "") if prev is not None and prev.tag == "-text" else ""
    after = (nxt.text_content or "") if nxt is not None and nxt.tag == "-text" else ""
    if not before and not after:
        return False
    inner = node.text(deep=True)
    if not inner:
        return bool(before and after) and not before[-1].isspace() and not after[0].isspace()
    return ((bool(before) and not before[-1].isspace() and not inner[0].isspace())
            or (bool(after) and not after[0].isspace() and not inner[-1].isspace()))


def read_html(html: str, out: MessageContent, limits: HtmlLimits = HTML_LIMITS) -> None:
    """Text, links, images and formatting of an HTML body, in one pass over the parsed tree."""
    html = _bounded_html(html, out, limits)
    if "url(" in html:  # CSS in <style> blocks, stripped below with the other non-text elements
        for block in _STYLE_BLOCK.finditer(html):
            _css_images(block.group(1), out)
    tree = LexborHTMLParser(html)
    tree.strip_tags(["script", "style", "head", "title", "template", "noscript"])
    formatting = 0
    glued: list[LexborNode] = []
    for node in tree.css(_HTML_QUERY):
        tag = node.tag or ""
        attrs = node.attributes
        if tag in _INLINE_TAGS and _glued(node):
            glued.append(node)
        if tag in ("a", "area"):
            href = (attrs.get("href") or "").strip()
            if href.lower().startswith(("mailto:", "tel:")):
                # Contact data behind a link ("Schreiben Sie uns"): read by the contact checks.
                out.contact_links.append(strip_invisible(href))
            elif href and not href.startswith("#"):
                url = strip_invisible(href)
                out.links.append(Link(url=url, host=host_of(url), source="href",
                                      label=node.text(deep=True, separator=" ", strip=True)[:200]))
        elif tag == "form":
            url = strip_invisible(attrs.get("action") or "")
            if url:
                out.links.append(Link(url=url, host=host_of(url), source="href"))
        elif tag == "img":
            src = strip_invisible((attrs.get("src") or "").strip())
            out.images.append(_image(src, attrs.get("style") or "", attrs.get("width"), attrs.get("height"),
                                     node))
        elif tag in _FORMATTING_TAGS:
            formatting += 1
        if tag == "font" and attrs.get("color"):
            out.html_colors.add((attrs.get("color") or "").strip().lower())
        background = attrs.get("background")
        if background and background.lower().startswith(("http:", "https:", "//")):
            # Background images load remotely as well.
            out.images.append(Image(src=background, host=host_of(background), width=None, height=None,
                                    linked_to=None))
        style = attrs.get("style")
        if style:
            formatting += _read_style(style, out)
    out.html_formatting += formatting
    if glued:
        for node in glued:
            if node.text(deep=True):
                node.unwrap()
            else:
                node.decompose()
        tree.merge_text_nodes()
    body = tree.body or tree.root
    text = body.text(deep=True, separator="\n", strip=False) if body is not None else ""
    out.html_text = (out.html_text + "\n\n" + text) if out.html_text else text
    # The same document without quoted material, for replies.
    quoted = tree.css(", ".join(_QUOTE_SELECTORS))
    doomed: dict[int, LexborNode] = {}
    if quoted:
        for node in quoted:
            # Only the buyer's quoted message is exempt: its container or the attribution just
            # before it names Amazon's side ("... schrieb <alias@marketplace.amazon.de>:").
            prev = node.prev
            while prev is not None and prev.tag == "-text" and not (prev.text_content or "").strip():
                prev = prev.prev
            attribution = prev.text(deep=True).strip() if prev is not None else ""
            if len(attribution) > 400 or not ATTRIBUTION.search(attribution):
                attribution = ""
            if not from_amazon_side(node.text(deep=True)[:600] + " " + attribution):
                continue
            doomed[node.mem_id] = node
            if node.id in ("divRplyFwdMsg", "appendonsend"):  # Outlook: the quote follows the header
                sibling = node.next
                while sibling is not None:
                    doomed[sibling.mem_id] = sibling
                    sibling = sibling.next
        # Remove each subtree once: a node inside another doomed node goes with it.
        for node in list(doomed.values()):
            parent = node.parent
            while parent is not None and parent.mem_id not in doomed:
                parent = parent.parent
            if parent is None:
                node.decompose()
    own = (body.text(deep=True, separator="\n", strip=False) if body is not None and doomed else text)
    out.html_own_text = (out.html_own_text + "\n\n" + own) if out.html_own_text else own


# Where a line ends in a report's HTML: before a line break and before the end tag of a block (what
# a browser shows on a line of its own). A line break is put into the source there, so the parsed
# text carries it without a walk over the element tree.
_NOT_TEXT = ("script", "style", "head", "title", "template", "noscript")
_LINE_END = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h\d|/table|/ul|/ol|/blockquote|/pre|hr)\b", re.I)


def _break_before(match: re.Match[str]) -> str:
    return "\n" + match.group()


def html_lines(html: str, out: MessageContent, limits: HtmlLimits = HTML_LIMITS) -> str:
    """The text of an HTML body with a line break after every block and line-break element and none
    between inline ones (what a reader of machine-written reports splits into lines), within the
    same limits as ``read_html``; scripts, styles and the head are not text."""
    html = _bounded_html(html, out, limits, strict=True)
    lowered = html.lower()
    # (a function as the replacement: several times cheaper than a "\g<0>" template per match)
    tree = LexborHTMLParser(_LINE_END.sub(_break_before, html))
    # strip_tags costs a tree query per name: only for the elements the source has.
    present = [tag for tag in _NOT_TEXT if f"<{tag}" in lowered]
    if present:
        tree.strip_tags(present)
    body = tree.body or tree.root
    return body.text(deep=True, separator="", strip=False) if body is not None else ""


def bounded_html(html: str, out: MessageContent, limits: HtmlLimits = HTML_LIMITS) -> str:
    """The part of ``html`` a reader that loses nothing by reading less (a report, the review preview)
    reads: within ``limits``, a self-closing ``<div/>`` counted as open (see ``_bounded_html``); what
    is cut is recorded on ``out``."""
    return _bounded_html(html, out, limits, strict=True)
