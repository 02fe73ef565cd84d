"""Reading a message: MIME walked and decoded with binascii, never raising; problems are listed."""

from __future__ import annotations

import binascii
import email.header
import email.message
import email.utils
import re
import urllib.parse
from collections.abc import Iterator

import regex

from gateway.message.attachments import classify_attachment
from gateway.message.html import host_of, read_html
from gateway.message.model import Attachment, Link, MessageContent, Part
from gateway.message.text import addresses_in, decode_bytes, decode_header_value, strip_invisible

# --------------------------------------------------------------------------------------------------
# Reading a message

_MAX_DEPTH = 20
_MAX_PARTS = 500


_LOGICAL_LINE = regex.compile(r"\r?\n(?![ \t])")
_HEADER_FOLD = regex.compile(r"\r?\n(?=[ \t])")


def parse_headers(head: bytes, only: frozenset[str] | None = None) -> email.message.Message:
    """A header block as a compat32 Message (what the stdlib parser gives, without its per-line
    feed machinery). Lines without a colon are skipped; raw 8-bit bytes survive as surrogates.
    ``only`` (lower-case names): keep just those headers, for a reader that needs a few of many."""
    msg = email.message.Message()
    text = head.decode("ascii", "surrogateescape")
    for line in _LOGICAL_LINE.split(text):
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or " " in name or "\t" in name:
            continue
        if only is not None and name.lower() not in only:
            continue
        if "\n" in value:
            value = _HEADER_FOLD.sub("", value)
        # set_raw is what the stdlib parser stores with (compat32 keeps values as they are and has
        # no header count limits), without __setitem__'s policy calls per header.
        msg.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))
    return msg
_BLANK_LINE = regex.compile(rb"\r?\n\r?\n")
_NOT_BASE64 = regex.compile(rb"[^A-Za-z0-9+/]")


