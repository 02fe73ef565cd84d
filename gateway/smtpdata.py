"""Reading the message data of DATA: dot-unstuffing, bare line endings, size and long lines.

aiosmtpd's own reader refuses a line longer than 1000 octets (after the whole message is in, and
for good), counts dot-stuffing toward the size limit and passes bare CR and LF through. This one
follows Postfix instead:

- end of data is ``<CRLF>.<CRLF>`` and nothing else (no ``<LF>.<LF>``, ``<CR>.<CR>``, ...), which
  keeps SMTP smuggling closed;
- a bare LF or CR inside the data is either a line ending, like Postfix 3.9's
  ``smtpd_forbid_bare_newline = normalize`` (the default), or the reason to refuse the message
  with 550 5.6.0 (``reject``). CRs right before a line ending are dropped, as Postfix does;
- the size limit counts the message as stored: without the dots of dot-stuffing;
- lines of any length are taken (up to the size limit), and lines longer than 998 octets are
  broken so what the gateway relays is valid SMTP again: header lines at a space where one is
  available (RFC 5322 folding, which does not change the header's value), otherwise, like
  Postfix's ``smtp_line_length_limit``, by inserting ``<CRLF><SPACE>``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Literal

from gateway import replies

BareLineEndings = Literal["normalize", "reject"]

# RFC 5321 4.5.3.1.6: 1000 octets per line including CRLF.
MAX_LINE = 998
_LONG_LINE = re.compile(rb"[^\r\n]{%d}" % (MAX_LINE + 1))
_HEADER_FIELD = re.compile(rb"[!-9;-~]+:")


@dataclass(frozen=True)
class MessageData:
    """What DATA brought: the message (None when refused) or the reply refusing it."""

    data: bytes | None
    refusal: str | None = None
    size: int = 0
    bare_line_endings: int = 0
    long_lines: bool = False


def _bare_split(body: bytes) -> list[bytes]:
    """A line holding bare LF or CR, split into the lines they end (CRs before an LF dropped)."""
    out: list[bytes] = []
    for piece in body.split(b"\n"):
        out.extend(piece.rstrip(b"\r").split(b"\r"))
    return out


def normalize_line_endings(data: bytes) -> bytes:
    """``data`` (dot-unstuffed CRLF lines) with every bare LF or CR made a line ending; the lines
    that begin after one are dot-unstuffed too, as the client stuffed them."""
    out: list[bytes] = []
    for line in data.split(b"\r\n"):
        if b"\r" not in line and b"\n" not in line:
            out.append(line)
            continue
        first, *rest = _bare_split(line)
        out.append(first)
        out.extend(text[1:] if text[:1] == b"." else text for text in rest)
    return b"\r\n".join(out)


def count_bare_line_endings(data: bytes) -> int:
    """Bare CRs plus bare LFs: every CRLF holds one of each, any surplus is bare (C-speed counts)."""
    crlf = data.count(b"\r\n")
    return data.count(b"\r") - crlf + data.count(b"\n") - crlf


_TERMINATOR = b"\r\n.\r\n"
# Bytes asked of the stream at a time: what the transport has buffered, up to this.
_CHUNK = 1 << 16


def _unstuff(segment: bytes, at_line_start: bool) -> bytes:
    """``segment`` (ending at a CRLF, or mid-line) without the dots of dot-stuffing: one dot off
    every line that begins with one (RFC 5321 4.5.2), in two C-speed passes instead of a Python
    loop over lines."""
    if at_line_start and segment[:1] == b".":
        segment = segment[1:]
    return segment.replace(b"\r\n.", b"\r\n") if b"\r\n." in segment else segment


def _unread(reader: asyncio.StreamReader, data: bytes) -> None:
    """Put ``data`` back in front of what the stream holds (it follows the message: the client's
    next command). StreamReader has no public way; aiosmtpd touches the same buffer."""
    if data:
        reader._buffer[:0] = data  # type: ignore[attr-defined]


async def read_data(reader: asyncio.StreamReader, *, max_size: int | None,
                    bare_line_endings: BareLineEndings = "normalize") -> MessageData:
    """Read DATA up to ``<CRLF>.<CRLF>`` (the 354 is already sent).

    The whole data is always read, even when it is refused, so the session stays in step: what
    follows is the client's next command. Raises ConnectionResetError when the client goes away.
    The stream is read in chunks (what has arrived, up to 64 KB), searched for the end of data
    and unstuffed with bytes methods; a chunk is taken up to its last line end, so a line start
    (a stuffed dot, the final dot) is never split. Bare line endings and long lines are dealt
    with once the data is in, on the whole message (they are rare).
    """
    limit = max_size or 0
    parts: list[bytes] = []
    size = 0  # octets as stored (without stuffing)
    too_big = False
    at_line_start = True  # ``buf`` begins at the start of a line
    long_lines = False
    carry = 0  # length of the line the last segment ended in (0 after a line end)
    buf = b""
    while True:
        if at_line_start and buf[:3] == b".\r\n":
            _unread(reader, buf[3:])
            break
        end = buf.find(_TERMINATOR)
        if end >= 0:
            segment, rest = buf[:end + 2], buf[end + 5:]
            at_end = True
        else:
            cut = buf.rfind(b"\r\n") + 2
            if cut < 2:  # no line end in it: all but a CR that may begin one
                cut = len(buf) - (buf[-1:] == b"\r")
            segment, rest = buf[:cut], buf[cut:]
            at_end = False
        if segment:
            piece = _unstuff(segment, at_line_start)
            size += len(piece)
            if limit and size > limit:
                too_big = True
                parts.clear()
            if not too_big:
                parts.append(piece)
                if not long_lines:
                    lines = piece.split(b"\r\n")
                    long_lines = carry + len(lines[0]) > MAX_LINE or (
                        len(lines) > 2 and max(map(len, lines[1:-1])) > MAX_LINE)
                    carry = carry + len(piece) if len(lines) == 1 else len(lines[-1])
            at_line_start = segment.endswith(b"\r\n")
        if at_end:
            _unread(reader, rest)
            break
        chunk = await reader.read(_CHUNK)
        if not chunk:
            raise ConnectionResetError("connection closed during DATA")
        buf = rest + chunk if rest else chunk
    data = b"".join(parts)
    parts.clear()
    bare = count_bare_line_endings(data) if not too_big else 0
    if bare and bare_line_endings == "reject":
        return MessageData(None, replies.BARE_LINE_ENDING, size, bare, long_lines)
    if bare:
        data = normalize_line_endings(data)
    if too_big or (limit and len(data) > limit):
        return MessageData(None, replies.MESSAGE_TOO_BIG.format(limit=limit), size, bare, long_lines)
    if long_lines:
        broken = break_long_lines(data)
        long_lines = broken is not data
        data = broken
    return MessageData(data, None, len(data), bare, long_lines)


def has_long_line(data: bytes) -> bool:
    return _LONG_LINE.search(data) is not None


def _fold_header_line(line: bytes) -> list[bytes]:
    """One over-long header line as several, each at most MAX_LINE octets."""
    out: list[bytes] = []
    while len(line) > MAX_LINE:
        # The last space or tab that leaves a non-empty first part and fits the limit.
        cut = max(line.rfind(b" ", 1, MAX_LINE + 1), line.rfind(b"\t", 1, MAX_LINE + 1))
        if cut <= 0 or not line[:cut].strip(b" \t"):
            out.append(line[:MAX_LINE])
            line = b" " + line[MAX_LINE:]
        else:
            out.append(line[:cut])
            line = line[cut:]  # the continuation starts with the whitespace: unfolding restores it
    out.append(line)
    return out


def _break_body_line(line: bytes) -> list[bytes]:
    """Postfix's smtp_line_length_limit: pieces of MAX_LINE octets joined by CRLF SPACE."""
    out = [line[:MAX_LINE]]
    rest = line[MAX_LINE:]
    step = MAX_LINE - 1
    while rest:
        out.append(b" " + rest[:step])
        rest = rest[step:]
    return out


def break_long_lines(data: bytes) -> bytes:
    """``data`` (CRLF lines) with no line longer than MAX_LINE octets; unchanged when none is."""
    if not has_long_line(data):
        return data
    out: list[bytes] = []
    in_header = True
    for line in data.split(b"\r\n"):
        if in_header and (not line or not (_HEADER_FIELD.match(line) or line[:1] in (b" ", b"\t"))):
            in_header = False
        if len(line) <= MAX_LINE:
            out.append(line)
        elif in_header:
            out.extend(_fold_header_line(line))
        else:
            out.extend(_break_body_line(line))
    return b"\r\n".join(out)
