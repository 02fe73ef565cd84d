"""Turn a hand-written draft in tests/corpus/hand/ into the bytes a mailer sends (run once per new draft).

Drafts are written readably, in UTF-8 with LF line ends. This makes them real messages:

- header values with non-ASCII text become RFC 2047 encoded-words (ISO-2022-JP for Japanese mail
  in that charset, UTF-8 otherwise);
- a single-part 8bit body is transcoded to the charset its Content-Type declares;
- ``@@B64 <text>`` (rest of the body) becomes base64 of the UTF-8 text, ``@@JIS <text>`` the
  ISO-2022-JP bytes of it, ``@@PNG`` a base64 PNG logo, ``@@PDF title|line|...@@`` a base64 PDF;
- line ends become CRLF.

A file that already has CRLF line ends is final and left alone.

    python -m tests.corpus.handfix [FOLDER]    # default: hand/
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from tests.corpus import mime

HAND = Path(__file__).resolve().parent / "hand"


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii").rstrip("\n")


def finalize(text: str, parts: bool = True) -> bytes:
    head, _, body = text.partition("\n\n")
    multipart = r'(?im)^Content-Type:\s*multipart/[a-z]+;\s*boundary="?([^"\s;]+)"?'
    boundary = re.search(multipart, head) if parts else None
    if boundary is not None:
        # Each part is finalised like a single-part message: its own charset and transfer encoding.
        delimiter = "--" + boundary.group(1)
        pieces = body.split(delimiter)
        out = [pieces[0].encode("utf-8")]
        for piece in pieces[1:]:
            if piece.startswith("--"):
                out.append(delimiter.encode() + piece.encode("utf-8"))
                continue
            part = piece.lstrip("\n")
            part_head, _, part_body = part.partition("\n\n")
            if not part_body.endswith("\n"):
                part_body += "\n"
            done = finalize(part_head + "\n\n" + part_body).replace(b"\r\n", b"\n")
            out.append(delimiter.encode() + b"\n" + done)
        head_bytes = finalize(head + "\n\n", parts=False).rstrip(b"\r\n")
        return (head_bytes.replace(b"\r\n", b"\n") + b"\n\n" + b"".join(out)).replace(b"\n", b"\r\n")
    charset_m = re.search(r'(?im)^Content-Type:\s*text/[a-z]+;\s*charset="?([A-Za-z0-9_\-]+)"?', head)
    cte_m = re.search(r"(?im)^Content-Transfer-Encoding:\s*(\S+)", head)
    charset = charset_m.group(1).lower() if charset_m else "utf-8"
    header_charset = "iso-2022-jp" if charset == "iso-2022-jp" else "utf-8"
    lines = []
    for line in head.split("\n"):
        name, sep, value = line.partition(": ")
        if sep and not value.isascii():
            if name in ("From", "To", "Cc") and "<" in value:
                display, _, rest = value.partition(" <")
                value = mime.header_value(display, header_charset) + " <" + rest
            else:
                value = mime.header_value(value, header_charset)
        lines.append(f"{name}{sep}{value}" if sep else line)
    head = "\n".join(lines)
    body = re.sub(r"@@PDF (.*?)@@", lambda m: _b64(mime.pdf(m.group(1).split("|")[0], m.group(1).split("|")[1:])),
                  body, flags=re.S)
    body = body.replace("@@PNG", _b64(mime.png_logo()))
    if body.startswith("@@B64 "):
        body = _b64(body[6:].encode("utf-8")) + "\n"
    raw_body: bytes
    if body.startswith("@@JIS "):
        raw_body = body[6:].encode("iso-2022-jp")
    elif cte_m and cte_m.group(1).lower() == "8bit" and "multipart" not in head.lower():
        raw_body = body.encode(charset)
    elif cte_m and cte_m.group(1).lower() == "quoted-printable" and "multipart" not in head.lower():
        # a raw character in a hand-written quoted-printable body: its =XX escapes in the declared charset
        raw_body = "".join(ch if ch.isascii() else "".join(f"={b:02X}" for b in ch.encode(charset))
                           for ch in body).encode("ascii")
    else:
        raw_body = body.encode("utf-8")
        if cte_m and cte_m.group(1).lower() in ("7bit", "quoted-printable", "base64") \
                and "multipart" not in head.lower() and not raw_body.isascii():
            raise ValueError("non-ASCII text in a 7bit/quoted-printable/base64 body")
    out = head.encode("ascii") + b"\n\n" + raw_body
    return out.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def main(folder: Path = HAND) -> None:
    for path in sorted(folder.glob("*.eml")):
        data = path.read_bytes()
        if b"\r\n" in data:
            continue
        path.write_bytes(finalize(data.decode("utf-8")))
        print(f"finalized {path.name}")


if __name__ == "__main__":
    import sys

    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HAND)
