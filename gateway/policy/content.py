"""What a message says: MIME decoded fully, HTML read by a real parser, text normalised for matching.

Rules never look at raw bytes. ``read_message`` turns any input (broken MIME, unknown charsets, NUL
bytes) into a ``MessageContent``; it does not raise. ``normalize`` is the one folding used for both
message text and phrase lists, so "Rаbatt" (Cyrillic a), "R\\u00adabatt" and "RABATT" all read as
"rabatt".
"""

from __future__ import annotations

import binascii
import email.header
import email.message
import email.parser
import email.policy
import email.utils
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
_LOOKALIKES = str.maketrans({
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
})

_NON_WORD = regex.compile(r"[^\w%€$£¥★]+")


def strip_invisible(text: str) -> str:
    """Invisible characters removed and NFKC applied: still readable, for links and addresses."""
    return unicodedata.normalize("NFKC", text.translate(_INVISIBLE))


def normalize(text: str) -> str:
    """Fold text for phrase matching: NFKC, look-alikes, casefold, punctuation runs to one space.

    The result starts and ends with a space so that a phrase match can check word boundaries by
    looking at its neighbours.
    """
    folded = strip_invisible(text).translate(_LOOKALIKES).casefold()
    return " " + _NON_WORD.sub(" ", folded).strip() + " "


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
    images: list[Image] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    html_formatting: int = 0
    """Count of formatting elements and inline styles in the HTML bodies."""
    html_colors: set[str] = field(default_factory=set)
    html_max_font_px: float = 0.0
    problems: list[str] = field(default_factory=list)
    """What could not be decoded (the message is still read as far as possible)."""

    @property
    def body_text(self) -> str:
        """Plain and HTML text together: an alternative can hide what the other shows."""
        if self.html_text and self.plain_text:
            return self.plain_text + "\n\n" + self.html_text
        return self.plain_text or self.html_text

    def own_text(self) -> str:
        """The body with quoted earlier messages removed (for replies)."""
        plain = strip_quoted(self.plain_text)
        html = strip_quoted(self.html_own_text)
        if plain and html:
            return plain + "\n\n" + html
        return plain or html

    @property
    def attachments_total(self) -> int:
        return sum(a.size for a in self.attachments)


# --------------------------------------------------------------------------------------------------
# Decoding helpers


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Decode with the declared charset, falling back to UTF-8 and then cp1252; never raises."""
    candidates = [c for c in (charset, "utf-8") if c]
    for cs in candidates:
        try:
            return payload.decode(cs)
        except (LookupError, UnicodeError, ValueError, TypeError):
            continue
    for cs in candidates:
        try:
            return payload.decode(cs, errors="replace")
        except (LookupError, UnicodeError, ValueError, TypeError):
            continue
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
_EXECUTABLE_EXT = {"exe", "com", "scr", "pif", "msi", "msp", "dll", "cpl", "apk", "app", "dmg", "elf", "bin",
                   "jar", "lnk", "iso", "img", "reg", "sys"}
_SCRIPT_EXT = {"js", "jse", "vbs", "vbe", "wsf", "wsh", "hta", "bat", "cmd", "ps1", "psm1", "sh", "bash",
               "py", "pl", "rb", "php", "scf", "url", "applescript", "command", "vb", "html", "htm", "svg"}
_ARCHIVE_EXT = {"zip", "rar", "7z", "gz", "tgz", "bz2", "xz", "tar", "cab", "arj", "lz", "zst", "z", "ace"}
_SCRIPT_STARTS = (b"#!", b"@echo", b"<script", b"<?php", b"<job", b"<hta:")


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
    try:
        guess = filetype.guess(data[:8192]) if data else None
    except Exception:
        guess = None
    ext = _extension(filename)
    head = data[:64].lstrip().lower()
    if guess is not None:
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
_COLOR = regex.compile(r"(?i)(?:^|;|\s)(?:background-)?colou?r\s*:\s*([^;]+)")
_FONT_SIZE = regex.compile(r"(?i)font-size\s*:\s*([\d.]+)\s*(px|pt|em|rem)?")
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


def _read_html(html: str, out: MessageContent) -> None:
    tree = LexborHTMLParser(html)
    for node in tree.css("script, style, head, title"):
        node.decompose()
    for a in tree.css("a[href], area[href]"):
        href = (a.attributes.get("href") or "").strip()
        if href and not href.lower().startswith(("mailto:", "tel:", "#")):
            url = strip_invisible(href)
            out.links.append(Link(url=url, host=host_of(url), source="href",
                                  label=a.text(deep=True, separator=" ", strip=True)[:200]))
    for form in tree.css("form[action]"):
        url = strip_invisible(form.attributes.get("action") or "")
        if url:
            out.links.append(Link(url=url, host=host_of(url), source="href"))
    for img in tree.css("img"):
        attrs = img.attributes
        src = strip_invisible((attrs.get("src") or "").strip())
        style = attrs.get("style") or ""
        width = _int_attr(attrs.get("width"))
        height = _int_attr(attrs.get("height"))
        width = width if width is not None else _style_size(style, "width")
        height = height if height is not None else _style_size(style, "height")
        linked: str | None = None
        parent: LexborNode | None = img.parent
        depth = 0
        while parent is not None and depth < 6:
            if parent.tag == "a":
                linked = (parent.attributes.get("href") or "").strip() or None
                break
            parent = parent.parent
            depth += 1
        remote = src.lower().startswith(("http:", "https:", "//"))
        out.images.append(Image(src=src, host=host_of(src) if remote else "", width=width, height=height,
                                linked_to=linked))
    # Background images load remotely as well.
    for node in tree.css("[background]"):
        src = node.attributes.get("background") or ""
        if src.lower().startswith(("http:", "https:", "//")):
            out.images.append(Image(src=src, host=host_of(src), width=None, height=None, linked_to=None))
    formatting = len(tree.css(",".join(_FORMATTING_TAGS)))
    for node in tree.css("[style]"):
        style = node.attributes.get("style") or ""
        formatting += 1 if any(k in style.lower() for k in ("color", "font", "bold", "italic",
                                                             "underline", "background")) else 0
        for m in _COLOR.finditer(style):
            out.html_colors.add(m.group(1).strip().lower())
        for m in _FONT_SIZE.finditer(style):
            size = float(m.group(1)) if m.group(1).replace(".", "", 1).isdigit() else 0.0
            unit = (m.group(2) or "px").lower()
            px = size * (16 if unit in ("em", "rem") else 1.333 if unit == "pt" else 1)
            out.html_max_font_px = max(out.html_max_font_px, px)
    for node in tree.css("font[color]"):
        out.html_colors.add((node.attributes.get("color") or "").strip().lower())
    out.html_formatting += formatting
    body = tree.body or tree.root
    text = body.text(deep=True, separator="\n", strip=False) if body is not None else ""
    out.html_text = (out.html_text + "\n\n" + text) if out.html_text else text
    # The same document without quoted material, for replies.
    removed = False
    for selector in _QUOTE_SELECTORS:
        for node in tree.css(selector):
            if selector in ("#divRplyFwdMsg", "#appendonsend"):
                sibling = node.next
                while sibling is not None:
                    following = sibling.next
                    sibling.decompose()
                    sibling = following
            node.decompose()
            removed = True
    own = (body.text(deep=True, separator="\n", strip=False) if body is not None else "") if removed else text
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


def strip_quoted(text: str) -> str:
    """Cut at the first quote header and drop '>' lines: what remains is the sender's own text."""
    if not text:
        return text
    m = _QUOTE_START.search(text, timeout=0.5) if len(text) < 2_000_000 else None
    if m is not None:
        text = text[: m.start()]
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith(">"))


