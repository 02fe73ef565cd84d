"""The headers the gateway adds to a message it accepts: Received (RFC 5321 4.4), and Message-ID and
Date when the submitting client left them out (RFC 5322 3.6: Date is required, Message-ID should be
there; ERPs without a mail library of their own often omit both).

The Received header reads like Postfix's, so hop analysis and abuse tracing treat this hop like
any other::

    Received: from erp.shop.example (erp.shop.example [192.0.2.10])
            (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))
            (Authenticated sender: erp)
            by gateway.example (Seller Mail Gateway) with ESMTPSA id 0005F1A2B3C4D5E6A1B2C3
            for <buyer@example.com>; Tue, 01 Dec 2026 10:32:38 +0000

The authenticated user appears only when configured (Postfix's smtpd_sasl_authenticated_header,
off by default). Everything from the client (HELO name, user) is reduced to printable ASCII with
balanced parentheses, so it cannot break out of its comment or inject a header line. Headers are
only ever added at the top (Received) or the end of the header block (Message-ID, Date): the body
and every existing header stay byte for byte as the client sent them.
"""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

MAIL_NAME = "Seller Mail Gateway"

_FIELD_NAME = re.compile(rb"([!-9;-~]+):")
_MESSAGE_ID = b"message-id"
_DATE = b"date"


@dataclass(frozen=True)
class ClientInfo:
    """What the Received header tells about the client and the session."""

    helo: str
    address: str
    name: str = "unknown"  # the client's verified reverse-DNS name, as Postfix prints it
    tls_version: str | None = None
    tls_cipher: str | None = None
    tls_bits: int | None = None
    auth_user: str | None = None
    esmtp: bool = True
    smtputf8: bool = False


_last_date: tuple[int, str] = (-1, "")


def rfc5322_date(now: float | None = None) -> str:
    """``Tue, 01 Dec 2026 10:32:38 +0000`` (formatted once a second: every message's Received
    header asks, and formatting costs ~12 µs)."""
    global _last_date
    second = int(time.time() if now is None else now)
    cached = _last_date
    if cached[0] == second:
        return cached[1]
    text = email.utils.format_datetime(datetime.fromtimestamp(second, UTC))
    _last_date = (second, text)
    return text


_PLAIN_COMMENT = re.compile(r"[ !-'*-\[\]-~]*")  # printable ASCII without ( ) and backslash
_PLAIN_TOKEN = re.compile(r"[!-'*-:<-\[\]-~]+")  # ... and without space and ';' either


def _comment_safe(text: str) -> str:
    """Printable ASCII without backslashes; unbalanced parentheses neutralised (as Postfix does)."""
    if _PLAIN_COMMENT.fullmatch(text):
        return text
    out: list[str] = []
    depth = 0
    for ch in text:
        if not (" " <= ch <= "~") or ch == "\\":
            out.append("?")
        elif ch == "(":
            depth += 1
            out.append(ch)
        elif ch == ")":
            if depth:
                depth -= 1
                out.append(ch)
            else:
                out.append("?")
        else:
            out.append(ch)
    return "".join(out) + ")" * depth


def _token_safe(text: str) -> str:
    """A HELO name or address as one token: no space, parenthesis or ';' that would end it."""
    if _PLAIN_TOKEN.fullmatch(text):
        return text
    safe = _comment_safe(text)
    return "".join("?" if ch in " ();" else ch for ch in safe) or "unknown"


def protocol_name(client: ClientInfo) -> str:
    """RFC 3848 / RFC 6531 ``with`` keyword: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTPSA, ..."""
    if not client.esmtp:
        return "SMTP"
    name = "UTF8SMTP" if client.smtputf8 else "ESMTP"
    if client.tls_version:
        name += "S"
    if client.auth_user:
        name += "A"
    return name


def received_header(client: ClientInfo, *, hostname: str, queue_id: str, recipients: list[str],
                    show_auth_user: bool, now: float | None = None) -> bytes:
    """The Received header (with its CRLF) for a message this gateway accepts."""
    address = client.address
    literal = f"IPv6:{address}" if ":" in address else address
    lines = [f"Received: from {_token_safe(client.helo)} ({_token_safe(client.name)} [{_token_safe(literal)}])"]
    if client.tls_version and client.tls_cipher:
        bits = f" ({client.tls_bits}/{client.tls_bits} bits)" if client.tls_bits else ""
        lines.append(f"\t(using {_token_safe(client.tls_version)} with cipher "
                     f"{_token_safe(client.tls_cipher)}{bits})")
    if show_auth_user and client.auth_user:
        lines.append(f"\t(Authenticated sender: {_comment_safe(client.auth_user)})")
    by = f"\tby {_token_safe(hostname)} ({MAIL_NAME}) with {protocol_name(client)} id {queue_id}"
    date = rfc5322_date(now)
    if len(recipients) == 1 and recipients[0].isascii() and _comment_safe(recipients[0]) == recipients[0]:
        lines.append(by)
        lines.append(f"\tfor <{recipients[0]}>; {date}")
    else:
        lines.append(by + ";")
        lines.append(f"\t{date}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _header_block_end(data: bytes) -> tuple[int, set[bytes], bool]:
    """Where the header block ends (the offset of its blank line, or of the first line that is no
    header), the lower-cased field names in it, and whether a blank line ends it."""
    names: set[bytes] = set()
    pos = 0
    size = len(data)
    while pos < size:
        end = data.find(b"\r\n", pos)
        line_end = size if end < 0 else end
        line = data[pos:line_end]
        if not line:
            return pos, names, True
        if line[:1] in (b" ", b"\t") and names:
            pass  # a continuation of the previous field
        else:
            match = _FIELD_NAME.match(line)
            if match is None:
                return pos, names, False
            names.add(match.group(1).lower())
        if end < 0:
            return size, names, False
        pos = end + 2
    return pos, names, False


def missing_headers(data: bytes, *, hostname: str, queue_id: str, now: float | None = None,
                    names: set[bytes] | None = None) -> bytes:
    """The Message-ID and Date fields ``data`` lacks, as header lines (empty when it has both)."""
    if names is None:
        _end, names, _blank = _header_block_end(data)
    out = b""
    if _MESSAGE_ID not in names:
        out += f"Message-ID: <{queue_id}@{_token_safe(hostname)}>\r\n".encode("ascii")
    if _DATE not in names:
        out += f"Date: {rfc5322_date(now)}\r\n".encode("ascii")
    return out


def add_trace_headers(data: bytes, received: bytes, *, add_missing: bool, hostname: str,
                      queue_id: str, now: float | None = None) -> bytes:
    """``data`` with ``received`` on top and, if ``add_missing``, Message-ID and Date at the end
    of its header block. Nothing else changes."""
    if not add_missing:
        return received + data
    end, names, blank = _header_block_end(data)
    extra = missing_headers(data, hostname=hostname, queue_id=queue_id, now=now, names=names)
    if not extra:
        return received + data
    head, tail = data[:end], data[end:]
    if head and not head.endswith(b"\r\n"):
        head += b"\r\n"  # a message that is all header and no final CRLF
    if not blank and tail:
        extra += b"\r\n"  # the body began without the blank line: keep it a body
    return received + head + extra + tail
