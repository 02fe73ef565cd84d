"""Reading a report with the one message reader: delivery status notifications (RFC 3464), feedback
reports (RFC 5965) and the plain-text reports of MTAs that write neither.

A report is read for other things than a seller's message is: the text it shows (every text part that
is not inside the returned original, HTML read line by line), the field blocks of its
message/delivery-status and message/feedback-report parts, the headers of the returned original
(message/rfc822 or text/rfc822-headers), and, for a forwarded report, the report inside a message/rfc822
part. The MIME walk, header parsing and transfer decoding are ``mime.walk_parts``'s, with its bounds
(depth and part count shared across nested messages). ``read_report`` never raises.
"""

from __future__ import annotations

import email.message
import re
from dataclasses import dataclass, field

from gateway.message.html import html_lines
from gateway.message.mime import part_param, split_head, walk_parts
from gateway.message.model import MessageContent, Part
from gateway.message.text import decode_header_value

_MSGID = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:[ \t]?")
_BLOCK_GAP = re.compile(r"\n[ \t]*\n")
# Field blocks read from one delivery-status part (one per recipient, and the per-message block):
# a report about more recipients than an SMTP transaction carries is hostile or broken.
MAX_BLOCKS = 2000
# Forwarded reports inside forwarded reports: deeper than this is not read.
MAX_NESTED_REPORTS = 3
_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
# What is read of a returned original's headers (a Received chain is most of them).
_ORIGINAL_HEADERS = frozenset({"message-id", "to", "from", "subject", "x-hmxmroriginalrecipient", "content-type"})
_HEADER_TYPES = frozenset({"text/rfc822-headers", "text/rfc822-header", "message/rfc822-headers",
                           "message/global-headers"})

# When the label does not fit the bytes, these are tried by content, in this order: the label's own
# family first (Japanese mail is mislabelled between JIS, EUC and Shift_JIS), then UTF-8.
_FAMILIES = {
    "iso-2022-jp": ("euc-jp", "cp932"), "iso-2022-jp-1": ("euc-jp", "cp932"),
    "iso-2022-jp-2": ("euc-jp", "cp932"), "csiso2022jp": ("euc-jp", "cp932"),
    "euc-jp": ("cp932", "iso-2022-jp"), "shift_jis": ("cp932", "euc-jp"), "sjis": ("cp932", "euc-jp"),
    "cp932": ("euc-jp",), "windows-31j": ("euc-jp",), "us-ascii": ("iso-2022-jp",),
    "gb2312": ("gb18030",), "gbk": ("gb18030",), "ks_c_5601-1987": ("cp949",), "euc-kr": ("cp949",),
}


def decode_by_content(payload: bytes, label: str | None) -> str:
    """Text from bytes whose charset label may lie (reports are machine-written and often are
    mislabelled): the label if the bytes decode under it without error, else the first candidate of
    its family that does, else UTF-8, else the label with replacement characters."""
    label = (label or "utf-8").lower()
    if payload.isascii() and label in ("utf-8", "us-ascii", "ascii", "iso-8859-1", "latin-1"):
        return payload.decode("ascii")
    for cs in (label, *_FAMILIES.get(label, ()), "utf-8"):
        try:
            return payload.decode(cs)
        except (LookupError, ValueError):  # ValueError: a NUL in the charset name (UnicodeError too)
            continue
    try:
        return payload.decode(label, errors="replace")
    except (LookupError, ValueError):
        return payload.decode("latin-1")


def message_ids_in(value: str | None) -> list[str]:
    """Message-IDs written ``<local@domain>`` in a header or text, without the brackets."""
    return _MSGID.findall(value or "")


