"""Non-standard, plain-text non-delivery reports (qmail, Exim, Sendmail and Postfix without a DSN part,
Exchange, webmail providers, Japanese carriers, mailing-list software, ...).

Rather than one module per vendor, one reader handles the shared shape: an explanation, a list of
failed addresses each followed by what the remote server said, then a copy of the original. Vendor
wording that decides a reason lives in ``policies/bounces/reasons.toml``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache

from gateway.bounces import reasons
from gateway.bounces.message import Mail, message_ids_in
from gateway.bounces.parse import BouncedRecipient

_ADDR = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
ADDRESS_RE = re.compile(_ADDR)
# A line that names a failed recipient: the address leads the line (after quotes, brackets, bullets,
# or a short label such as "Recipient:" or "RCPT TO:").
_RCPT_LINE = re.compile(
    r"^[ \t>*\-•]*(?:(?:[A-Za-z][A-Za-z \-]{0,30}|original-recipient|final-recipient|x-failed-recipients|"
    r"rcpt to|to|recipient(?:s)?|failed recipient|address|addresses|destinataire|empfänger|宛先)"
    r"\s*:\s*(?:rfc822;\s*)?)?[\"'(<\[]*(" + _ADDR + r")[\"')>\]]*(.*)$",
    re.I,
)
_HEADER_BLOCK = re.compile(r"^(Received|Return-Path|Message-I[dD]|From|To|Subject|Date|MIME-Version"
                           r"|Content-Type|X-[A-Za-z-]+|DKIM-Signature|Delivered-To):[ \t]", re.M)
_ORIGINAL_HEAD = re.compile(r"^(Received|Return-Path|Message-I[dD]|From|To|DKIM-Signature):", re.I)
_BRACKETED = re.compile(r"<(" + _ADDR + r")>")
_TRANSCRIPT_RCPT = re.compile(r"RCPT TO:\s*<(" + _ADDR + r")>", re.I)


def _senders(mail: Mail) -> set[str]:
    out: set[str] = set()
    for v in (mail.from_, mail.to, mail.headers.get("Return-Path", "") or "",
              mail.headers.get("Reply-To", "") or "", mail.headers.get("Sender", "") or ""):
        out.update(a.lower() for a in ADDRESS_RE.findall(v))
    return out


def error_region(text: str) -> tuple[str, str]:
    """Split report text into the explanation and the returned original."""
    from gateway.bounces.dsn import markers

    cut = len(text)
    m = markers().original_markers.search(text)
    if m is not None:
        cut = m.start()
    # An inline copy of the original without a marker: a header block after a blank line.
    for hm in _HEADER_BLOCK.finditer(text, 0, cut):
        start = hm.start()
        if start == 0 or text[start - 2:start] == "\n\n":
            following = text[start:start + 600].split("\n")[:4]
            heads = [line for line in following if _HEADER_BLOCK.match(line)]
            if len(heads) >= 3 and any(_ORIGINAL_HEAD.match(h) for h in heads):
                cut = min(cut, start)
                break
    return text[:cut], text[cut:]


def quoted_message_ids(text: str) -> list[str]:
    _, original = error_region(text)
    out: list[str] = []
    for line in original.splitlines():
        if line.lower().startswith("message-id:"):
            out.extend(message_ids_in(line))
    return out


def _recipient_blocks(region: str, exclude: set[str]) -> list[tuple[str, str]]:
    """(address, diagnostic) for each address-led line, the diagnostic running to the next one."""
    lines = region.split("\n")
    found: list[tuple[int, str, str]] = []
    for i, line in enumerate(lines):
        m = _RCPT_LINE.match(line)
        if m is None:
            tm = _TRANSCRIPT_RCPT.search(line)
            if tm is None:
                continue
            addr, rest = tm.group(1), ""
        else:
            addr, rest = m.group(1), m.group(2)
            # "display <address>" on one line: the bracketed one is the address.
            bm = _BRACKETED.match(rest.strip())
            if bm is not None:
                addr, rest = bm.group(1), rest.strip()[bm.end():]
        addr = addr.strip(".").lower()
        if addr in exclude:
            continue
        found.append((i, addr, rest))
    out: dict[str, str] = {}
    for n, (i, addr, rest) in enumerate(found):
        end = found[n + 1][0] if n + 1 < len(found) else min(len(lines), i + 12)
        body = [lines[i]] + lines[i + 1:end]
        # Stop at a second blank line: the next paragraph is usually boilerplate.
        text: list[str] = []
        blanks = 0
        for b in body:
            if not b.strip():
                blanks += 1
                if blanks >= 2 and any(t.strip() for t in text):
                    break
                continue
            text.append(b.strip())
        diag = " ".join(text)
        out[addr] = f"{out.get(addr, '')} {diag}".strip()
    return list(out.items())


def text_diagnostics(mail: Mail) -> dict[str, str]:
    region, _ = error_region(mail.text)
    return dict(_recipient_blocks(region, set()))


@dataclass(frozen=True, slots=True)
class Hint:
    reason: str
    text: tuple[str, ...]
    from_: tuple[str, ...]


@cache
def hints() -> tuple[Hint, ...]:
    data = tomllib.loads((reasons.POLICY_DIR / "vendors.toml").read_text(encoding="utf-8"))
    return tuple(Hint(reason=str(h["reason"]), text=tuple(t.lower() for t in h.get("text", [])),
                      from_=tuple(f.lower() for f in h.get("from", []))) for h in data["hint"])


def hint_for(mail: Mail, diagnostic: str, dtype: str = "") -> str | None:
    """A vendor's own verdict where its wording decides the reason regardless of status codes."""
    sender = mail.from_.lower()
    text = f"{diagnostic} {mail.subject}".lower()
    for h in hints():
        if h.from_ and not any(f in sender for f in h.from_):
            continue
        if h.text and not any(t in text for t in h.text):
            continue
        return h.reason
    return None


