"""One SMTP transaction: the envelope, the raw bytes, and lazily parsed header facts.

Also the one place that says what an acceptable envelope address and acceptable message data
are: the listener refuses what fails here, and the spool refuses to store it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from email.message import Message
from functools import cached_property

from gateway import replies
from gateway.classify import MarketplaceRecipient
from gateway.message import parse_headers


def header_block_end(data: bytes) -> int:
    """The offset just past the blank line ending the header block (``len(data)`` without one).
    Two finds instead of a regex scan: the listener's data has CRLF line ends, a stored message
    may have LF."""
    ends = [i + n for i, n in ((data.find(b"\r\n\r\n"), 4), (data.find(b"\n\n"), 2),
                               (data.find(b"\n\r\n"), 3)) if i >= 0]
    return min(ends) if ends else len(data)

# What no envelope address may hold: aiosmtplib silently truncates an address at CR or LF, so one
# with them must never be stored or relayed.
FORBIDDEN_ADDRESS_CHARS = frozenset("\r\n\x00")
# The null reverse-path as aiosmtpd hands it over (MAIL FROM:<>).
NULL_SENDER = "<>"

# RFC 5321 4.1.2 with RFC 6531's UTF-8 additions. Syntax only, as an MTA checks it: special-use
# names (.local, .test, localhost) are fine here. Like Postfix, a dot-string local part may have
# leading, trailing or doubled dots (old Japanese mobile carriers issued such addresses).
_UTF8 = "\u0080-\U0010ffff"
_ATEXT = "-A-Za-z0-9!#$%&'*+/=?^_`{|}~" + _UTF8
_LOCAL_DOT = re.compile(f"[{_ATEXT}.]+")
_LOCAL_QUOTED = re.compile(f'"(?:[ !#-\\[\\]-~{_UTF8}]|\\\\[ -~])*"')
# Underscores are not in the RFC's grammar but do occur in (internal) host names; Postfix takes them.
_LABEL = re.compile(f"[A-Za-z0-9_{_UTF8}](?:[A-Za-z0-9_{_UTF8}-]*[A-Za-z0-9_{_UTF8}])?")
_GENERAL_LITERAL = re.compile("[A-Za-z0-9-]*[A-Za-z0-9]:[!-Z^-~]+")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _domain_problem(domain: str) -> str | None:
    if not domain:
        return "no domain after the @-sign"
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        try:
            if literal[:5].upper() == "IPV6:":
                ipaddress.IPv6Address(literal[5:])
            elif ":" in literal:
                if not _GENERAL_LITERAL.fullmatch(literal):
                    return f"bad address literal {domain}"
            else:
                ipaddress.IPv4Address(literal)
        except ValueError:
            return f"bad address literal {domain}"
        return None
    if len(domain.encode("utf-8", "surrogateescape")) > 255:
        return "domain longer than 255 octets"
    for label in domain.split("."):
        if not _LABEL.fullmatch(label):
            return f"bad domain {domain!r}"
    return None


def check_address(address: str, *, allow_empty: bool) -> str | None:
    """None when ``address`` is acceptable in MAIL (``allow_empty``) or RCPT, else the SMTP reply.

    The null sender (``""`` or ``"<>"``) only where ``allow_empty``; ``postmaster`` without a
    domain everywhere (RFC 5321 4.1.1.3); quoted local parts and address literals; non-ASCII per
    RFC 6531. Refused: CR, LF, NUL and other control characters, bytes that are not UTF-8, and
    anything else the RFC 5321 grammar does not allow.
    """
    if FORBIDDEN_ADDRESS_CHARS.intersection(address):
        return replies.BAD_ADDRESS_CHARS
    if address in ("", NULL_SENDER):
        return None if allow_empty else replies.BAD_ADDRESS.format(reason="empty address")
    if _CONTROL.search(address):
        return replies.BAD_ADDRESS.format(reason="control character in address")
    if _NOT_UTF8.search(address):  # aiosmtpd's surrogateescape
        return replies.BAD_ADDRESS.format(reason="address is not valid UTF-8")
    if address.lower() == "postmaster":
        return None
    local, at, domain = address.rpartition("@")
    if not at:
        return replies.BAD_ADDRESS.format(reason="no @-sign and domain (only postmaster may omit them)")
    if not (_LOCAL_DOT.fullmatch(local) or _LOCAL_QUOTED.fullmatch(local)):
        return replies.BAD_ADDRESS.format(reason="bad local part before the @-sign")
    problem = _domain_problem(domain)
    if problem is not None:
        return replies.BAD_ADDRESS.format(reason=problem)
    return None


def envelope_sender(address: str | None) -> str:
    """The reverse-path as stored and relayed: ``""`` for the null sender."""
    return "" if address in (None, NULL_SENDER) else address


def has_bare_line_ending(data: bytes) -> bool:
    """True when DATA holds a CR not followed by LF, or an LF not preceded by CR (SMTP smuggling).

    Counting is C-speed (bytes.count); the regex with its look-behind took ~0.1 s per 10 MB on the
    event loop (and ~12x longer than counting on the spool's GIL-sharing writer thread). Every CR
    is part of a CRLF and every LF too exactly when the three counts agree.
    """
    pairs = data.count(b"\r\n")
    return data.count(b"\r") != pairs or data.count(b"\n") != pairs


@dataclass
class Transaction:
    peer: str
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)
    auth_user: str | None = None
    tenant: str = ""
    # Assigned by the listener: named in the Received header, and the spool's queue id.
    queue_id: str | None = None
    marketplace_recipients: list[MarketplaceRecipient] = field(default_factory=list)

    @cached_property
    def headers(self) -> Message:
        """The header block only (the body may be megabytes and is not needed here), read once by
        the message reader the engine uses (gateway.message.parse_headers): a third of the stdlib
        feed parser's cost, and the same header values the rules see."""
        return parse_headers(self.data[: header_block_end(self.data)])

    def header(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            return ""
        return str(value).replace("\r", "").replace("\n", "").strip()

    @cached_property
    def message_id(self) -> str:
        return self.header("Message-ID")

    @property
    def size(self) -> int:
        return len(self.data)