def parse_fields(text: str) -> list[tuple[str, str]]:
    """``Name: value`` lines with folded continuations, as lower-cased names and values with their
    white space runs collapsed to one space."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and out:
            name, value = out[-1]
            out[-1] = (name, f"{value} {line.strip()}".strip())
        elif (m := _HEADER_LINE.match(line)) is not None:
            name = line[: line.index(":")].lower()
            out.append((name, " ".join(line[m.end():].split())))
    return out


def split_blocks(text: str, limit: int = MAX_BLOCKS) -> list[list[tuple[str, str]]]:
    """Field blocks separated by blank lines (the layout of a delivery-status part); what follows
    the first ``limit`` chunks is not read."""
    blocks: list[list[tuple[str, str]]] = []
    for chunk in _BLOCK_GAP.split(text, maxsplit=limit)[:limit]:
        fields = parse_fields(chunk)
        if fields:
            blocks.append(fields)
    return blocks


def _per_recipient(blocks: list[list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
    """Split field blocks where a second recipient starts without the blank line RFC 3464 wants."""
    out: list[list[tuple[str, str]]] = []
    for block in blocks:
        current: list[tuple[str, str]] = []
        for name, value in block:
            if name == "final-recipient" and any(n == "final-recipient" for n, _ in current):
                out.append(current)
                current = []
            current.append((name, value))
        out.append(current)
    return out


@dataclass(slots=True)
class Original:
    """Headers of the returned original message (from a message/rfc822 part or inline copy)."""

    message_id: str | None = None
    to: str = ""
    from_: str = ""
    subject: str = ""
    reported_recipient: str = ""
    """Where a complaint loop names the complaining recipient in the copy (Hotmail's JMRP)."""


def _original_from(headers: email.message.Message) -> Original:
    mid = message_ids_in(_header(headers, "Message-ID"))
    return Original(message_id=mid[0] if mid else None, to=_decoded(headers.get("To")),
                    from_=_decoded(headers.get("From")), subject=_decoded(headers.get("Subject")),
                    reported_recipient=_header(headers, "X-HmXmrOriginalRecipient"))


def _decoded(value: object) -> str:
    """``decode_header_value``, without its RFC 2047 parse for the plain ASCII most headers are."""
    if isinstance(value, str) and "=?" not in value and "\r" not in value and value.isascii():
        return value
    return decode_header_value(value)


def _header(headers: email.message.Message, name: str) -> str:
    value = headers.get(name)
    return "" if value is None else str(value)


@dataclass(slots=True)
class ReportContent:
    headers: email.message.Message
    subject: str
    from_: str
    to: str
    content_type: str
    text: str = ""
    """Readable text of the report itself (text parts not inside a returned message), joined."""
    status_blocks: list[list[tuple[str, str]]] = field(default_factory=list)
    """Field blocks of message/delivery-status parts: first the per-message block, then per-recipient."""
    feedback: list[tuple[str, str]] | None = None
    original: Original | None = None
    regions: tuple[str, str] | None = None
    """The text split into the report's explanation and the returned original (left for the report's
    reader to compute once, see ``gateway.bounces.vendors.regions_of``)."""
    problems: list[str] = field(default_factory=list)
    """What the message reader could not decode (the report is still read as far as possible)."""
    _by_name: dict[str, str] | None = None

    def header(self, name: str) -> str:
        """The first header of that name as text ("" if absent), looked up in a table built once."""
        if self._by_name is None:
            table: dict[str, str] = {}
            for key, value in self.headers.raw_items():  # raw: no policy call per header
                table.setdefault(key.lower(), value)
            self._by_name = table
        return self._by_name.get(name.lower(), "")

    def header_names(self) -> set[str]:
        self.header("")
        assert self._by_name is not None
        return set(self._by_name)


@dataclass(slots=True)
class _Reading:
    """What one (possibly nested) report's walk collects."""

    texts: list[str] = field(default_factory=list)
    status_blocks: list[list[tuple[str, str]]] = field(default_factory=list)
    feedback: list[tuple[str, str]] | None = None
    original: Original | None = None
    nested: _Reading | None = None


def _text_of(part: Part) -> str:
    return decode_by_content(part.data, part_param(part, "charset") or None)


def _read(headers: email.message.Message, body: bytes, sink: MessageContent, counter: list[int],
          depth: int, level: int) -> _Reading:
    reading = _Reading()
    for part in walk_parts(headers, body, sink, depth, counter):
        ctype = part.content_type
        if ctype in _STATUS_TYPES:
            reading.status_blocks.extend(_per_recipient(split_blocks(_text_of(part))))
        elif ctype == "message/feedback-report":
            reading.feedback = parse_fields(_text_of(part))
        elif ctype in _MESSAGE_TYPES:
            if reading.original is not None:
                continue
            inner, inner_body = split_head(part.data, _ORIGINAL_HEADERS)
            reading.original = _original_from(inner)
            if inner.get_content_type() == "multipart/report" and level < MAX_NESTED_REPORTS:
                # A forwarded report: the report travels inside a message/rfc822 part.
                reading.nested = _read(inner, inner_body, sink, counter, part.depth + 1, level + 1)
        elif ctype in _HEADER_TYPES:
            if reading.original is None:
                reading.original = _original_from(split_head(part.data, _ORIGINAL_HEADERS)[0])
        elif ctype.startswith(("text/", "multipart/")) or part.depth == depth:
            # (a multipart whose boundary did not parse arrives here as text, and so does a
            # single-part report of any type)
            text = _text_of(part)
            if ctype == "text/html":
                try:
                    text = html_lines(text, sink)
                except Exception as exc:  # selectolax is robust; keep the markup if it is not
                    sink.problems.append(f"unreadable HTML: {exc}")
            reading.texts.append(text)
    return reading


def read_report(raw: bytes) -> ReportContent:
    """Read a report (bytes as received, LF or CRLF line ends). Never raises."""
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
    sink = MessageContent()
    try:
        headers, body = split_head(raw)
    except Exception as exc:  # parse_headers is lenient; this is the last line of defence
        return ReportContent(headers=email.message.Message(), subject="", from_="", to="",
                             content_type="text/plain", text=raw.decode("utf-8", "replace"),
                             problems=[f"unparseable message: {exc}"])
    # A report's own header block is long (Received chains): every stdlib lookup scans all of it.
    # The named headers come from the table built once; the MIME walk gets the Content-* ones alone.
    table: dict[str, str] = {}
    content = email.message.Message()
    for key, value in headers.raw_items():
        lowered = key.lower()
        table.setdefault(lowered, value)
        if lowered.startswith("content-"):
            content.set_raw(key, value)
    try:
        ctype = content.get_content_type()
    except Exception:
        ctype = "text/plain"
    report = ReportContent(headers=headers, subject=_decoded(table.get("subject")),
                           from_=_decoded(table.get("from")), to=_decoded(table.get("to")), content_type=ctype,
                           problems=sink.problems, _by_name=table)
    try:
        reading = _read(content, body, sink, [0], 0, 0)
    except RecursionError:
        sink.problems.append("MIME structure too deep")
        reading = _Reading(texts=[decode_by_content(body, None)])
    texts, blocks, original = list(reading.texts), list(reading.status_blocks), reading.original
    nested = reading.nested
    while nested is not None:
        blocks += nested.status_blocks
        texts += nested.texts
        original = nested.original or original
        nested = nested.nested
    report.text = "\n".join(texts)
    report.status_blocks = blocks
    report.feedback = reading.feedback
    report.original = original
    return report