def parse_text(mail: Mail) -> tuple[BouncedRecipient, ...] | None:
    from gateway.bounces.dsn import _is_delay, looks_like_report, make_recipient

    if not looks_like_report(mail):
        return None
    region, _ = error_region(mail.text)
    exclude = _senders(mail)
    blocks = _recipient_blocks(region, exclude)
    failed_hdr = mail.headers.get("X-Failed-Recipients", "")
    if not blocks and failed_hdr:
        blocks = [(a.lower(), "") for a in ADDRESS_RE.findall(failed_hdr)]
    if not blocks:
        lines = region.split("\n")
        for i, line in enumerate(lines):
            loose = [a.lower() for a in ADDRESS_RE.findall(line) if a.lower() not in exclude]
            if loose:
                blocks = [(loose[0], " ".join(x.strip() for x in lines[i:i + 6]))]
                break
    if not blocks and mail.original is not None:
        blocks = [(a.lower(), "") for a in ADDRESS_RE.findall(mail.original.to)][:1]
    if not blocks:
        _, original = error_region(mail.text)
        for line in original.splitlines():
            if line.lower().startswith("to:"):
                blocks = [(a.lower(), "") for a in ADDRESS_RE.findall(line)][:1]
                break
    if not blocks:
        return None
    temporary = _is_delay(region) or _is_delay(mail.subject)
    whole = " ".join(region.split())
    out: list[BouncedRecipient] = []
    for addr, diag in blocks:
        specific = bool(reasons.reason_from_text(diag) or reasons.find_status(diag))
        diagnostic = diag if specific else f"{diag} {whole}".strip()
        hint = hint_for(mail, diagnostic)
        out.append(make_recipient(addr, None, diagnostic, "delayed" if temporary else "failed", hint,
                                  temporary=temporary, vague=not specific and not diag.strip()))
    return tuple(out)
