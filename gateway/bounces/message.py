"""A bounce message taken apart once: headers, readable text, DSN fields, and the quoted original."""

from __future__ import annotations

import email
import email.message
import email.parser
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.policy import compat32

# More MIME boundaries than this and the message is read as headers plus plain text.
MAX_BOUNDARIES = 64
_MSGID = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:[ \t]?")


def header(msg: email.message.Message, name: str) -> str:
    """A header as text; compat32 hands back Header objects for undecodable bytes."""
    value = msg.get(name)
    return "" if value is None else str(value)


def decode_words(value: str | None) -> str:
    if not value:
        return ""
    if "=?" not in value:  # no encoded words: nothing to decode
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # malformed encoded-words: keep the raw text
        return value


# When the label does not fit the bytes, these are tried by content, in this order: the label's own
# family first (Japanese mail is mislabelled between JIS, EUC and Shift_JIS), then UTF-8.
_FAMILIES = {
    "iso-2022-jp": ("euc-jp", "cp932"), "iso-2022-jp-1": ("euc-jp", "cp932"),
    "iso-2022-jp-2": ("euc-jp", "cp932"), "csiso2022jp": ("euc-jp", "cp932"),
    "euc-jp": ("cp932", "iso-2022-jp"), "shift_jis": ("cp932", "euc-jp"), "sjis": ("cp932", "euc-jp"),
    "cp932": ("euc-jp",), "windows-31j": ("euc-jp",), "us-ascii": ("iso-2022-jp",),
    "gb2312": ("gb18030",), "gbk": ("gb18030",), "ks_c_5601-1987": ("cp949",), "euc-kr": ("cp949",),
}


def decode_bytes(payload: bytes, label: str | None) -> str:
    """Text from bytes whose charset label may lie: the label if the bytes decode under it without
    error, else the first candidate that does (by content), else the label with replacement."""
    label = (label or "utf-8").lower()
    for cs in (label, *_FAMILIES.get(label, ()), "utf-8"):
        try:
            return payload.decode(cs)
        except (LookupError, ValueError):  # ValueError: a NUL in the charset name (UnicodeError too)
            continue
    try:
        return payload.decode(label, errors="replace")
    except (LookupError, ValueError):
        return payload.decode("latin-1")


