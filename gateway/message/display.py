"""A message as a person reads it (the review pages, ``gateway quarantine show``, a bounce's evidence):
its leaf parts numbered as mail programs number them for download, each body's decoded text, and
HTML as text with link targets and image sources written out (a rule may have judged them).

Built on the one reader: the MIME walk, its bounds and the transfer decoding are ``mime.walk_parts``'s,
charsets ``text.decode_bytes``'s (the declared charset, else UTF-8, else cp1252: the text the rules
judged). Never raises; CPU work on untrusted bytes, so callers run it in a worker thread.
"""

from __future__ import annotations

import email.message
import re
from collections.abc import Iterator
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from gateway.message.html import bounded_html
from gateway.message.mime import part_filename, part_param, split_head, walk_parts
from gateway.message.model import MessageContent, Part
from gateway.message.text import decode_bytes

_ATTACHED_MESSAGES = frozenset({"message/rfc822", "message/global"})
_NOT_TEXT = ["script", "style", "head", "title", "template", "noscript"]
_LINE_BREAKS = "br, p, div, li, tr, h1, h2, h3, h4, table"
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class LeafPart:
    """One leaf of the MIME tree, as a reviewer sees it in the part list."""

    index: int
    """Its number in document order (attached messages' parts included): what a download names."""
    content_type: str
    filename: str | None
    disposition: str
    """``inline`` when the part does not say."""
    charset: str | None
    data: bytes
    """The decoded body (transfer encoding undone)."""

    @property
    def is_body_text(self) -> bool:
        """A text/plain or text/html part that is not an attachment: what the preview shows as text."""
        return self.content_type in ("text/plain", "text/html") and self.disposition != "attachment"

    def text(self) -> str:
        return decode_bytes(self.data, self.charset)


def _walk(headers: email.message.Message, body: bytes, sink: MessageContent, depth: int,
          counter: list[int]) -> Iterator[Part]:
    for part in walk_parts(headers, body, sink, depth, counter):
        if part.content_type in _ATTACHED_MESSAGES:
            # Mail programs list an attached message's own parts (the container is no leaf).
            inner, inner_body = split_head(part.data)
            yield from _walk(inner, inner_body, sink, part.depth + 1, counter)
        else:
            yield part


def _disposition(headers: email.message.Message) -> str:
    value = headers.get("content-disposition")
    return (str(value).split(";", 1)[0].strip().lower() if value is not None else "") or "inline"


def leaf_parts(raw: bytes) -> list[LeafPart]:
    """Every leaf part of ``raw`` in document order, attached messages' parts included."""
    sink = MessageContent()
    try:
        headers, body = split_head(raw)
        parts = list(_walk(headers, body, sink, 0, [0]))
    except Exception:  # the walk is lenient and bounded; this is the last line of defence
        return []
    return [LeafPart(index, p.content_type, part_filename(p) or None, _disposition(p.headers),
                     part_param(p, "charset") or None, p.data)
            for index, p in enumerate(parts)]


def html_body(raw: bytes) -> LeafPart | None:
    """The message's HTML body, as its mail program shows it: the first text/html part that is not an
    attachment, outside attached messages; None without one."""
    sink = MessageContent()
    try:
        headers, body = split_head(raw)
        for p in walk_parts(headers, body, sink, 0, [0]):
            disposition = _disposition(p.headers)
            if p.content_type == "text/html" and disposition != "attachment":
                return LeafPart(0, p.content_type, part_filename(p) or None, disposition,
                                part_param(p, "charset") or None, p.data)
    except Exception:
        return None
    return None


def html_as_text(html: str) -> str:
    """The text of an HTML body as a browser lays it out (no scripts, styles or head), with a line
    break before each block and line-break element, each link's target written ``<url>`` before its
    text and each image as ``[image: src]``; nothing is fetched. Read within the reader's limits
    (``HTML_LIMITS``: nesting, elements, size); where they cut, the text ends ``[... not read]``."""
    sink = MessageContent()
    tree = LexborHTMLParser(bounded_html(html, sink))
    for img in tree.css("img"):
        img.replace_with(f" [image: {img.attributes.get('src') or '(no source)'}] ")
    for anchor in tree.css("a[href]"):
        href = anchor.attributes.get("href")
        if href:
            anchor.insert_before(f" <{href}> ")
    for node in tree.css(_LINE_BREAKS):
        node.insert_before("\n")
    tree.strip_tags(_NOT_TEXT)
    body = tree.body or tree.root
    text = _BLANK_RUNS.sub("\n\n", body.text(deep=True, separator="", strip=False) if body is not None else "")
    return text.strip() + ("\n[... not read: " + "; ".join(sink.problems) + "]" if sink.truncated else "")