# --------------------------------------------------------------------------------------------------
# Reading a message

_MAX_DEPTH = 20
_MAX_PARTS = 500


def _payload_bytes(part: email.message.Message, out: MessageContent) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except (binascii.Error, ValueError, TypeError, AssertionError) as exc:
        out.problems.append(f"undecodable part: {exc}")
        raw = part.get_payload()
        return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    if isinstance(data, bytes):
        return data
    return b""


def _filename(part: email.message.Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:
        return ""
    if isinstance(name, tuple):  # RFC 2231 triple
        try:
            name = email.utils.collapse_rfc2231_value(name)
        except Exception:
            name = str(name[2])
    return decode_header_value(name)


def _walk(part: email.message.Message, out: MessageContent, depth: int, counter: list[int]) -> None:
    counter[0] += 1
    if depth > _MAX_DEPTH or counter[0] > _MAX_PARTS:
        out.problems.append("MIME structure too deep or too many parts")
        return
    try:
        ctype = part.get_content_type()
    except Exception:
        ctype = "text/plain"
    maintype = ctype.split("/", 1)[0]
    if maintype == "multipart":
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, email.message.Message):
                    _walk(sub, out, depth + 1, counter)
        else:
            out.problems.append("multipart without parts")
            if isinstance(payload, str) and payload.strip():
                out.plain_text += "\n" + payload
        return
    filename = _filename(part)
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:
        disposition = ""
    if maintype == "message":
        inner = part.get_payload()
        size = 0
        if isinstance(inner, list):
            size = sum(len(m.as_bytes()) for m in inner if isinstance(m, email.message.Message))
        out.attachments.append(Attachment(filename=filename or "message.eml", declared_type=ctype,
                                          sniffed_type="message/rfc822", size=size, kind="other"))
        return
    data = _payload_bytes(part, out)
    is_body = ctype in ("text/plain", "text/html") and disposition != "attachment" and not (
        filename and disposition == "inline" and ctype != "text/html")
    if is_body:
        try:
            charset = part.get_content_charset()
        except Exception:
            charset = None
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


_TEXT_URL = regex.compile(
    r"(?i)(?<![@\w.-])(?:(?:https?|ftp)://[^\s<>\"'`]+|www\d?\.[^\s<>\"'`]+"
    r"|(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|org|info|biz|shop|store|online|site|eu|de|at|ch"
    r"|fr|it|es|nl|be|pl|se|co\.uk|uk|io|me|app|link|ly|gl|to|page|web|click|top|xyz)(?![\w-])(?:/[^\s<>\"'`]*)?)"
)


def text_links(text: str) -> list[Link]:
    """URLs and bare domains written in text, after invisible characters are removed."""
    found: list[Link] = []
    clean = strip_invisible(text)
    for m in _TEXT_URL.finditer(clean, timeout=1.0):
        url = m.group(0).rstrip(".,;:!?)]}'\"")
        host = host_of(url)
        if host and "." in host:
            found.append(Link(url=url, host=host.lower(), source="text"))
    return found


def read_message(raw: bytes) -> MessageContent:
    """Decode everything a rule may need. Never raises: problems are listed on the result."""
    out = MessageContent()
    try:
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
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
        _walk(msg, out, 0, [0])
    except RecursionError:
        out.problems.append("MIME structure too deep")
    except Exception as exc:
        out.problems.append(f"MIME decoding stopped: {exc}")
    if out.plain_text:
        out.links.extend(text_links(out.plain_text))
    if out.html_text:
        out.links.extend(text_links(out.html_text))
    return out
