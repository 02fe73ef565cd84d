"""What a message says: MIME decoded fully, HTML read by a real parser, text normalised for matching.

Rules never look at raw bytes. ``read_message`` turns any input (broken MIME, unknown charsets, NUL
bytes) into a ``MessageContent``; it does not raise. ``normalize`` is the one folding used for both
message text and phrase lists, so "Rаbatt" (Cyrillic a), "R\\u00adabatt" and "RABATT" all read as
"rabatt".
"""

from __future__ import annotations

import binascii
import codecs
import email.header
import email.message
import email.parser
import email.policy
import email.utils
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import filetype
import regex
from selectolax.lexbor import LexborHTMLParser, LexborNode

# --------------------------------------------------------------------------------------------------
# Normalisation

# Zero-width characters, soft hyphen, bidi controls, fillers: invisible, used to split trigger words.
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E,
     0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x2066,
     0x2067, 0x2068, 0x2069, 0x3164, 0xFE0E, 0xFEFF, 0xFFA0],
)

# Cyrillic and Greek letters that look like Latin ones (upper and lower case; after NFKC).
_LOOKALIKE_MAP = {
    # Cyrillic
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i",
    "ј": "j", "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ү": "y", "ё": "e", "ї": "i", "к": "k",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    "α": "a", "ο": "o", "ρ": "p", "ι": "i", "κ": "k", "ν": "v", "υ": "u", "τ": "t", "χ": "x",
    "ω": "w", "ε": "e", "γ": "y",
}

# Punctuation becomes a word gap, so "5-Sterne", "5 Sterne" and "5 – Sterne" read alike. A table
# (str.translate) is several times faster than a regex substitution on long texts. Kept: % and
# currency signs (they carry meaning in offers), stars (ratings).
_KEEP = set("%$€£¥★☆")
_PUNCTUATION = (
    [chr(c) for c in range(0x21, 0x80) if not chr(c).isalnum() and chr(c) not in _KEEP]
    + [chr(c) for c in range(0xA1, 0xC0) if not chr(c).isalnum() and chr(c) not in _KEEP]
    + [chr(c) for c in range(0x2010, 0x2060)] + [chr(c) for c in range(0x2190, 0x2200)]
    + [chr(c) for c in range(0x2500, 0x2600)] + [chr(c) for c in range(0x3001, 0x3040)]
    + ["\u00d7", "\u00f7", "\u30fb", "\uff5e"]
)
_FOLD = str.maketrans({**{ch: " " for ch in _PUNCTUATION}, **_LOOKALIKE_MAP})


def strip_invisible(text: str) -> str:
    """Invisible characters removed and NFKC applied: still readable, for links and addresses."""
    if text.isascii():
        return text
    try:
        text.encode("cp1252")  # the only invisible character cp1252 has is the soft hyphen
    except UnicodeEncodeError:
        return unicodedata.normalize("NFKC", text.translate(_INVISIBLE))
    return unicodedata.normalize("NFKC", text.replace("\u00ad", ""))


def _fold_any(text: str) -> str:
    return strip_invisible(text).translate(_FOLD).casefold()


def _byte_fold_table() -> tuple[bytes, bytes, dict[str, str]]:
    """The folding of every cp1252 character as one byte table: most European mail is cp1252
    text, and bytes.translate runs at memory speed where str.translate with a dict looks up
    every character. Characters whose folding is not one Latin-1 character keep their byte and
    are replaced afterwards (few: ß -> ss, € stays €)."""
    table = bytearray(range(256))
    delete = bytearray()
    after: dict[str, str] = {}
    for b in range(256):
        try:
            ch = bytes([b]).decode("cp1252")
        except UnicodeDecodeError:
            continue
        folded = _fold_any(ch)
        if folded == "":
            delete.append(b)
        elif len(folded) == 1 and (ord(folded) < 0x80 or 0xA0 <= ord(folded) <= 0xFF):
            table[b] = ord(folded)
        else:
            table[b] = b
            after[chr(b)] = folded
    return bytes(table), bytes(delete), after


