"""Amazon order ids (3-7-7 digits, e.g. 302-4817265-9034712) found in a message's subject and text.

The policy engine reports the order ids it found in ``Verdict.order_ids``; this helper is the
fallback when no engine runs, so every relay record still carries the orders it was about and an
opt-out notice that names only the order can be traced back to the alias.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

ORDER_ID = re.compile(r"(?<![\d-])(\d{3}-\d{7}-\d{7})(?![\d-])")

# Enough text to find the order ids of any real message; a huge attachment is not read.
_MAX_TEXT = 1024 * 1024


def order_ids_in_text(text: str) -> tuple[str, ...]:
    """Distinct order ids in ``text``, in order of appearance."""
    return tuple(dict.fromkeys(ORDER_ID.findall(text)))


def _text_parts(message: EmailMessage) -> list[str]:
    texts: list[str] = []
    size = 0
    for part in message.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if part.get_content_disposition() == "attachment":
            continue
        try:
            content = part.get_content()
        except (LookupError, UnicodeError, ValueError):
            payload = part.get_payload(decode=True)
            content = payload.decode("latin-1") if isinstance(payload, bytes) else ""
        if isinstance(content, str):
            texts.append(content[: _MAX_TEXT - size])
            size += len(texts[-1])
        if size >= _MAX_TEXT:
            break
    return texts


_ENCODED = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*(?:base64|quoted-printable)|=\?[^?\s]+\?[bq]\?")


def order_ids_in_message(raw: bytes) -> tuple[str, ...]:
    """Order ids in the Subject and the text parts of a raw message (CPU work: call in a thread)."""
    if _ENCODED.search(raw) is None:
        # Nothing encoded: the ids stand in the bytes as written, and a full MIME parse (the
        # costliest step of relaying marketplace mail without a policy engine) finds nothing more.
        return order_ids_in_text(raw[: 2 * _MAX_TEXT].decode("latin-1"))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    try:
        subject = str(message.get("Subject") or "")
    except (ValueError, IndexError):  # a malformed encoded-word: read the raw header
        subject = ""
    return order_ids_in_text("\n".join([subject, *_text_parts(message)]))
