"""Text as rules read it: normalisation (the one folding for message text and phrase lists), charsets,
encoded headers, addresses.

``normalize`` folds "Rаbatt" (Cyrillic a), "R\\u00adabatt" and "RABATT" alike to "rabatt".
"""

from __future__ import annotations

import codecs
import email.header
import email.message
import email.utils
import unicodedata

import regex

# --------------------------------------------------------------------------------------------------
# Normalisation

# Zero-width characters, soft hyphen, bidi controls, fillers: invisible, used to split trigger words.
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E,
     0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x2066,
     0x2067, 0x2068, 0x2069, 0x3164, 0xFE0E, 0xFEFF, 0xFFA0],
)

# Cyrillic and Greek letters that look like Latin ones (upper and lower case; after NFKC).
_LOOKALIKE_MAP = {
    # Cyrillic
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i",
    "ј": "j", "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ү": "y", "ё": "e", "ї": "i", "к": "k",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    "α": "a", "ο": "o", "ρ": "p", "ι": "i", "κ": "k", "ν": "v", "υ": "u", "τ": "t", "χ": "x",
    "ω": "w", "ε": "e", "γ": "y",
}

# Punctuation becomes a word gap, so "5-Sterne", "5 Sterne" and "5 – Sterne" read alike. A table
# (str.translate) is several times faster than a regex substitution on long texts. Kept: % and
# currency signs (they carry meaning in offers), stars (ratings).
_KEEP = set("%$€£¥★☆")
_PUNCTUATION = (
    [chr(c) for c in range(0x21, 0x80) if not chr(c).isalnum() and chr(c) not in _KEEP]
    + [chr(c) for c in range(0xA1, 0xC0) if not chr(c).isalnum() and chr(c) not in _KEEP]
    + [chr(c) for c in range(0x2010, 0x2060)] + [chr(c) for c in range(0x2190, 0x2200)]
    + [chr(c) for c in range(0x2500, 0x2600)] + [chr(c) for c in range(0x3001, 0x3040)]
    + ["\u00d7", "\u00f7", "\u30fb", "\uff5e"]
)
# Arabic short vowels, tanween, shadda, sukun, the dagger alif and the tatweel (kashida) are optional
# in writing: "شكراً" and "شكرا" are one word. Dropped, like the invisible characters.
_ARABIC_MARKS = [chr(c) for c in range(0x064B, 0x0660)] + ["\u0670", "\u0640"]
_FOLD = str.maketrans({**{ch: " " for ch in _PUNCTUATION}, **_LOOKALIKE_MAP, **dict.fromkeys(_ARABIC_MARKS)})


def strip_invisible(text: str) -> str:
    """Invisible characters removed and NFKC applied: still readable, for links and addresses."""
    if text.isascii():
        return text
    for codec in ("latin-1", "cp1252"):  # latin-1 first: its encoder is a copy, cp1252's a table walk
        try:
            text.encode(codec)  # the only invisible character either has is the soft hyphen
        except UnicodeEncodeError:
            continue
        return unicodedata.normalize("NFKC", text.replace("\u00ad", ""))
    return unicodedata.normalize("NFKC", text.translate(_INVISIBLE))


def nfkc_and_stripped(text: str) -> tuple[str, str]:
    """``unicodedata.normalize("NFKC", text)`` and ``strip_invisible(text)``, with one
    normalisation when they are the same string: Latin-1 or cp1252 text without a soft hyphen
    (most European mail; strip_invisible then only applies NFKC)."""
    if text.isascii():
        return text, text
    if "\u00ad" not in text:
        for codec in ("latin-1", "cp1252"):
            try:
                text.encode(codec)
            except UnicodeEncodeError:
                continue
            folded = unicodedata.normalize("NFKC", text)
            return folded, folded
    return unicodedata.normalize("NFKC", text), strip_invisible(text)


def _fold_any(text: str) -> str:
    return strip_invisible(text).translate(_FOLD).casefold()