_BYTE_FOLD, _BYTE_DELETE, _BYTE_AFTER = _byte_fold_table()


def fold(text: str) -> str:
    """NFKC, look-alikes, invisible characters, casefold, punctuation to spaces (not collapsed)."""
    try:
        raw = text.encode("cp1252")
    except UnicodeEncodeError:
        return _fold_any(text)
    folded = raw.translate(_BYTE_FOLD, _BYTE_DELETE).decode("latin-1")
    for ch, replacement in _BYTE_AFTER.items():
        if ch in folded:
            folded = folded.replace(ch, replacement)
    return folded


def normalize(text: str) -> str:
    """Fold text for phrase matching: NFKC, look-alikes, casefold, punctuation runs to one space.

    The result starts and ends with a space so that a phrase match can check word boundaries by
    looking at its neighbours.
    """
    return " " + " ".join(fold(text).split()) + " "


# --------------------------------------------------------------------------------------------------
# The decoded message


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    host: str
    """Lower-cased host name as written (no look-alike folding: a Cyrillic 'а' stays foreign)."""
    source: Literal["href", "text"]
    label: str = ""


@dataclass(frozen=True, slots=True)
class Image:
    src: str
    host: str
    """Empty for embedded (cid:, data:) images."""
    width: int | None
    height: int | None
    linked_to: str | None
    """The href of the link around the image, if any."""

    @property
    def remote(self) -> bool:
        return bool(self.host)


AttachmentKind = Literal["pdf", "image", "text", "executable", "script", "archive", "other"]


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    declared_type: str
    sniffed_type: str
    """What the content is, from its magic bytes ("" when nothing was recognised)."""
    size: int
    """Decoded size in bytes."""
    kind: AttachmentKind


@dataclass(slots=True)
class MessageContent:
    subject: str = ""
    from_addr: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    in_reply_to: str = ""
    references: str = ""
    plain_text: str = ""
    """All text/plain bodies, decoded."""
    html_text: str = ""
    """The text of all text/html bodies, as a browser would show it."""
    html_own_text: str = ""
    """The HTML text without quoted parts (blockquote, mail-client quote containers)."""
    links: list[Link] = field(default_factory=list)
    """Links from HTML (href, form action); links written in text are found per use, see text_links."""
    images: list[Image] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    html_formatting: int = 0
    """Count of formatting elements and inline styles in the HTML bodies."""
    html_colors: set[str] = field(default_factory=set)
    html_max_font_px: float = 0.0
    problems: list[str] = field(default_factory=list)
    """What could not be decoded (the message is still read as far as possible)."""
    truncated: bool = False
    """The MIME structure was too deep or had too many parts: not everything was read."""
    _body_text: str | None = None

    @property
    def body_text(self) -> str:
        """Plain and HTML text together (an alternative can hide what the other shows); lines of
        the HTML text that the plain text already has are left out, so nothing is matched twice."""
        if self._body_text is None:
            self._body_text = _merge_alternatives(self.plain_text, self.html_text)
        return self._body_text

    def own_text(self) -> str:
        """The body with quoted earlier messages removed (for replies)."""
        return _merge_alternatives(strip_quoted(self.plain_text), strip_quoted(self.html_own_text))

    @property
    def attachments_total(self) -> int:
        return sum(a.size for a in self.attachments)


def _merge_alternatives(plain: str, html: str) -> str:
    if not (plain and html):
        return plain or html
    seen = {line.strip() for line in plain.split("\n")}
    extra = [line for line in html.split("\n") if line.strip() not in seen]
    return plain + "\n\n" + "\n".join(extra) if extra else plain