def header_end(raw: bytes, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """Where the header block of the entity ``raw[start:end]`` ends: (the offset after its last
    header line's line end, the offset of the body). The first empty line ends the headers; an
    entity that starts with one has none. None: no empty line (all of it is headers)."""
    end = len(raw) if end is None else end
    for eol in (b"\r\n", b"\n"):
        if raw.startswith(eol, start, end):
            return start, start + len(eol)
    m = _BLANK_LINE.search(raw, start, end)
    if m is None:
        return None
    return m.start() + (2 if raw.startswith(b"\r\n", m.start()) else 1), m.end()


def _split_head(raw: bytes) -> tuple[bytes, bytes]:
    """Header block and body: the first empty line ends the headers."""
    found = header_end(raw)
    if found is None:
        return raw, b""
    return raw[:found[0]], raw[found[1]:]


def read_headers(raw: bytes) -> email.message.Message:
    """The header block of a whole message, as ``parse_headers`` reads it (the body is not read)."""
    return parse_headers(_split_head(raw)[0])


def header_recipients(headers: email.message.Message) -> list[str]:
    """The addresses in a header block's To and Cc fields (every such field, decoded), in order."""
    found: list[str] = []
    for name in ("To", "Cc"):
        for value in headers.get_all(name) or []:
            found.extend(addresses_in(decode_header_value(value)))
    return found


def _decode_transfer(body: bytes, cte: str, out: MessageContent) -> bytes:
    """Undo Content-Transfer-Encoding leniently (C-speed: binascii)."""
    cte = cte.strip().lower()
    if cte == "base64":
        try:
            return binascii.a2b_base64(body)
        except (binascii.Error, ValueError):
            out.problems.append("broken base64 (decoded what could be)")
            cleaned = _NOT_BASE64.sub(b"", body)
            cleaned = cleaned[: len(cleaned) // 4 * 4]
            try:
                return binascii.a2b_base64(cleaned)
            except (binascii.Error, ValueError):
                return b""
    if cte == "quoted-printable":
        try:
            return binascii.a2b_qp(body)
        except (binascii.Error, ValueError):
            out.problems.append("broken quoted-printable")
            return body
    return body


def _split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    """The body parts between ``--boundary`` lines (RFC 2046), up to the closing ``--boundary--``."""
    delimiter = b"--" + boundary
    starts: list[int] = []
    idx = body.find(delimiter)
    while idx != -1:
        after = body[idx + len(delimiter): idx + len(delimiter) + 1]
        if (idx == 0 or body[idx - 1:idx] == b"\n") and after in (b"", b"\r", b"\n", b" ", b"\t", b"-"):
            starts.append(idx)
        idx = body.find(delimiter, idx + len(delimiter))
    parts: list[bytes] = []
    for i, start in enumerate(starts):
        if body[start + len(delimiter): start + len(delimiter) + 2] == b"--":
            break  # the closing delimiter
        line_end = body.find(b"\n", start)
        if line_end == -1:
            break
        stop = starts[i + 1] if i + 1 < len(starts) else len(body)
        segment = body[line_end + 1: stop]
        if segment.endswith(b"\r\n"):
            segment = segment[:-2]
        elif segment.endswith(b"\n"):
            segment = segment[:-1]
        parts.append(segment)
    return parts


# A header value whose parameters need none of get_param's machinery: no quoted ";", no escapes,
# comments, RFC 2231 parts or angle brackets, no "=" before the first ";", tokens without spaces.
_PLAIN_PARAMS = re.compile(r'[^;"\\()<>*\'=]*(?:;[ \t]*[A-Za-z0-9_.-]+[ \t]*=[ \t]*'
                           r'(?:"[^"\\;<>*]*"|[^;"\\\s()<>*\']*)[ \t]*)*;?[ \t]*')


def _raw_value(headers: email.message.Message, header: str) -> str | None:
    """The first ``header`` field as written: raw 8-bit bytes stay surrogates (compat32 hands such
    a value over as a Header whose str() has replacement characters)."""
    value: object = headers.get(header)
    if value is None or isinstance(value, str):
        return value
    for k, v in headers.raw_items():
        if k.lower() == header:
            return v
    return None


def _as_text(value: str) -> str:
    """Raw 8-bit bytes (surrogates) read as UTF-8 (RFC 6532), else cp1252."""
    if value.isascii():
        return value
    try:
        return decode_bytes(value.encode("ascii", "surrogateescape"), None)
    except UnicodeEncodeError:  # already text
        return value


def header_text(headers: email.message.Message, name: str) -> str:
    """A header field as written (unfolded, RFC 2047 encoded words kept), its raw 8-bit bytes read
    as UTF-8 (RFC 6532), else cp1252: what can be stored and later decoded for display."""
    raw = _raw_value(headers, name.lower())
    return "" if raw is None else _as_text(raw).replace("\r", "").replace("\n", "").strip()


_PARAM_SECTION = re.compile(r"^(.*?)\*(\d{1,3})(\*?)$")
_TRAILING_COMMENT = re.compile(r"[ \t]*\([^()]*\)[ \t]*$")


def _split_params(value: str) -> Iterator[tuple[str, str, bool]]:
    """(name lower-cased, value, quoted) for each parameter after the first ";" of a header value
    (RFC 2045): quoted strings with their backslash escapes undone, an unquoted value up to the next
    ";" (spaces and all, as mail clients read a raw file name), a trailing comment dropped."""
    i, n = 0, len(value)
    in_quote = False
    while i < n and (in_quote or value[i] != ";"):  # the type or disposition itself
        if value[i] == '"':
            in_quote = not in_quote
        elif value[i] == "\\" and in_quote:
            i += 1
        i += 1
    while i < n:
        i += 1  # the ";"
        eq = value.find("=", i)
        semi = value.find(";", i)
        if eq == -1 or (semi != -1 and semi < eq):
            if semi == -1:
                return
            i = semi
            continue
        key = value[i:eq].strip().lower()
        i = eq + 1
        while i < n and value[i] in " \t":
            i += 1
        if i < n and value[i] == '"':
            chars: list[str] = []
            i += 1
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(value[i])
                i += 1
            semi = value.find(";", i)
            i = n if semi == -1 else semi
            if key:
                yield key, "".join(chars), True
        else:
            semi = value.find(";", i)
            stop = n if semi == -1 else semi
            if key:
                yield key, _TRAILING_COMMENT.sub("", value[i:stop]).strip(), False
            i = stop


def _extended_bytes(value: str, first: bool) -> tuple[bytes, str]:
    """An RFC 2231 extended value (``charset'lang'%xx..``; the charset only in the first section)
    as bytes, and its charset ("" when not given)."""
    charset = ""
    if first and value.count("'") >= 2:
        charset, _lang, value = value.split("'", 2)
    return urllib.parse.unquote_to_bytes(value.encode("ascii", "surrogateescape")), charset.strip()


def header_params(value: str) -> dict[str, str]:
    """A header value's parameters by lower-cased name, RFC 2231 continuations and extended values
    (``name*0*=utf-8''%E2%82%AC``, ``name*=...``) joined and decoded with their charset. An extended
    value is preferred to a plain one of the same name (``filename*`` over ``filename``, as mail
    clients show it); otherwise the first of a name counts. Plain values keep raw 8-bit bytes as
    surrogates (see ``_as_text``)."""
    plain: dict[str, str] = {}
    extended: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    for key, given, quoted in _split_params(value):
        m = _PARAM_SECTION.match(key)
        if m is not None:
            sections.setdefault(m.group(1), {}).setdefault(int(m.group(2)), (given, bool(m.group(3))))
        elif key.endswith("*") and not quoted:
            if key[:-1] not in extended:
                data, charset = _extended_bytes(given, True)
                extended[key[:-1]] = decode_bytes(data, charset or None)
        else:
            plain.setdefault(key.rstrip("*"), given)
    for key, parts in sections.items():
        if key in extended or 0 not in parts:
            continue
        data, charset = b"", ""
        for number in sorted(parts):
            given, encoded = parts[number]
            if encoded:
                chunk, cs = _extended_bytes(given, number == 0)
                charset = cs if number == 0 else charset
            else:
                chunk = given.encode("utf-8", "surrogateescape")
            data += chunk
        extended[key] = decode_bytes(data, charset or None)
    return {**plain, **extended}


def _param(headers: email.message.Message, name: str, header: str = "content-type") -> str:
    raw = _raw_value(headers, header)
    if raw is None:
        return ""
    if raw.isascii() and _PLAIN_PARAMS.fullmatch(raw):
        # The common case, without the general reader: the first parameter of that name, without
        # its quotes.
        for piece in raw.split(";")[1:]:
            key, eq, given = piece.partition("=")
            if eq and key.strip().lower() == name:
                given = given.strip()
                return given[1:-1] if len(given) > 1 and given[0] == given[-1] == '"' else given
        return ""
    found = header_params(raw).get(name, "")
    # A boundary is compared with the body's bytes as written; every other value is text.
    return found if name == "boundary" else _as_text(found)


def _filename(headers: email.message.Message) -> str:
    name = _param(headers, "filename", "content-disposition") or _param(headers, "name")
    # RFC 2047 inside a quoted parameter is not allowed, but common (Outlook, webmail).
    return decode_header_value(name) if "=?" in name else name


def walk_parts(headers: email.message.Message, body: bytes, out: MessageContent, depth: int = 0,
               counter: list[int] | None = None) -> Iterator[Part]:
    """The leaves of a MIME tree in document order, each with its transfer encoding undone.

    Work is bounded: past ``_MAX_DEPTH`` levels or ``_MAX_PARTS`` parts (``counter`` counts them,
    shared by the caller across nested messages) the rest is not read and ``out`` says so. A
    multipart whose boundary is missing or never found is one leaf, its body as it was written (its
    content type stays multipart/...). message/* parts are leaves: callers decide whether to read
    the message inside (split it with ``split_head`` and walk it with the same counter).
    """
    counter = counter if counter is not None else [0]
    counter[0] += 1
    if depth > _MAX_DEPTH or counter[0] > _MAX_PARTS:
        if not out.truncated:
            out.problems.append("MIME structure too deep or too many parts")
        out.truncated = True
        return
    try:
        ctype = headers.get_content_type()
    except Exception:
        ctype = "text/plain"
    if ctype.startswith("multipart/"):
        boundary = _param(headers, "boundary")
        segments = _split_multipart(body, boundary.encode("utf-8", "surrogateescape")) if boundary else []
        if not segments:
            out.problems.append("multipart without parts")
            yield Part(headers, ctype, body, depth)
            return
        for segment in segments:
            if counter[0] >= _MAX_PARTS:
                # What the next part's walk would say, without parsing the headers of every part
                # left (a message with 20,000 parts spent most of its time here).
                counter[0] += 1
                if not out.truncated:
                    out.problems.append("MIME structure too deep or too many parts")
                out.truncated = True
                return
            head, sub_body = _split_head(segment)
            yield from walk_parts(parse_headers(head), sub_body, out, depth + 1, counter)
        return
    yield Part(headers, ctype, _decode_transfer(body, str(headers.get("content-transfer-encoding", "")), out),
               depth)


def part_param(part: Part, name: str) -> str:
    """A Content-Type parameter of a part (RFC 2231 values collapsed), "" when absent."""
    return _param(part.headers, name)


def part_filename(part: Part) -> str:
    """A part's file name (Content-Disposition filename, else the Content-Type name; RFC 2231 and
    RFC 2047 values decoded, raw 8-bit bytes read as UTF-8, else cp1252), "" when it has none."""
    return _filename(part.headers)


def split_head(raw: bytes, only: frozenset[str] | None = None) -> tuple[email.message.Message, bytes]:
    """A message's parsed header block (``only``: see ``parse_headers``) and its body."""
    head, body = _split_head(raw)
    return parse_headers(head, only), body


def _walk(headers: email.message.Message, body: bytes, out: MessageContent, depth: int,
          counter: list[int]) -> None:
    for part in walk_parts(headers, body, out, depth, counter):
        _read_part(part, out)


def _read_part(part: Part, out: MessageContent) -> None:
    headers, ctype, data = part.headers, part.content_type, part.data
    if ctype.startswith("multipart/"):  # no parts found: read as text
        if data.strip():
            out.plain_text += "\n" + decode_bytes(data, "utf-8")
        return
    maintype = ctype.split("/", 1)[0]
    filename = _filename(headers)
    disposition = str(headers.get("content-disposition", "")).split(";", 1)[0].strip().lower()
    if maintype == "message":
        out.attachments.append(Attachment(filename=filename or "message.eml", declared_type=ctype,
                                          sniffed_type="message/rfc822", size=len(data), kind="other"))
        return
    is_body = ctype in ("text/plain", "text/html") and disposition != "attachment" and not (
        filename and disposition == "inline" and ctype != "text/html")
    if is_body:
        charset = _param(headers, "charset") or None
        text = decode_bytes(data, charset).replace("\r\n", "\n")
        if ctype == "text/html":
            try:
                read_html(text, out)
            except Exception as exc:  # selectolax is robust; keep going if it is not
                out.problems.append(f"unreadable HTML: {exc}")
                out.html_text += "\n" + text
        else:
            out.plain_text = (out.plain_text + "\n\n" + text) if out.plain_text else text
        return
    out.attachments.append(classify_attachment(filename, ctype, data))


_URL_TOKEN = regex.compile(
    r"(?i)^(?:(?:https?|ftp)://\S+|www\d?\.\S+"
    r"|(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|org|info|biz|shop|store|online|site|eu|de|at|ch"
    r"|fr|it|es|nl|be|pl|se|co\.uk|uk|io|me|app|link|ly|gl|to|page|web|click|top|xyz)(?::\d+)?(?:[/?#]\S*)?)$"
)
_TOKEN_STOP = frozenset(" \t\r\n\f\v<>\"'`()[]{}|\\,;")
_TOKEN_RUN = re.compile(r"[^\s<>\"'`()\[\]{}|\\,;]*")
"""A run of token characters: none of _TOKEN_STOP and no white space (``re``'s ``\\s`` on str is
``str.isspace``)."""


def text_links(text: str) -> list[Link]:
    """URLs and bare domains written in text, after invisible characters are removed.

    Scans for dots between word characters (rare in prose) and reads the token around each, which
    is much faster on long texts than one big URL pattern tried at every position.
    """
    return clean_text_links(strip_invisible(text))


def clean_text_links(clean: str) -> list[Link]:
    """``text_links`` of a text that ``strip_invisible`` already cleaned (the policy engine has
    it at hand). A token's ends are found by one pattern match each way (the text reversed for
    the left end) instead of a loop per character."""
    found: list[Link] = []
    n = len(clean)
    i = clean.find(".")
    if i == -1:
        return found
    run = _TOKEN_RUN.match
    reverse = clean[::-1]
    while i != -1:
        nxt = i + 1
        if 0 < i < n - 1 and clean[i + 1].isalnum() and (clean[i - 1].isalnum() or clean[i - 1] == "-"):
            before, after = run(reverse, n - i), run(clean, i + 1)  # reverse[n - i] is clean[i - 1]
            assert before is not None and after is not None  # (the run may be empty: always a match)
            left, right = n - before.end(), after.end()
            nxt = right
            token = clean[left:right].rstrip(".:!?")
            if "@" not in token.split("/", 1)[0] and _URL_TOKEN.match(token):
                host = host_of(token)
                if host and "." in host:
                    found.append(Link(url=token, host=host.lower(), source="text"))
        i = clean.find(".", nxt)
    return found


def read_message(raw: bytes) -> MessageContent:
    """Decode everything a rule may need. Never raises: problems are listed on the result.

    Headers are parsed by the standard library; bodies are split at their boundaries and decoded
    with binascii, which is several times faster than the line-by-line feed parser on messages
    with attachments.
    """
    out = MessageContent()
    try:
        head, body = _split_head(raw)
        msg = parse_headers(head)
    except Exception as exc:
        out.problems.append(f"unparseable message: {exc}")
        out.plain_text = decode_bytes(raw, "utf-8")
        return out
    out.subject = decode_header_value(msg.get("Subject"))
    out.from_addr = decode_header_value(msg.get("From"))
    for name, target in (("To", out.to), ("Cc", out.cc)):
        for value in msg.get_all(name) or []:
            target.extend(addresses_in(decode_header_value(value)))
    out.in_reply_to = decode_header_value(msg.get("In-Reply-To")).strip()
    out.references = decode_header_value(msg.get("References")).strip()
    try:
        _walk(msg, body, out, 0, [0])
    except RecursionError:
        out.problems.append("MIME structure too deep")
        out.truncated = True
    except Exception as exc:
        out.problems.append(f"MIME decoding stopped: {exc}")
    return out


_SUBJECT_HEADER_END = regex.compile(rb"(\r?\n)\r?\n")
_SUBJECT_LINE = regex.compile(rb"(?im)^subject[ \t]*:.*(?:\r?\n[ \t].*)*(?:\r?\n)?")


def encode_subject(subject: str, linesep: str) -> bytes:
    """A Subject header line (without its line end), RFC 2047-encoded when it is not ASCII."""
    subject = subject.replace("\r", " ").replace("\n", " ")
    charset = "us-ascii" if subject.isascii() else "utf-8"
    value = email.header.Header(subject, charset=charset, header_name="Subject").encode(linesep=linesep)
    return b"Subject: " + value.encode("ascii")


def replace_subject(raw: bytes, subject: str) -> bytes:
    """Replace the first Subject header (dropping any duplicates); everything else stays byte-exact."""
    end = _SUBJECT_HEADER_END.search(raw)
    split = end.end(1) if end else len(raw)
    head, rest = raw[:split], raw[split:]  # head: every header line with its line end
    eol = b"\r\n" if b"\r\n" in (head or raw[:200]) else b"\n"
    if head and not head.endswith(b"\n"):
        head += eol
    line = encode_subject(subject, eol.decode()) + eol
    matches = list(_SUBJECT_LINE.finditer(head))
    if not matches:
        return head + line + rest
    out = bytearray()
    pos = 0
    for i, m in enumerate(matches):
        out += head[pos:m.start()]
        if i == 0:
            out += line
        pos = m.end()
    out += head[pos:]
    return bytes(out) + rest
