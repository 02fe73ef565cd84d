"""A small MIME writer for the evaluation corpus: every byte of the output is chosen here.

The standard library's generator re-encodes bodies its own way (base64 for every utf-8 part, its
own boundaries); ERPs do not. This writer lets a message say exactly which charset and transfer
encoding each part uses (utf-8, iso-8859-1/15, windows-1252, iso-2022-jp, shift_jis; 7bit, 8bit,
quoted-printable, base64) and which boundary style its sender has (JavaMail, PHPMailer, Outlook,
.NET), so the corpus looks like what the gateway receives.

It also writes small real PDF documents (one or more pages of text) for invoice attachments.
"""

from __future__ import annotations

import base64
import email.header
import quopri
import zlib
from dataclasses import dataclass, field

CRLF = b"\r\n"


@dataclass
class Leaf:
    """One body part. ``text`` is encoded with ``charset``; ``data`` is sent as it is."""

    content_type: str
    text: str | None = None
    data: bytes | None = None
    charset: str | None = None
    cte: str = "7bit"
    filename: str | None = None
    disposition: str | None = None
    content_id: str | None = None
    extra_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Multi:
    subtype: str
    parts: list[Leaf | Multi]
    boundary: str
    extra_params: str = ""


def header_value(value: str, charset: str = "utf-8") -> str:
    """RFC 2047 encoded-words for non-ASCII header text, in the sender's charset."""
    if value.isascii():
        return value
    try:
        value.encode(charset)
    except (UnicodeEncodeError, LookupError):
        charset = "utf-8"
    return email.header.Header(value, charset=charset).encode(linesep="\r\n")


def address(display: str, addr: str, charset: str = "utf-8") -> str:
    if not display:
        return addr
    if display.isascii():
        if any(ch in display for ch in ',.;:()<>@"'):
            display = '"' + display.replace('"', "") + '"'
        return f"{display} <{addr}>"
    return f"{header_value(display, charset)} <{addr}>"


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _qp(data: bytes) -> bytes:
    encoded = quopri.encodestring(data.replace(b"\r\n", b"\n"), quotetabs=False)
    return _crlf(encoded)


def _b64(data: bytes) -> bytes:
    return _crlf(base64.encodebytes(data))


def _body_bytes(leaf: Leaf) -> bytes:
    if leaf.text is not None:
        charset = leaf.charset or "utf-8"
        raw = leaf.text.encode(charset)
    else:
        raw = leaf.data or b""
    if leaf.cte == "base64":
        return _b64(raw)
    if leaf.cte == "quoted-printable":
        return _qp(raw)
    if leaf.cte == "7bit" and not raw.isascii():
        raise ValueError(f"7bit part with 8-bit content ({leaf.content_type}, {leaf.charset})")
    body = _crlf(raw)
    if any(len(line) > 998 for line in body.split(CRLF)):
        raise ValueError("line longer than 998 octets in a 7bit/8bit part")
    return body


def _leaf_headers(leaf: Leaf) -> list[tuple[str, str]]:
    ctype = leaf.content_type
    if leaf.charset and ctype.startswith("text/"):
        ctype += f'; charset="{leaf.charset}"' if leaf.charset.islower() else f"; charset={leaf.charset}"
    if leaf.filename:
        ctype += f'; name="{leaf.filename}"'
    headers = [("Content-Type", ctype), ("Content-Transfer-Encoding", leaf.cte)]
    if leaf.disposition:
        disp = leaf.disposition
        if leaf.filename:
            disp += f'; filename="{leaf.filename}"'
        headers.append(("Content-Disposition", disp))
    if leaf.content_id:
        headers.append(("Content-ID", f"<{leaf.content_id}>"))
    headers.extend(leaf.extra_headers)
    return headers


def _fold(name: str, value: str) -> bytes:
    """Header line, folded at spaces (RFC 5322 2.2.3) so no line exceeds 78 characters where possible."""
    line = f"{name}: {value}"
    if len(line) <= 78 or "\r\n" in value:
        return line.encode("ascii", "strict")
    out: list[str] = []
    current = ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > 76:
            out.append(current)
            current = " " + word
        else:
            current = f"{current} {word}" if current else word
    out.append(current)
    return "\r\n".join(out).encode("ascii")


def _render(part: Leaf | Multi) -> tuple[list[tuple[str, str]], bytes]:
    if isinstance(part, Leaf):
        return _leaf_headers(part), _body_bytes(part)
    ctype = f'multipart/{part.subtype};\r\n boundary="{part.boundary}"{part.extra_params}'
    chunks: list[bytes] = []
    if part.subtype == "mixed":
        chunks.append(b"This is a multi-part message in MIME format.\r\n")
    for child in part.parts:
        headers, body = _render(child)
        chunks.append(b"--" + part.boundary.encode() + CRLF)
        chunks.append(b"".join(_fold(k, v) + CRLF for k, v in headers))
        chunks.append(CRLF + body)
        if not body.endswith(CRLF):
            chunks.append(CRLF)
    chunks.append(b"--" + part.boundary.encode() + b"--" + CRLF)
    return [("Content-Type", ctype)], b"".join(chunks)


def message(headers: list[tuple[str, str]], root: Leaf | Multi) -> bytes:
    """The whole message: the given top headers, MIME-Version, then the root part."""
    part_headers, body = _render(root)
    lines = [_fold(k, v) for k, v in headers]
    lines.append(b"MIME-Version: 1.0")
    lines.extend(_fold(k, v) for k, v in part_headers)
    return CRLF.join(lines) + CRLF + CRLF + body


# --------------------------------------------------------------------------------------------------
# PDF


def _pdf_escape(text: str) -> bytes:
    raw = text.encode("cp1252", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def pdf(title: str, lines: list[str], author: str = "", compress: bool = True) -> bytes:
    """A real PDF 1.4 document: A4 pages of Helvetica text (WinAnsi), a correct xref table.

    Readers (and the gateway's type sniffing) accept it; text extractors get the lines back.
    """
    per_page = 52
    pages = [lines[i:i + per_page] for i in range(0, max(len(lines), 1), per_page)] or [[]]
    objects: list[bytes] = []
    # 1 catalog, 2 pages, 3 font, 4 info, then (page, content) pairs
    page_ids = [5 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % p for p in page_ids)
                   + b"] /Count %d >>" % len(pages))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    objects.append(b"<< /Title (" + _pdf_escape(title) + b") /Author (" + _pdf_escape(author)
                   + b") /Producer (" + _pdf_escape(author or "PDF") + b") >>")
    for i, page_lines in enumerate(pages):
        stream = [b"BT", b"/F1 10 Tf", b"12 TL", b"56 790 Td"]
        if i == 0:
            stream += [b"/F1 14 Tf", b"(" + _pdf_escape(title) + b") Tj", b"T*", b"/F1 10 Tf", b"T*"]
        for line in page_lines:
            stream.append(b"(" + _pdf_escape(line) + b") '")
        stream.append(b"ET")
        content = b"\n".join(stream)
        if compress:
            packed = zlib.compress(content, 9)
            content_obj = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream"
        else:
            content_obj = b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
                       b" /Contents %d 0 R >>" % (page_ids[i] + 1))
        objects.append(content_obj)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_logo(width: int = 120, height: int = 40, rgb: tuple[int, int, int] = (30, 60, 110)) -> bytes:
    """A small solid-colour PNG, the size of a shop logo in a mail header."""
    import struct

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(row * height, 9)) + _png_chunk(b"IEND", b""))