# --------------------------------------------------------------------------------------------------
# Decoding helpers


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Decode with the declared charset, else UTF-8, else cp1252 (what 8-bit mail usually is);
    never raises."""
    known: str | None = None
    if charset:
        try:
            codec = codecs.lookup(charset)
            known = charset if codec._is_text_encoding else None
        except (LookupError, ValueError, TypeError):
            known = None
    for cs in (known, "utf-8"):
        if cs:
            try:
                return payload.decode(cs)
            except (LookupError, UnicodeError, ValueError, TypeError):
                continue
    if known and known.lower().replace("_", "-") not in ("us-ascii", "ascii"):
        try:
            return payload.decode(known, errors="replace")
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass
    return payload.decode("cp1252", errors="replace")


def _unescape_8bit(value: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogates; read them as UTF-8 (or cp1252)."""
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value
    return decode_bytes(raw, "utf-8")


def decode_header_value(value: object) -> str:
    """An RFC 2047 header as text; broken encoded words are kept as they were written."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):  # compat32 hands raw 8-bit headers over like this
        try:
            chunks = email.header.decode_header(value)
        except Exception:
            return str(value)
        return "".join(decode_bytes(c, cs) if isinstance(c, bytes) else c for c, cs in chunks).replace(
            "\r", "").replace("\n", "")
    text = _unescape_8bit(str(value))
    try:
        parts = email.header.decode_header(text)
    except Exception:  # the header parser has many ways to fail on hostile input
        return text
    out: list[str] = []
    for chunk, cs in parts:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, cs))
        else:
            out.append(chunk)
    return "".join(out).replace("\r", "").replace("\n", "")


_ADDR = regex.compile(r"[^\s<>,;:\"'()\[\]]+@[^\s<>,;:\"'()\[\]]+")


def addresses_in(value: str) -> list[str]:
    return [m.group(0).strip(".") for m in _ADDR.finditer(value)]


# --------------------------------------------------------------------------------------------------
# Attachments

_EXECUTABLE_MIMES = {"application/x-msdownload", "application/x-executable", "application/x-mach-binary",
                     "application/x-shockwave-flash", "application/wasm", "application/x-deb",
                     "application/x-rpm", "application/x-google-chrome-extension"}
_ARCHIVE_MIMES = {"application/zip", "application/x-tar", "application/x-rar-compressed", "application/gzip",
                  "application/x-bzip2", "application/x-7z-compressed", "application/vnd.ms-cab-compressed",
                  "application/x-xz", "application/x-unix-archive", "application/x-compress",
                  "application/x-lzop", "application/x-lzip", "application/x-lz4", "application/zstd",
                  "application/x-brotli"}
_EXECUTABLE_EXT = {"exe", "com", "scr", "pif", "msi", "msp", "dll", "cpl", "apk", "app", "dmg", "elf", "jar",
                   "lnk", "iso", "reg", "sys"}
_SCRIPT_EXT = {"js", "jse", "vbs", "vbe", "wsf", "wsh", "hta", "bat", "cmd", "ps1", "psm1", "sh", "bash",
               "py", "pl", "rb", "php", "scf", "url", "applescript", "command", "vb", "html", "htm", "svg"}
_ARCHIVE_EXT = {"zip", "rar", "7z", "gz", "tgz", "bz2", "xz", "tar", "cab", "arj", "lz", "zst", "z", "ace"}
_SCRIPT_STARTS = (b"#!", b"@echo", b"<script", b"<?php", b"<job", b"<hta:")


# The everyday attachments (invoices, photos), recognised without trying every matcher of filetype.
_FAST_MAGIC: dict[bytes, tuple[str, AttachmentKind]] = {
    b"%PDF": ("application/pdf", "pdf"),
    b"\x89PNG": ("image/png", "image"),
    b"\xff\xd8\xff\xe0": ("image/jpeg", "image"),
    b"\xff\xd8\xff\xe1": ("image/jpeg", "image"),
    b"\xff\xd8\xff\xdb": ("image/jpeg", "image"),
    b"\xff\xd8\xff\xee": ("image/jpeg", "image"),
    b"GIF8": ("image/gif", "image"),
}


def _extension(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return ext.lower().strip() if dot else ""


def _looks_like_text(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:  # cut inside a multi-byte character
            return True
    printable = sum(1 for b in sample if b >= 0x20 or b in (9, 10, 13))
    return printable >= 0.95 * len(sample)


def classify_attachment(filename: str, declared: str, data: bytes) -> Attachment:
    """Kind from the content first (the name may lie), then from the name for scripts."""
    kind: AttachmentKind
    sniffed = ""
    ext = _extension(filename)
    head = data[:64].lstrip().lower()
    fast = _FAST_MAGIC.get(data[:4])
    try:
        guess = None if fast or not data else filetype.guess(data[:8192])
    except Exception:
        guess = None
    if fast is not None:
        sniffed, kind = fast
    elif guess is not None:
        sniffed = str(guess.mime)
        if sniffed == "application/pdf":
            kind = "pdf"
        elif sniffed.startswith("image/"):
            kind = "image"
        elif sniffed in _EXECUTABLE_MIMES:
            kind = "executable"
        elif sniffed in _ARCHIVE_MIMES:
            kind = "archive"
        else:
            kind = "other"
    elif data[:2] == b"MZ":
        sniffed, kind = "application/x-msdownload", "executable"
    elif data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" and ext in {"msi", "msp"}:
        sniffed, kind = "application/x-msi", "executable"
    elif head.startswith(_SCRIPT_STARTS):
        sniffed, kind = "text/x-script", "script"
    elif data and _looks_like_text(data):
        sniffed, kind = "text/plain", "text"
    else:
        kind = "other"
    # A harmless-looking content with a dangerous name is still dangerous on the buyer's machine.
    if kind in ("text", "other", "image", "pdf"):
        if ext in _EXECUTABLE_EXT:
            kind = "executable"
        elif ext in _SCRIPT_EXT:
            kind = "script"
        elif ext in _ARCHIVE_EXT:
            kind = "archive"
    return Attachment(filename=filename, declared_type=declared, sniffed_type=sniffed, size=len(data),
                      kind=kind)


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


def _int_attr(value: str | None) -> int | None:
    if not value:
        return None
    digits = regex.match(r"\s*(\d+)", value)
    return int(digits.group(1)) if digits else None


def _style_size(style: str, prop: str) -> int | None:
    m = regex.search(rf"(?i)(?:^|;|\s){prop}\s*:\s*(\d+)", style)
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


def _read_style(style: str, out: MessageContent) -> int:
    """Emphasis count of one inline style, and its colours and font sizes."""
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


def _bounded_html(html: str, out: MessageContent, limits: HtmlLimits) -> str:
    """The part of ``html`` within the limits; what is cut is recorded as a problem."""
    if len(html) > limits.max_chars:
        html = html[: limits.max_chars]
        out.problems.append(f"HTML longer than {limits.max_chars} characters: the rest was not read")
        out.truncated = True
    tags = html.count("<")
    if tags <= limits.depth_scan_from:
        return html
    depth = 0
    seen = 0
    for m in _TAG.finditer(html):
        seen += 1
        if seen > limits.max_tags:
            out.problems.append(f"HTML with more than {limits.max_tags} elements: the rest was not read")
            out.truncated = True
            return html[: m.start()]
        name = m.group(2).lower()
        if name in _VOID or m.group(3):
            continue
        if m.group(1):
            depth = max(0, depth - 1)
            continue
        depth += 1
        if depth > limits.max_depth:
            out.problems.append(f"HTML nested deeper than {limits.max_depth} elements: the rest was not read")
            out.truncated = True
            return html[: m.start()]
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


def _read_html(html: str, out: MessageContent, limits: HtmlLimits = HTML_LIMITS) -> None:
    """Text, links, images and formatting of an HTML body, in one pass over the parsed tree."""
    tree = LexborHTMLParser(_bounded_html(html, out, limits))
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
            if href and not href.lower().startswith(("mailto:", "tel:", "#")):
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
            formatting += _read_style(style.lower(), out)
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
            if len(attribution) > 400 or not _ATTRIBUTION.search(attribution):
                attribution = ""
            if not _from_amazon_side(node.text(deep=True)[:600] + " " + attribution):
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


# --------------------------------------------------------------------------------------------------
# Quotes in replies

_QUOTE_START = regex.compile(
    r"(?im)^[ \t]*(?:"
    r"-{2,}\s*(?:original message|ursprüngliche nachricht|original-nachricht|originalnachricht"
    r"|message d'origine|message original|messaggio originale|mensaje original|元のメッセージ)\s*-{2,}"
    r"|-{5,}\s*(?:message|nachricht|messaggio|mensaje|メッセージ)\s*:?\s*-{5,}"
    r"|on\b.{0,200}\bwrote:|am\b.{0,200}\bschrieb\b.{0,200}:|le\b.{0,200}\ba écrit\s?:"
    r"|il\b.{0,200}\bha scritto\s?:|el\b.{0,200}\bescribió\s?:|.{0,200}のメッセージ[:：]"
    r"|(?:from|von|de|da|差出人)\s*:.{0,300}\n[ \t]*(?:sent|gesendet|envoyé|inviato|enviado|送信日時)\s*:"
    r")"
)


_AMAZON_SIDE = regex.compile(r"(?i)marketplace\.amazon\.|amazon marketplace|@(?:[\w-]+\.)*amazon(?:ses)?\.")
_ATTRIBUTION = regex.compile(
    r"(?i)(?:\bwrote|\bschrieb|a écrit|ha scritto|escribió|schreef|napisał|skrev|yazdı|のメッセージ)"
    r"[^\n]{0,200}[:：]\s*$")
_AMAZON_NOTICE_QUOTE = regex.compile(r"(?i)^-{5,}\s*(?:message|nachricht|messaggio|mensaje|メッセージ)\s*:?\s*-{5,}")


def _from_amazon_side(text: str) -> bool:
    return _AMAZON_SIDE.search(text) is not None


def strip_quoted(text: str) -> str:
    """The sender's own words: quoted text is left out only where it is the buyer's (Amazon's side).

    A quote header (Outlook's "Von: ... Gesendet:", "-----Original Message-----", Amazon's own
    "----- Nachricht: -----") ends the seller's text only when the header names Amazon's side; a
    block of ``>`` lines is dropped only when its attribution line ("Am ... schrieb ...:") does.
    Text after a quoted block is the seller's again and is kept, as is a "quote" of the seller's
    own earlier mail.
    """
    if not text:
        return text
    if len(text) < 2_000_000:
        for m in _QUOTE_START.finditer(text, timeout=0.5):
            if _ATTRIBUTION.search(m.group(0).rstrip()):
                continue  # "Am ... schrieb X:": the '>' lines after it are judged below
            # The header block: from the quote line to the first empty line, at most 8 lines.
            block = text[m.start(): m.end() + 600].split("\n\n", 1)[0]
            header = "\n".join(block.split("\n")[:8])
            if _AMAZON_NOTICE_QUOTE.match(m.group(0).strip()) or _from_amazon_side(header):
                text = text[: m.start()]
                break
    lines = text.split("\n")
    out: list[str] = []
    quoting = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            if not quoting:
                before = "\n".join(lines[max(0, i - 3): i])
                quoting = bool(_ATTRIBUTION.search(before.rstrip())) and _from_amazon_side(before)
                if quoting:  # the attribution line goes with its quote
                    while out and not _ATTRIBUTION.search(out[-1].rstrip()):
                        out.pop()
                    if out:
                        out.pop()
            if quoting:
                continue
        else:
            quoting = False
        out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Reading a message

_MAX_DEPTH = 20
_MAX_PARTS = 500


_LOGICAL_LINE = regex.compile(r"\r?\n(?![ \t])")
_HEADER_FOLD = regex.compile(r"\r?\n(?=[ \t])")


def parse_headers(head: bytes) -> email.message.Message:
    """A header block as a compat32 Message (what the stdlib parser gives, without its per-line
    feed machinery). Lines without a colon are skipped; raw 8-bit bytes survive as surrogates."""
    msg = email.message.Message()
    text = head.decode("ascii", "surrogateescape")
    for line in _LOGICAL_LINE.split(text):
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or " " in name or "\t" in name:
            continue
        msg[name] = _HEADER_FOLD.sub("", value).lstrip(" \t").rstrip("\r\n")
    return msg
_BLANK_LINE = regex.compile(rb"\r?\n\r?\n")
_NOT_BASE64 = regex.compile(rb"[^A-Za-z0-9+/]")


def _split_head(raw: bytes) -> tuple[bytes, bytes]:
    """Header block and body: the first empty line ends the headers."""
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw.split(b"\n", 1)[1]
    m = _BLANK_LINE.search(raw)
    if m is None:
        return raw, b""
    return raw[: m.start() + 1], raw[m.end():]


def _decode_transfer(body: bytes, cte: str, out: MessageContent) -> bytes:
    """Undo Content-Transfer-Encoding leniently (C-speed: binascii)."""
    cte = cte.strip().lower()
    if cte == "base64":
        try:
            return binascii.a2b_base64(body)
        except (binascii.Error, ValueError):
            out.problems.append("broken base64 (decoded what could be)")
            cleaned = _NOT_BASE64.sub(b"", body)
            cleaned = cleaned[: len(cleaned) // 4 * 4]
            try:
                return binascii.a2b_base64(cleaned)
            except (binascii.Error, ValueError):
                return b""
    if cte == "quoted-printable":
        try:
            return binascii.a2b_qp(body)
        except (binascii.Error, ValueError):
            out.problems.append("broken quoted-printable")
            return body
    return body


def _split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    """The body parts between ``--boundary`` lines (RFC 2046), up to the closing ``--boundary--``."""
    delimiter = b"--" + boundary
    starts: list[int] = []
    idx = body.find(delimiter)
    while idx != -1:
        after = body[idx + len(delimiter): idx + len(delimiter) + 1]
        if (idx == 0 or body[idx - 1:idx] == b"\n") and after in (b"", b"\r", b"\n", b" ", b"\t", b"-"):
            starts.append(idx)
        idx = body.find(delimiter, idx + len(delimiter))
    parts: list[bytes] = []
    for i, start in enumerate(starts):
        if body[start + len(delimiter): start + len(delimiter) + 2] == b"--":
            break  # the closing delimiter
        line_end = body.find(b"\n", start)
        if line_end == -1:
            break
        stop = starts[i + 1] if i + 1 < len(starts) else len(body)
        segment = body[line_end + 1: stop]
        if segment.endswith(b"\r\n"):
            segment = segment[:-2]
        elif segment.endswith(b"\n"):
            segment = segment[:-1]
        parts.append(segment)
    return parts


def _param(headers: email.message.Message, name: str, header: str = "content-type") -> str:
    try:
        value = headers.get_param(name, header=header)
    except Exception:
        return ""
    if isinstance(value, tuple):  # RFC 2231
        try:
            return str(email.utils.collapse_rfc2231_value(value))
        except Exception:
            return str(value[2])
    return value if isinstance(value, str) else ""


def _filename(headers: email.message.Message) -> str:
    name = _param(headers, "filename", "content-disposition") or _param(headers, "name")
    return decode_header_value(name) if name else ""


def _walk(headers: email.message.Message, body: bytes, out: MessageContent, depth: int,
          counter: list[int]) -> None:
    counter[0] += 1
    if depth > _MAX_DEPTH or counter[0] > _MAX_PARTS:
        if not out.truncated:
            out.problems.append("MIME structure too deep or too many parts")
        out.truncated = True
        return
    try:
        ctype = headers.get_content_type()
    except Exception:
        ctype = "text/plain"
    maintype = ctype.split("/", 1)[0]
    if maintype == "multipart":
        boundary = _param(headers, "boundary")
        segments = _split_multipart(body, boundary.encode("utf-8", "surrogateescape")) if boundary else []
        if not segments:
            out.problems.append("multipart without parts")
            if body.strip():
                out.plain_text += "\n" + decode_bytes(body, "utf-8")
            return
        for segment in segments:
            head, sub_body = _split_head(segment)
            _walk(parse_headers(head), sub_body, out, depth + 1, counter)
        return
    filename = _filename(headers)
    disposition = str(headers.get("content-disposition", "")).split(";", 1)[0].strip().lower()
    data = _decode_transfer(body, str(headers.get("content-transfer-encoding", "")), out)
    if maintype == "message":
        out.attachments.append(Attachment(filename=filename or "message.eml", declared_type=ctype,
                                          sniffed_type="message/rfc822", size=len(data), kind="other"))
        return
    is_body = ctype in ("text/plain", "text/html") and disposition != "attachment" and not (
        filename and disposition == "inline" and ctype != "text/html")
    if is_body:
        charset = _param(headers, "charset") or None
        text = decode_bytes(data, charset).replace("\r\n", "\n")
        if ctype == "text/html":
            try:
                _read_html(text, out)
            except Exception as exc:  # selectolax is robust; keep going if it is not
                out.problems.append(f"unreadable HTML: {exc}")
                out.html_text += "\n" + text
        else:
            out.plain_text = (out.plain_text + "\n\n" + text) if out.plain_text else text
        return
    out.attachments.append(classify_attachment(filename, ctype, data))


_URL_TOKEN = regex.compile(
    r"(?i)^(?:(?:https?|ftp)://\S+|www\d?\.\S+"
    r"|(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|org|info|biz|shop|store|online|site|eu|de|at|ch"
    r"|fr|it|es|nl|be|pl|se|co\.uk|uk|io|me|app|link|ly|gl|to|page|web|click|top|xyz)(?::\d+)?(?:[/?#]\S*)?)$"
)
_TOKEN_STOP = frozenset(" \t\r\n\f\v<>\"'`()[]{}|\\,;")


def text_links(text: str) -> list[Link]:
    """URLs and bare domains written in text, after invisible characters are removed.

    Scans for dots between word characters (rare in prose) and reads the token around each, which
    is much faster on long texts than one big URL pattern tried at every position.
    """
    found: list[Link] = []
    clean = strip_invisible(text)
    n = len(clean)
    i = clean.find(".")
    while i != -1:
        nxt = i + 1
        if 0 < i < n - 1 and clean[i + 1].isalnum() and (clean[i - 1].isalnum() or clean[i - 1] == "-"):
            left = i
            while left > 0 and clean[left - 1] not in _TOKEN_STOP and not clean[left - 1].isspace():
                left -= 1
            right = i + 1
            while right < n and clean[right] not in _TOKEN_STOP and not clean[right].isspace():
                right += 1
            nxt = right
            token = clean[left:right].rstrip(".:!?")
            if "@" not in token.split("/", 1)[0] and _URL_TOKEN.match(token):
                host = host_of(token)
                if host and "." in host:
                    found.append(Link(url=token, host=host.lower(), source="text"))
        i = clean.find(".", nxt)
    return found


def read_message(raw: bytes) -> MessageContent:
    """Decode everything a rule may need. Never raises: problems are listed on the result.

    Headers are parsed by the standard library; bodies are split at their boundaries and decoded
    with binascii, which is several times faster than the line-by-line feed parser on messages
    with attachments.
    """
    out = MessageContent()
    try:
        head, body = _split_head(raw)
        msg = parse_headers(head)
    except Exception as exc:
        out.problems.append(f"unparseable message: {exc}")
        out.plain_text = decode_bytes(raw, "utf-8")
        return out
    out.subject = decode_header_value(msg.get("Subject"))
    out.from_addr = decode_header_value(msg.get("From"))
    for name, target in (("To", out.to), ("Cc", out.cc)):
        for value in msg.get_all(name) or []:
            target.extend(addresses_in(decode_header_value(value)))
    out.in_reply_to = decode_header_value(msg.get("In-Reply-To")).strip()
    out.references = decode_header_value(msg.get("References")).strip()
    try:
        _walk(msg, body, out, 0, [0])
    except RecursionError:
        out.problems.append("MIME structure too deep")
        out.truncated = True
    except Exception as exc:
        out.problems.append(f"MIME decoding stopped: {exc}")
    return out
