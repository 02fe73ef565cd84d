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
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from urllib.parse import urlsplit

import regex

from gateway.message.mime import header_end, parse_headers, replace_subject
from gateway.message.patterns import EMAIL_ADDRESS, EMOJI_SEQUENCE
from gateway.message.text import decode_header_value

# What a rule's `strip` action may remove; the rule packs map their rules onto these.
TRACKING_PIXEL = "tracking-pixel"
REMOTE_IMAGE = "remote-image"
LINKED_LOGO = "linked-logo"
FOOTER = "newsletter-footer"
SIGNATURE_CONTACT = "signature-contact"
EMOJI = "emoji"
KINDS: tuple[str, ...] = (TRACKING_PIXEL, REMOTE_IMAGE, LINKED_LOGO, FOOTER, SIGNATURE_CONTACT, EMOJI)

REPAIRED_HEADER = "X-Gateway-Repaired"

_SOCIAL = ("facebook.com", "fb.com", "instagram.com", "twitter.com", "x.com", "tiktok.com", "youtube.com",
           "pinterest.com", "pinterest.de", "linkedin.com", "xing.com", "threads.net", "wa.me", "t.me")
_FOOTER_WORDS = regex.compile(
    r"(?i)unsubscribe|newsletter|abmelden|abbestellen|désabonner|désinscri|disiscri|darse de baja|"
    r"darte de baja|uitschrijven|afmelden|wypisz|avregistrera|avsluta prenumeration|配信停止|購読解除|"
    r"folge[nt]? uns|follow us|suivez-nous|seguici|síguenos|volg ons|obserwuj nas|följ oss")
_CONTACT_LABEL = regex.compile(
    r"(?i)(?:^|(?<=[\s|•·/]))(?:web(?:site|seite)?|www|internet|homepage|online-?shop|shop|site|sito|"
    r"sitio|e-?mail|mail|courriel|correo|posta)\s*[:：]\s*$")
_URLISH = regex.compile(r"(?i)\b(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:de|com|co\.uk|fr|it|es|"
                        r"nl|pl|se|eu|shop|store|net|org|at|ch|be|jp|com\.tr|com\.br)\b(?:/\S*)?")
_LEGAL = regex.compile(r"(?i)\b(?:gmbh|ug|ag|kg|e\.k\.|hrb|hra|handelsregister|amtsgericht|ust-?id|"
                       r"steuernummer|geschäftsführer|ltd|limited|company no|vat|sarl|sas|siret|rcs|s\.r\.l\.|"
                       r"p\.\s?iva|s\.l\.|cif|nif|b\.v\.|kvk|sp\. z o\.o\.|nip|ab|org\.?nr|inc|llc)\b")
_SIG_DELIMITER = regex.compile(r"(?m)^-- ?$|^_{5,}\s*$|^-{5,}\s*$")
_BLOCKS = frozenset({"p", "div", "td", "th", "tr", "li", "table", "tbody", "section", "footer", "center", "h1",
                     "h2", "h3", "h4", "h5", "h6", "blockquote"})
_BR_AFTER = re.compile(r"[ \t]*<br\s*/?>[ \t]*(?:\r?\n)?", re.I)
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"})


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


def repair(raw: bytes, options: RepairOptions) -> Repaired:
    """``raw`` with what ``options.kinds`` names removed; the input itself when nothing was."""
    if not options.kinds:
        return Repaired(raw)
    removals: list[Removal] = []
    edits: list[tuple[int, int, bytes]] = []
    for leaf in _leaves(raw):
        text = _decode(raw[leaf.start:leaf.end], leaf.cte, leaf.charset)
        if text is None:
            continue
        where = f"{leaf.ctype} (part {leaf.path})"
        found: list[Removal] = []
        if leaf.ctype == "text/html":
            edited = _repair_html(text, options, where, found)
        else:
            edited = _repair_plain(text, options, where, found)
        if edited != text and found:
            body = _encode(edited, leaf.cte, leaf.charset, leaf.eol)
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


# -- MIME structure, as byte offsets --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Leaf:
    path: str
    ctype: str
    charset: str
    cte: str
    start: int
    end: int
    eol: bytes


