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


async def read_data(reader: asyncio.StreamReader, *, max_size: int | None,
                    bare_line_endings: BareLineEndings = "normalize") -> MessageData:
    """Read DATA up to ``<CRLF>.<CRLF>`` (the 354 is already sent).

    The whole data is always read, even when it is refused, so the session stays in step: what
    follows is the client's next command. Raises ConnectionResetError when the client goes away.
    Lines are kept as read (one slice off a stuffed dot); bare line endings and long lines are
    dealt with once the data is in, on the whole message (they are rare).
    """
    limit = max_size or 0
    lines: list[bytes] = []
    partial: list[bytes] = []
    pending = 0  # octets in ``partial``
    size = 0
    too_big = False
    long_lines = False
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as exc:
            # A line longer than the reader's buffer: keep its pieces until its CRLF comes.
            piece = await reader.read(exc.consumed)
            pending += len(piece)
            if limit and size + pending > limit + 1:  # + 1: the line may begin with a stuffed dot
                too_big = True
            if not too_big:
                partial.append(piece)
            continue
        except asyncio.IncompleteReadError:
            raise ConnectionResetError("connection closed during DATA") from None
        if partial:
            line = b"".join((*partial, line))
            partial.clear()
            pending = 0
        elif line == b".\r\n":
            break
        if too_big:
            continue
        if line[:1] == b".":
            line = line[1:]
        size += len(line)
        if len(line) > MAX_LINE + 2:
            long_lines = True
        lines.append(line)
        if limit and size > limit:
            too_big = True
            lines.clear()
    data = b"".join(lines)
    lines.clear()
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