def decode_part(part: email.message.Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    return decode_bytes(payload, part.get_content_charset())


def message_ids_in(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


@dataclass(slots=True)
class Original:
    """Headers of the returned original message (from a message/rfc822 part or inline copy)."""

    message_id: str | None = None
    to: str = ""
    from_: str = ""
    subject: str = ""
    reported_recipient: str = ""
    """Where a complaint loop names the complaining recipient in the copy (Hotmail's JMRP)."""


@dataclass(slots=True)
class Mail:
    headers: email.message.Message
    subject: str
    from_: str
    to: str
    content_type: str
    text: str
    """Readable text of the bounce itself (text/* parts not inside a returned message), joined."""
    status_blocks: list[list[tuple[str, str]]] = field(default_factory=list)
    """Field blocks of message/delivery-status parts: first the per-message block, then per-recipient."""
    feedback: list[tuple[str, str]] | None = None
    original: Original | None = None
    regions: tuple[str, str] | None = None
    """The text split into the report's explanation and the returned original (computed once)."""
    _by_name: dict[str, str] | None = None

    def header(self, name: str) -> str:
        """The first header of that name as text ("" if absent), looked up in a table built once."""
        if self._by_name is None:
            table: dict[str, str] = {}
            for key, value in self.headers.items():
                table.setdefault(key.lower(), str(value))
            self._by_name = table
        return self._by_name.get(name.lower(), "")

    def header_names(self) -> set[str]:
        self.header("")
        assert self._by_name is not None
        return set(self._by_name)


def _fields_of(sub: email.message.Message | str) -> list[tuple[str, str]]:
    if isinstance(sub, email.message.Message):
        return [(k.lower(), " ".join(str(v).split())) for k, v in sub.raw_items()]
    return parse_fields(sub)


def parse_fields(text: str) -> list[tuple[str, str]]:
    """``Name: value`` lines with folded continuations, as lower-cased names."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and out:
            name, value = out[-1]
            out[-1] = (name, f"{value} {line.strip()}")
        elif (m := _HEADER_LINE.match(line)) is not None:
            name = line[: line.index(":")].lower()
            out.append((name, line[m.end():].strip()))
    return out


def split_blocks(text: str) -> list[list[tuple[str, str]]]:
    blocks: list[list[tuple[str, str]]] = []
    for chunk in re.split(r"\n[ \t]*\n", text):
        fields = parse_fields(chunk)
        if fields:
            blocks.append(fields)
    return blocks


def _original_from(msg: email.message.Message) -> Original:
    mid = message_ids_in(header(msg, "Message-ID"))
    return Original(message_id=mid[0] if mid else None, to=decode_words(header(msg, "To")),
                    from_=decode_words(header(msg, "From")), subject=decode_words(header(msg, "Subject")),
                    reported_recipient=header(msg, "X-HmXmrOriginalRecipient"))


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


def read_mail(raw: bytes) -> Mail:
    raw = raw.replace(b"\r\n", b"\n")
    try:
        if raw.lower().count(b"boundary=") > MAX_BOUNDARIES:
            # The stdlib parser tests every line against every open boundary: its cost grows with
            # size times nesting depth (a fuzzed 160 KB message took minutes). No real report
            # nests this deep.
            raise RecursionError
        msg = email.message_from_bytes(raw, policy=compat32)
    except RecursionError:
        # MIME nested deeper than the stdlib parser can recurse (found by fuzzing), or deeper
        # than is worth parsing: keep the headers and read the rest as plain text, so the
        # report's wording is still seen.
        msg = email.parser.BytesHeaderParser(policy=compat32).parsebytes(raw)
        del msg["Content-Type"]
        msg["Content-Type"] = "text/plain"
    texts: list[str] = []
    mail = Mail(headers=msg, subject=decode_words(header(msg, "Subject")),
                from_=decode_words(header(msg, "From")), to=decode_words(header(msg, "To")),
                content_type=msg.get_content_type(), text="")
    stack: list[email.message.Message] = [msg]
    nested_report: email.message.Message | None = None
    while stack:
        part = stack.pop(0)
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                mail.status_blocks.extend(_per_recipient([_fields_of(s) for s in payload]))
            else:
                mail.status_blocks.extend(_per_recipient(split_blocks(decode_part(part))))
        elif ctype == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list):
                mail.feedback = [f for s in payload for f in _fields_of(s)]
            else:
                mail.feedback = parse_fields(decode_part(part))
        elif ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
                inner = payload[0]
                if mail.original is None:
                    mail.original = _original_from(inner)
                    nested_report = inner if inner.get_content_type() == "multipart/report" else None
        elif ctype in ("text/rfc822-headers", "text/rfc822-header", "message/rfc822-headers",
                       "message/global-headers"):
            hdr = email.message_from_string(decode_part(part), policy=compat32)
            if mail.original is None:
                mail.original = _original_from(hdr)
        elif part.is_multipart():
            sub = part.get_payload()
            if isinstance(sub, list):
                stack[0:0] = [s for s in sub if isinstance(s, email.message.Message)]
        elif ctype.partition("/")[0] in ("text", "multipart") or part is msg:
            # (a multipart whose boundary did not parse arrives here as text)
            body = decode_part(part)
            if ctype == "text/html":
                body = html_to_text(body)
            texts.append(body)
    mail.text = "\n".join(texts)
    if nested_report is not None:
        # A forwarded bounce: the report travels inside a message/rfc822 part.
        try:
            inner_mail = read_mail(nested_report.as_bytes())
        except Exception:  # an unreadable nested report leaves the outer one as it is
            return mail
        mail.status_blocks = mail.status_blocks + inner_mail.status_blocks
        mail.text = f"{mail.text}\n{inner_mail.text}"
        mail.original = inner_mail.original or mail.original
    return mail


_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.S | re.I)


def html_to_text(html: str) -> str:
    import html as _html

    text = re.sub(r"<\s*(br|/p|/div|/tr|/li|/h\d)\b[^>]*>", "\n", html, flags=re.I)
    return _html.unescape(_TAG.sub("", text))