def _leaves(raw: bytes, start: int = 0, end: int | None = None, path: str = "1",
            depth: int = 0) -> Iterator[_Leaf]:
    """The text leaves (not attachments) of the entity ``raw[start:end]``, with their body offsets."""
    end = len(raw) if end is None else end
    found = header_end(raw, start, end)
    if found is None:
        return
    headers: Message = parse_headers(raw[start:found[0]])
    body_start = found[1]
    ctype = headers.get_content_type()
    eol = b"\r\n" if raw[body_start - 2:body_start] == b"\r\n" else b"\n"
    if ctype.startswith("multipart/") and depth < 20:
        boundary = headers.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            return
        for i, (s, e) in enumerate(_parts(raw, body_start, end, boundary.encode("latin-1", "replace")), 1):
            yield from _leaves(raw, s, e, f"{path}.{i}" if depth else str(i), depth + 1)
        return
    if ctype not in ("text/plain", "text/html"):
        return
    disposition = (headers.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
    if disposition == "attachment":
        return
    yield _Leaf(path, ctype, headers.get_content_charset() or "us-ascii",
                (headers.get("Content-Transfer-Encoding") or "7bit").strip().lower(), body_start, end, eol)


def _parts(raw: bytes, start: int, end: int, boundary: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each body part between the delimiter lines of ``boundary``."""
    delimiter = re.compile(rb"(?:\r?\n|^)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)", re.M)
    part_start: int | None = None
    for m in delimiter.finditer(raw, start, end):
        if part_start is not None:
            yield part_start, m.start()
        if m.group(1):
            return
        part_start = m.end()
    if part_start is not None and part_start < end:
        yield part_start, end  # no closing delimiter: the part runs to the end, as readers treat it


def _decode(body: bytes, cte: str, charset: str) -> str | None:
    try:
        if cte == "base64":
            data = base64.b64decode(re.sub(rb"\s+", b"", body), validate=False)
        elif cte == "quoted-printable":
            data = quopri.decodestring(body)
        else:
            data = body
        return data.decode(_codec(charset))
    except (LookupError, UnicodeDecodeError, binascii.Error, ValueError):
        return None  # a part we cannot read exactly is not one we edit


def _encode(text: str, cte: str, charset: str, eol: bytes) -> bytes | None:
    try:
        data = text.encode(_codec(charset))
    except (LookupError, UnicodeEncodeError):
        return None
    if cte == "base64":
        encoded = base64.b64encode(data)
        lines = [encoded[i:i + 76] for i in range(0, len(encoded), 76)]
        return eol.join(lines) + eol
    if cte == "quoted-printable":
        # quopri writes LF line ends; the message's own line end goes back in.
        encoded = quopri.encodestring(data.replace(b"\r\n", b"\n"))
        return encoded.replace(b"\n", eol)
    return data


def _codec(charset: str) -> str:
    charset = charset.lower().strip()
    return {"us-ascii": "ascii", "ascii": "ascii", "utf8": "utf-8", "latin1": "latin-1"}.get(charset, charset)


# -- HTML -----------------------------------------------------------------------------------------

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


def _host(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def _allowed(host: str, allow: Sequence[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in allow)


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
    host = _host(href)
    if any(host == s or host.endswith("." + s) for s in _SOCIAL):
        return True
    return bool(_FOOTER_WORDS.search(href) or _FOOTER_WORDS.search(_text_of(html, a)))


def _block_of(el: _Element) -> _Element | None:
    node = el.parent
    while node is not None and node.tag != "#root":
        if node.tag in _BLOCKS:
            return node
        node = node.parent
    return None


def _repair_html(html: str, options: RepairOptions, where: str, found: list[Removal]) -> str:
    scan = _Scanner(html)
    cuts: list[tuple[int, int]] = []
    kinds = options.kinds
    for el in scan.elements:
        if el.tag == "img":
            src = el.attrs.get("src", "")
            if TRACKING_PIXEL in kinds and _is_tracking(el, options):
                cuts.append((el.start, el.end))
                found.append(Removal(TRACKING_PIXEL, src[:200], where))
            elif (REMOTE_IMAGE in kinds and _remote(src) and not _allowed(_host(src), options.allow_domains)
                  and not _is_tracking(el, options)):
                cuts.append((el.start, el.end))
                found.append(Removal(REMOTE_IMAGE, src[:200], where))
        elif el.tag == "a" and el.end >= 0:
            href = el.attrs.get("href", "")
            external = _remote(href) and not _allowed(_host(href), options.allow_domains)
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
    elif not _remote(href) or _allowed(_host(href), options.allow_domains):
        return False
    shown = _text_of(html, a).strip()
    if not (_URLISH.match(shown) or EMAIL_ADDRESS.fullmatch(shown)):
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
        pieces[i] = _strip_emoji(pieces[i], removed)
    if removed:
        found.append(Removal(EMOJI, " ".join(removed)[:200], where))
    return "".join(pieces)


def _strip_emoji(text: str, removed: list[str]) -> str:
    def drop(m: regex.Match[str]) -> str:
        removed.append(m.group(0))
        return ""
    cleaned = EMOJI_SEQUENCE.sub(drop, text)
    # "Danke 🙂!" -> "Danke !": fold the space the emoji leaves before punctuation.
    return re.sub(r"[ \t]+(?=[!?.,;:])", "", cleaned) if cleaned != text else text


# -- plain text -----------------------------------------------------------------------------------

def _repair_plain(text: str, options: RepairOptions, where: str, found: list[Removal]) -> str:
    kinds = options.kinds
    lines = text.splitlines(keepends=True)
    signature_from = _signature_start(lines)
    kept: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if FOOTER in kinds and stripped and _plain_footer_line(stripped):
            found.append(Removal(FOOTER, stripped[:200], where))
            continue
        if (SIGNATURE_CONTACT in kinds and i >= signature_from and stripped
                and _plain_contact_line(stripped, options)):
            found.append(Removal(SIGNATURE_CONTACT, stripped[:200], where))
            continue
        kept.append(line)
    out = "".join(kept)
    if EMOJI in kinds:
        removed: list[str] = []
        out = _strip_emoji(out, removed)
        if removed:
            found.append(Removal(EMOJI, " ".join(removed)[:200], where))
    return out


def _signature_start(lines: list[str]) -> int:
    """Index of the first line of the closing block: a ``-- `` delimiter, else the last 12 lines."""
    for i, line in enumerate(lines):
        if _SIG_DELIMITER.fullmatch(line.rstrip("\r\n")):
            return i
    return max(0, len(lines) - 12)


def _plain_footer_line(line: str) -> bool:
    if not _FOOTER_WORDS.search(line):
        return any(s in line.lower() for s in _SOCIAL) and len(line) <= 160
    return len(line) <= 200


def _plain_contact_line(line: str, options: RepairOptions) -> bool:
    """A short signature line that is a website or an e-mail address (with or without its label)."""
    if len(line) > 120:
        return False
    for m in EMAIL_ADDRESS.finditer(line):
        if "marketplace.amazon." not in m.group(0).lower():
            return True
    for m in _URLISH.finditer(line):
        url = m.group(0)
        host = _host(url if "://" in url else "http://" + url)
        if host and not _allowed(host, options.allow_domains):
            return True
    return False


# -- headers --------------------------------------------------------------------------------------

def _repair_subject(raw: bytes, removals: list[Removal]) -> bytes:
    found = header_end(raw)
    subject = parse_headers(raw[:found[0]] if found else raw).get("Subject")
    if subject is None:
        return raw
    decoded = decode_header_value(subject)
    removed: list[str] = []
    cleaned = re.sub(r"\s{2,}", " ", _strip_emoji(decoded, removed)).strip()
    if not removed:
        return raw
    removals.append(Removal(EMOJI, " ".join(removed)[:200], "subject"))
    return replace_subject(raw, cleaned)


def _add_header(raw: bytes, name: str, value: str) -> bytes:
    eol = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    return f"{name}: {value}".encode("ascii", "replace") + eol + raw


def kinds_of(names: Collection[str]) -> frozenset[str]:
    """The known repair kinds among ``names`` (unknown names are ignored)."""
    return frozenset(n for n in names if n in KINDS)