def _byte_fold_table(codec: str) -> tuple[bytes, bytes, dict[str, str]]:
    """The folding of every cp1252 character as one byte table: most European mail is cp1252
    text, and bytes.translate runs at memory speed where str.translate with a dict looks up
    every character. Characters whose folding is not one Latin-1 character keep their byte and
    are replaced afterwards (few: ß -> ss, € stays €)."""
    table = bytearray(range(256))
    delete = bytearray()
    after: dict[str, str] = {}
    for b in range(256):
        try:
            ch = bytes([b]).decode(codec)
        except UnicodeDecodeError:
            continue
        folded = _fold_any(ch)
        if folded == "":
            delete.append(b)
        elif len(folded) == 1 and (ord(folded) < 0x80 or 0xA0 <= ord(folded) <= 0xFF):
            table[b] = ord(folded)
        else:
            table[b] = b
            if folded != chr(b):  # (C1 controls fold to themselves: nothing to replace)
                after[chr(b)] = folded
    assert not any(ch.isascii() for ch in after)  # fold() skips the replacements on ASCII text
    return bytes(table), bytes(delete), after


_BYTE_TABLES = {codec: _byte_fold_table(codec) for codec in ("latin-1", "cp1252")}
"""Latin-1 first (most German, French, Spanish ... mail; its encoder is a plain copy), then cp1252
(adds €, typographic quotes and dashes)."""


def fold(text: str) -> str:
    """NFKC, look-alikes, invisible characters, casefold, punctuation to spaces (not collapsed)."""
    for codec, (table, delete, after) in _BYTE_TABLES.items():
        try:
            raw = text.encode(codec)
        except UnicodeEncodeError:
            continue
        folded = raw.translate(table, delete).decode("latin-1")
        if not folded.isascii():
            for ch, replacement in after.items():
                if ch in folded:
                    folded = folded.replace(ch, replacement)
        return folded
    return _fold_any(text)


def normalize(text: str) -> str:
    """Fold text for phrase matching: NFKC, look-alikes, casefold, punctuation runs to one space.

    The result starts and ends with a space so that a phrase match can check word boundaries by
    looking at its neighbours.
    """
    return " " + " ".join(fold(text).split()) + " "



# --------------------------------------------------------------------------------------------------
# Decoding helpers


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Decode with the declared charset, else UTF-8, else cp1252 (what 8-bit mail usually is);
    never raises."""
    known: str | None = None
    if charset:
        try:
            codec = codecs.lookup(charset)
            known = charset if codec._is_text_encoding else None
        except (LookupError, ValueError, TypeError):
            known = None
    for cs in (known, "utf-8"):
        if cs:
            try:
                return payload.decode(cs)
            except (LookupError, UnicodeError, ValueError, TypeError):
                continue
    if known and known.lower().replace("_", "-") not in ("us-ascii", "ascii"):
        try:
            return payload.decode(known, errors="replace")
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass
    return payload.decode("cp1252", errors="replace")


def _unescape_8bit(value: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogates; read them as UTF-8 (or cp1252)."""
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value
    return decode_bytes(raw, "utf-8")


# A run of RFC 2047 encoded words, with the white space between them (which is not text).
_ENCODED_WORDS = regex.compile(r"=\?[^?\s]+\?[bBqQ]\?[!->@-~]*\?=(?:[ \t\r\n]+=\?[^?\s]+\?[bBqQ]\?[!->@-~]*\?=)*")


def decode_header_value(value: object) -> str:
    """An RFC 2047 header as text; broken encoded words are kept as they were written."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):  # compat32 hands raw 8-bit headers over like this
        try:
            chunks = email.header.decode_header(value)
        except Exception:
            return str(value)
        text = "".join(decode_bytes(c, cs) if isinstance(c, bytes) else c for c, cs in chunks)
        if "=?" not in text:  # (its encoded words, if any, are decoded below)
            return text.replace("\r", "").replace("\n", "")
    else:
        text = _unescape_8bit(str(value))
        if "=?" not in text:  # no encoded word: what decode_header hands back as it is
            return text.replace("\r", "").replace("\n", "")
    if "=?" in text and not text.isascii():
        # decode_header hands the text between encoded words back as raw-unicode-escape bytes
        # ("請求書" as b"\\u8acb..."): decode each run of encoded words on its own instead.
        return _ENCODED_WORDS.sub(lambda m: decode_header_value(m.group(0)), text).replace(
            "\r", "").replace("\n", "")
    try:
        parts = email.header.decode_header(text)
    except Exception:  # the header parser has many ways to fail on hostile input
        return text
    out: list[str] = []
    for chunk, cs in parts:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, cs))
        else:
            out.append(chunk)
    return "".join(out).replace("\r", "").replace("\n", "")


_ADDR = regex.compile(r"[^\s<>,;:\"'()\[\]]+@[^\s<>,;:\"'()\[\]]+")


def addresses_in(value: str) -> list[str]:
    return [m.group(0).strip(".") for m in _ADDR.finditer(value)]
