"""The SMTP reply for a rejected message: which rules refused it and the first evidence.

RFC 5321 multi-line form ("550-5.7.1 ..." lines, then "550 5.7.1 ..."), each line within the
512-octet reply limit including CRLF, ASCII only (aiosmtpd encodes replies as ASCII unless SMTPUTF8
is on). The lines are joined with CRLF and no final CRLF: aiosmtpd's ``handle_DATA`` return value
is pushed as one string and terminated by aiosmtpd.
"""

from __future__ import annotations

import unicodedata

from gateway.policy.verdict import Action, Verdict

MAX_LINE = 512
"""RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including the reply code and CRLF."""
MAX_LINES = 8


def _ascii(text: str) -> str:
    """Readable ASCII: accents dropped, other characters as '?', controls and line breaks as spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    out = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        if ch in "\r\n\t" or ord(ch) < 32 or ord(ch) == 127:
            out.append(" ")
        elif ord(ch) < 128:
            out.append(ch)
        elif ch in "…":
            out.append("...")
        elif ch in "‘’“”«»":
            out.append('"')
        else:
            out.append("?")
    return " ".join("".join(out).split())


def _wrap(text: str, width: int) -> list[str]:
    words = text.split(" ")
    lines: list[str] = []
    current = ""
    for word in words:
        while len(word) > width:  # a very long token (URL): cut it
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def smtp_reject_reply(verdict: Verdict) -> str:
    """The multi-line 5xx reply for a REJECT verdict (also usable for any verdict with hits)."""
    code = verdict.smtp_code or 550
    status = verdict.enhanced_status or "5.7.1"
    prefix_len = len(f"{code}-{status} ")
    width = min(MAX_LINE - 2 - prefix_len, 200)  # short lines read better in client logs
    rejecting = [h for h in verdict.hits if h.action is Action.REJECT] or list(verdict.hits)
    texts: list[str] = []
    ids = ", ".join(dict.fromkeys(h.rule for h in rejecting))
    texts.append(_ascii(f"Message refused by marketplace policy: {ids or 'policy'}"))
    for hit in rejecting:
        texts.append(_ascii(f"{hit.rule}: {hit.reason}"))
    first = next((h for h in rejecting if h.evidence), None)
    if first is not None:
        texts.append(_ascii(f"Evidence ({first.rule}): {first.evidence}"))
    lines: list[str] = []
    for text in texts:
        lines.extend(line for line in _wrap(text, width) if line)
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], "(more in the gateway log)"]
    out = [f"{code}-{status} {line}" for line in lines[:-1]]
    out.append(f"{code} {status} {lines[-1]}")
    return "\r\n".join(out)
