"""Hypothesis strategies for hostile mail: malformed headers, broken encodings, deep multipart
nesting, huge headers, NUL bytes, invalid UTF-8 and 8-bit data. Messages come out with CRLF line
ends, as the listener hands them on (bare CR/LF is refused before anything parses it)."""

from __future__ import annotations

import base64
from pathlib import Path

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"

NASTY_BYTES = [b"\x00", b"\xff", b"\xfe\xff", b"\xc3(", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
               b"\x1b$B", b"=?", b"?=", b"=\r\n", b"\t", b"\x7f", b"\xa0", "\u202e".encode(), "ß".encode(),
               "重要".encode(), "\u200b".encode(), b"--", b";", b"\"", b"\\"]

HEADER_NAMES = ["Subject", "From", "To", "Cc", "Reply-To", "Message-ID", "In-Reply-To", "References",
                "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version",
                "X-Mailer", "Date", "Return-Path", "Auto-Submitted", "X-Failed-Recipients"]

CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "shift_jis", "iso-2022-jp", "utf-7", "x-unknown",
            "", "utf-16", "gb2312", "koi8-r", "us-ascii\x00", "utf-8\"; x=\"", "a" * 300]

CTES = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "BASE64 ", "bogus", ""]


def _no_bare(data: bytes) -> bytes:
    """CRLF everywhere: bare CR and LF become CRLF (what the listener would accept)."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


fragments = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(NASTY_BYTES),
    st.sampled_from([b"=?utf-8?B?", b"=?utf-8?Q?", b"=?iso-8859-1?q?caf=E9?=", b"=?x-bad?B?AAAA?=",
                     b"=?utf-8?B?w6TDtsO8?=", b"=?utf-8?B?broken base64?=", b"=?utf-8*de?Q?a_b?=",
                     b"Re: AW: [Wichtig] ", b"302-4817265-9034712", b"http://evil.example/x",
                     b"+49 170 1234567", b"buyer@example.com", b"<a href=\"x\">", b"\r\n\tfolded"]),
)


@st.composite
def header_value(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 30)) == 0:  # a huge header: one long line or many folded ones
        unit = draw(st.sampled_from([b"A", b"=?utf-8?B?w6Q=?= ", b"x\r\n ", b"\xff"]))
        return unit * draw(st.integers(1000, 60000))
    return b"".join(draw(st.lists(fragments, max_size=8)))


@st.composite
def header_block(draw: st.DrawFn, content_type: bytes | None = None) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.one_of(st.sampled_from(HEADER_NAMES),
                              st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126,
                                                             exclude_characters=":"), min_size=1, max_size=12)))
        sep = draw(st.sampled_from([b": ", b":", b" : ", b""]))
        lines.append(name.encode() + sep + draw(header_value()))
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type)
    if draw(st.booleans()):
        lines.append(b"Content-Transfer-Encoding: " + draw(st.sampled_from(CTES)).encode())
    if draw(st.integers(0, 5)) == 0:
        lines.append(b"X-Many: x\r\n" * draw(st.integers(100, 3000)) + b"X-End: y")
    return b"\r\n".join(lines)


@st.composite
def leaf_body(draw: st.DrawFn) -> bytes:
    raw = b"".join(draw(st.lists(fragments, max_size=12)))
    how = draw(st.sampled_from(["plain", "base64", "badbase64", "qp", "html"]))
    if how == "base64":
        return base64.encodebytes(raw)
    if how == "badbase64":
        return base64.encodebytes(raw)[: draw(st.integers(0, 40))] + b"!!==\r\n====x"
    if how == "qp":
        return raw.replace(b"=", b"=3D") + b"=E9=XY=\r\n=0"
    if how == "html":
        return b"<html><body><p>" + raw + b"<img src=\"http://t.example/p.gif\" width=1><a href='" + raw + b"'>x"
    return raw


@st.composite
def mime_part(draw: st.DrawFn, depth: int = 0) -> bytes:
    if depth < 4 and draw(st.integers(0, 3)) == 0:
        boundary = draw(st.sampled_from([b"b1", b"", b"==x==", b"a" * 100, b"\"q\"", b"b1\x00"]))
        ct = b"multipart/" + draw(st.sampled_from([b"mixed", b"alternative", b"related", b"x"])) + \
            b"; boundary=\"" + boundary + b"\""
        parts = draw(st.lists(mime_part(depth + 1), max_size=4))
        close = draw(st.sampled_from([True, True, False]))
        body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts)
        body += (b"--" + boundary + b"--\r\n") if close else b""
        return draw(header_block(ct)) + b"\r\n\r\n" + body
    ct = draw(st.sampled_from([b"text/plain", b"text/html", b"application/pdf", b"image/png",
                               b"message/rfc822", b"application/octet-stream", b"text/plain; charset=",
                               b"bogus", b"text/html; charset=\"%s\"" % draw(st.sampled_from(CHARSETS)).encode()]))
    disposition = draw(st.sampled_from([b"", b"\r\nContent-Disposition: attachment; filename=\"a.exe\"",
                                        b"\r\nContent-Disposition: inline; filename*=utf-8''%E9%ZZ.pdf",
                                        b"\r\nContent-Disposition: attachment; filename*0*=x; filename*1=\"y"]))
    return draw(header_block(ct)) + disposition + b"\r\n\r\n" + draw(leaf_body())


def deep_nesting(depth: int) -> bytes:
    """multipart inside multipart ``depth`` times (each closing boundary present)."""
    head = b"".join(b"Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n" % (i, i)
                    for i in range(depth))
    tail = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return b"Subject: deep\r\nMIME-Version: 1.0\r\n" + head + b"Content-Type: text/plain\r\n\r\nhi" + tail


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return deep_nesting(draw(st.integers(50, 3000)))
    if kind == 1:
        return _no_bare(draw(st.binary(max_size=2000)))
    top = draw(mime_part())
    if draw(st.booleans()):
        top = b"MIME-Version: 1.0\r\nFrom: seller@shop.example\r\nSubject: " + draw(header_value()) + b"\r\n" + top
    return _no_bare(top)


def seed_files() -> list[Path]:
    """Real messages to mutate: the policy examples, bounce samples, and the regression corpus."""
    found = sorted((REPO / "policies" / "examples").rglob("*.eml"))
    found += sorted((REPO / "tests" / "bounces" / "data").glob("*.eml"))
    found += sorted(CORPUS.rglob("*.eml"))
    return found


@st.composite
def mutated_seed(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    raw = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(raw)))
        op = draw(st.integers(0, 3))
        junk = draw(fragments)
        if op == 0:
            raw[at:at] = junk
        elif op == 1:
            raw[at:at + len(junk)] = junk
        elif op == 2:
            del raw[at:at + draw(st.integers(1, 200))]
        else:
            raw[at:at] = bytes(raw[at:at + 200]) * draw(st.integers(2, 50))
    return _no_bare(bytes(raw))
