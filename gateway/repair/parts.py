"""The text leaves of a message's MIME tree as byte offsets, and their bodies decoded and encoded
again with their own charset and transfer encoding (so that only the edited bytes change)."""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

from gateway.message.mime import header_end, parse_headers


@dataclass(frozen=True, slots=True)
class TextLeaf:
    path: str
    ctype: str
    charset: str
    cte: str
    start: int
    end: int
    eol: bytes


def text_leaves(raw: bytes, start: int = 0, end: int | None = None, path: str = "1",
            depth: int = 0) -> Iterator[TextLeaf]:
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
            yield from text_leaves(raw, s, e, f"{path}.{i}" if depth else str(i), depth + 1)
        return
    if ctype not in ("text/plain", "text/html"):
        return
    disposition = (headers.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
    if disposition == "attachment":
        return
    yield TextLeaf(path, ctype, headers.get_content_charset() or "us-ascii",
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


def decode_body(body: bytes, cte: str, charset: str) -> str | None:
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


def encode_body(text: str, cte: str, charset: str, eol: bytes) -> bytes | None:
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

