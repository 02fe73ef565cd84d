"""The decoded message: what every reader of a message (policy, order ids, bounces, review) gets."""

from __future__ import annotations

import email.message
from dataclasses import dataclass, field
from typing import Literal

from gateway.message.quotes import strip_quoted

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


@dataclass(frozen=True, slots=True)
class Part:
    """One leaf of a message's MIME tree (see ``mime.walk_parts``)."""

    headers: email.message.Message
    content_type: str
    """Lower-cased type/subtype; text/plain where the header is missing or broken."""
    data: bytes
    """The body with its Content-Transfer-Encoding undone (as written for an unsplittable multipart)."""
    depth: int


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
    contact_links: list[str] = field(default_factory=list)
    """``mailto:`` and ``tel:`` targets of HTML links."""
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
