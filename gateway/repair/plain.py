"""The plain-text repair: footer lines anywhere, contact lines in the signature, emoji."""

from __future__ import annotations

import regex

from gateway.message.patterns import EMAIL_ADDRESS
from gateway.repair.model import EMOJI, FOOTER, SIGNATURE_CONTACT, Removal, RepairOptions
from gateway.repair.signs import FOOTER_WORDS, SOCIAL, URLISH, allowed_host, strip_emoji, url_host

_SIG_DELIMITER = regex.compile(r"(?m)^-- ?$|^_{5,}\s*$|^-{5,}\s*$")


def repair_plain(text: str, options: RepairOptions, where: str, found: list[Removal]) -> str:
    kinds = options.kinds
    lines = text.splitlines(keepends=True)
    signature_from = _signature_start(lines)
    kept: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if FOOTER in kinds and stripped and _plain_footer_line(stripped):
            found.append(Removal(FOOTER, stripped[:200], where))
            continue
        if (SIGNATURE_CONTACT in kinds and i >= signature_from and stripped
                and _plain_contact_line(stripped, options)):
            found.append(Removal(SIGNATURE_CONTACT, stripped[:200], where))
            continue
        kept.append(line)
    out = "".join(kept)
    if EMOJI in kinds:
        removed: list[str] = []
        out = strip_emoji(out, removed)
        if removed:
            found.append(Removal(EMOJI, " ".join(removed)[:200], where))
    return out


def _signature_start(lines: list[str]) -> int:
    """Index of the first line of the closing block: a ``-- `` delimiter, else the last 12 lines."""
    for i, line in enumerate(lines):
        if _SIG_DELIMITER.fullmatch(line.rstrip("\r\n")):
            return i
    return max(0, len(lines) - 12)


def _plain_footer_line(line: str) -> bool:
    if not FOOTER_WORDS.search(line):
        return any(s in line.lower() for s in SOCIAL) and len(line) <= 160
    return len(line) <= 200


def _plain_contact_line(line: str, options: RepairOptions) -> bool:
    """A short signature line that is a website or an e-mail address (with or without its label)."""
    if len(line) > 120:
        return False
    for m in EMAIL_ADDRESS.finditer(line):
        if "marketplace.amazon." not in m.group(0).lower():
            return True
    for m in URLISH.finditer(line):
        url = m.group(0)
        host = url_host(url if "://" in url else "http://" + url)
        if host and not allowed_host(host, options.allow_domains):
            return True
    return False

