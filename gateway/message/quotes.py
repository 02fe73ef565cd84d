"""Quotes in replies: only the buyer's quoted message (Amazon's side) is set apart from the seller's text."""

from __future__ import annotations

import regex

# --------------------------------------------------------------------------------------------------
# Quotes in replies

_QUOTE_START = regex.compile(
    r"(?im)^[ \t]*(?:"
    r"-{2,}\s*(?:original message|ursprüngliche nachricht|original-nachricht|originalnachricht"
    r"|message d'origine|message original|messaggio originale|mensaje original|元のメッセージ"
    r"|oorspronkelijk bericht|origineel bericht|wiadomość oryginalna|oryginalna wiadomość"
    r"|ursprungligt meddelande|originalmeddelande|özgün ileti|orijinal mesaj|orijinal ileti)\s*-{2,}"
    r"|-{5,}\s*(?:message|nachricht|messaggio|mensaje|メッセージ)\s*:?\s*-{5,}"
    r"|on\b.{0,200}\bwrote:|am\b.{0,200}\bschrieb\b.{0,200}:|le\b.{0,200}\ba écrit\s?:"
    r"|il\b.{0,200}\bha scritto\s?:|el\b.{0,200}\bescribió\s?:|.{0,200}のメッセージ[:：]"
    r"|(?:from|von|de|da|van|od|från|kimden|差出人)[ \t\u00a0]*[:：][^\n]{0,300}\n"
    r"(?:[ \t\u00a0]*\n|[ \t\u00a0]*[^\n]{1,300}\n){0,4}?"
    r"[ \t\u00a0]*(?:sent|gesendet|envoyé|inviato|enviado(?: el)?|verzonden|wysłano|skickat|gönderildi|送信日時"
    r"|date|datum|data|fecha|tarih|日付|日時)[ \t\u00a0]*[:：]"
    r")"
)
"""Where a quoted earlier message starts. Outlook's header ("Von: ... Gesendet: ...", or "Datum:" as
Outlook for Mac and Apple Mail write it; full-width colons in Japanese) is matched in every
marketplace language, also as its HTML reads as text: each label and its value on lines of their own,
with empty lines between them (at most four lines from the sender's label to the date's)."""


_AMAZON_SIDE = regex.compile(r"(?i)marketplace\.amazon\.|amazon marketplace|@(?:[\w-]+\.)*amazon(?:ses)?\.")
ATTRIBUTION = regex.compile(
    r"(?i)(?:\bwrote|\bschrieb|a écrit|ha scritto|escribió|schreef|napisał|skrev|yazdı|のメッセージ)"
    r"[^\n]{0,200}(?:[:：]|\s-{2,})\s*$")
"""An attribution line before a quoted message: "Am ... schrieb X:", or Zoho's "---- Op ... schreef ----"."""
_AMAZON_NOTICE_QUOTE = regex.compile(r"(?i)^-{5,}\s*(?:message|nachricht|messaggio|mensaje|メッセージ)\s*:?\s*-{5,}")


def from_amazon_side(text: str) -> bool:
    return _AMAZON_SIDE.search(text) is not None


def strip_quoted(text: str) -> str:
    """The sender's own words: quoted text is left out only where it is the buyer's (Amazon's side).

    A quote header (Outlook's "Von: ... Gesendet:", "-----Original Message-----", Amazon's own
    "----- Nachricht: -----") ends the seller's text only when the header names Amazon's side; a
    block of ``>`` lines is dropped only when its attribution line ("Am ... schrieb ...:") does.
    Text after a quoted block is the seller's again and is kept, as is a "quote" of the seller's
    own earlier mail.
    """
    if not text:
        return text
    if len(text) < 2_000_000:
        for m in _QUOTE_START.finditer(text, timeout=0.5):
            if ATTRIBUTION.search(m.group(0).rstrip()):
                continue  # "Am ... schrieb X:": the '>' lines after it are judged below
            # The header block: from the quote line to the first empty line, at most 8 lines.
            block = text[m.start(): m.end() + 600].split("\n\n", 1)[0]
            header = "\n".join(block.split("\n")[:8])
            if _AMAZON_NOTICE_QUOTE.match(m.group(0).strip()) or from_amazon_side(header):
                text = text[: m.start()]
                break
    lines = text.split("\n")
    out: list[str] = []
    quoting = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            if not quoting:
                before = "\n".join(lines[max(0, i - 3): i])
                quoting = bool(ATTRIBUTION.search(before.rstrip())) and from_amazon_side(before)
                if quoting:  # the attribution line goes with its quote
                    while out and not ATTRIBUTION.search(out[-1].rstrip()):
                        out.pop()
                    if out:
                        out.pop()
            if quoting:
                continue
        else:
            quoting = False
        out.append(line)
    return "\n".join(out)
