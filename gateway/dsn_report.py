"""Build RFC 3464 delivery status notifications for messages the gateway could not deliver.

The report is assembled as bytes with CRLF line ends (not through ``email.generator``) so what is
spooled is exactly what goes out: a ``multipart/report; report-type=delivery-status`` with a human
part, a ``message/delivery-status`` part and the original's headers as ``text/rfc822-headers``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, formatdate, make_msgid

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?:\s|$)")


@dataclass(frozen=True)
class FailedRecipient:
    address: str
    status: str  # RFC 3463 enhanced status, e.g. "5.1.1" or "4.4.7"
    diagnostic: str | None  # the upstream reply, "550 5.1.1 no such user"; None if there was none
    remote_mta: str | None


def status_from_reply(code: int | None, reply: str | None, default: str = "5.0.0") -> str:
    """The enhanced status code in an SMTP reply text, else one derived from its class."""
    if reply:
        match = _ENHANCED.match(reply.strip())
        if match:
            return ".".join(match.groups())
    if code is not None and 200 <= code < 600:
        return f"{code // 100}.0.0"
    return default


def _one_line(text: str) -> str:
    return " ".join(text.split())


def original_headers(data: bytes) -> bytes:
    """The header block of a message (up to the first empty line), ending in CRLF."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        head, found, _ = data.partition(sep)
        if found:
            return head + b"\r\n"
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def build_dsn(*, reporting_mta: str, original_sender: str, queue_id: str, arrival: float,
              failed: Sequence[FailedRecipient], original: bytes) -> tuple[bytes, str]:
    """Return the DSN bytes and its Message-ID. Send it from the null sender to ``original_sender``."""
    boundary = f"=_dsn_{secrets.token_hex(12)}"
    message_id = make_msgid(domain=reporting_mta)
    arrival_date = format_datetime(datetime.fromtimestamp(arrival, UTC))
    expired = any(r.status == "4.4.7" for r in failed)
    human = [
        f"This is the mail gateway at {reporting_mta}.",
        "",
        "Your message could not be delivered to the following recipient(s):" if not expired else
        "Your message could not be delivered in time to the following recipient(s); "
        "the gateway has given up:",
        "",
    ]
    for r in failed:
        human.append(f"  <{r.address}>: {_one_line(r.diagnostic) if r.diagnostic else r.status}")
    human += ["", f"Queue ID: {queue_id}", "The headers of your message are attached."]

    per_message = [f"Reporting-MTA: dns; {reporting_mta}", f"X-Gateway-Queue-ID: {queue_id}",
                   f"Arrival-Date: {arrival_date}"]
    blocks = ["\r\n".join(per_message)]
    for r in failed:
        fields = [f"Final-Recipient: rfc822; {r.address}", "Action: failed", f"Status: {r.status}"]
        if r.remote_mta:
            fields.append(f"Remote-MTA: dns; {r.remote_mta}")
        if r.diagnostic:
            fields.append(f"Diagnostic-Code: smtp; {_one_line(r.diagnostic)}")
        blocks.append("\r\n".join(fields))
    status_body = "\r\n\r\n".join(blocks) + "\r\n"

    head = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: <{original_sender}>",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {formatdate(usegmt=True)}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated delivery status notification.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "Content-Description: Notification",
        "",
        "\r\n".join(human),
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "Content-Description: Delivery report",
        "",
        status_body,
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "Content-Transfer-Encoding: 8bit",
        "Content-Description: Undelivered Message Headers",
        "",
        "",
    ]
    out = "\r\n".join(head).encode("utf-8") + original_headers(original)
    out += f"\r\n--{boundary}--\r\n".encode("ascii")
    return out, message_id
