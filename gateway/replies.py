"""SMTP replies as values: RFC 5321 reply codes with RFC 3463 enhanced status codes and a reason.

aiosmtpd's own replies mostly lack an enhanced status code; ``with_enhanced_code`` adds the
standard one for the reply code so every 4xx/5xx the gateway sends carries one. ``smtp_reply``
turns a pipeline ``Outcome`` into the reply the client hears at end of DATA.
"""

from __future__ import annotations

import re

from gateway.outcome import Cause, Disposition, Outcome
from gateway.policy.reply import smtp_reject_reply

OK_SENDER = "250 2.1.0 Sender OK"
OK_RECIPIENT = "250 2.1.5 Recipient OK"

BAD_ADDRESS_CHARS = "501 5.1.3 Address contains CR, LF or NUL; refused"
BAD_ADDRESS = "501 5.1.3 Bad address syntax: {reason}"
RELAY_DENIED = "554 5.7.1 Relaying denied: {peer} is not allowed to send through this gateway; authenticate first"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients (at most {limit} per message)"
MESSAGE_TOO_BIG = "552 5.3.4 Message size exceeds fixed maximum message size ({limit} bytes)"
BARE_LINE_ENDING = (
    "550 5.6.0 Message contains a bare CR or bare LF line ending (RFC 5321 2.3.8); not accepted"
)
SERVICE_BUSY = "421 4.7.0 {hostname} Too many concurrent sessions; try again later"
SHUTTING_DOWN = "421 4.3.2 {hostname} Service shutting down; try again later"
DATA_BUDGET_EXHAUSTED = "452 4.3.1 Too much mail in transit right now; try again later"
DATA_BUDGET_CLOSING = "421 4.3.1 Too much mail in transit right now; closing, try again later"
STORAGE_FAILED = "452 4.3.1 Insufficient system storage; message not accepted, try again later"
SPOOL_BROKEN = "451 4.3.0 Local queue needs attention; message not accepted, try again later"
PROCESSING_TIMEOUT = "451 4.3.0 Message could not be checked in time; try again later"
PROCESSING_FAILED = "451 4.3.0 Temporary local problem while processing the message; try again later"
STATE_UNAVAILABLE = "451 4.3.0 Gateway state database unavailable; message not accepted, try again later"
AUTH_LOCKED = "454 4.7.0 Too many failed authentication attempts from {peer}; try again later"
AUTH_LOCKED_USER = (
    "454 4.7.0 Too many failed authentication attempts for this user from {peer}; try again later"
)
AUTH_AUTHZID_REFUSED = (
    "535 5.7.8 Authentication refused: the authorization identity must be empty or the user itself"
)
AUTH_TEMPFAIL = "454 4.7.0 Temporary authentication failure"
UNKNOWN_TENANT = (
    "550 5.7.1 Sender identity not recognised (user {user}, client {peer}, sender domain {domain}): "
    "no merchant is configured for it; relaying refused"
)
DAILY_CAP_REACHED = (
    "452 4.7.1 Daily cap of {cap} proactive messages for marketplace {marketplace} reached; "
    "try again tomorrow"
)
QUEUED = "250 2.0.0 Ok: queued as {queue_id}"
QUARANTINED = "250 2.0.0 Ok: held for review as {quarantine_id}"
BOUNCE_RECORDED = "250 2.0.0 Ok: bounce-back recorded ({summary})"

_ENHANCED = re.compile(r"^\d{3}[ -]\d\.\d{1,3}\.\d{1,3}(?: |$)")
_DEFAULT_ENHANCED = {
    "421": "4.3.2", "450": "4.2.0", "451": "4.3.0", "452": "4.3.1", "454": "4.7.0",
    "500": "5.5.2", "501": "5.5.4", "502": "5.5.1", "503": "5.5.1", "504": "5.5.4",
    "530": "5.7.0", "535": "5.7.8", "538": "5.7.11", "550": "5.0.0", "551": "5.1.6",
    "552": "5.3.4", "553": "5.1.3", "554": "5.0.0", "555": "5.5.4",
}

# aiosmtpd's wording replaced with ours where the meaning deserves a clearer reason.
_LIBRARY_REPLIES = {
    "552 Error: Too much mail data": "552 5.3.4 Message too big for system",
}


def with_enhanced_code(line: str) -> str:
    """Add the standard enhanced status code to a 4xx/5xx reply line that lacks one."""
    line = _LIBRARY_REPLIES.get(line, line)
    code = line[:3]
    if code[:1] not in ("4", "5") or _ENHANCED.match(line):
        return line
    enhanced = _DEFAULT_ENHANCED.get(code, f"{code[0]}.0.0")
    sep, text = line[3:4] or " ", line[4:]
    return f"{code}{sep}{enhanced} {text}".rstrip()


def smtp_reply(outcome: Outcome) -> str:
    """The reply an outcome implies: what the client hears at end of DATA."""
    d = outcome.disposition
    if d is Disposition.QUEUED:
        return QUEUED.format(queue_id=outcome.queue_id or "-")
    if d is Disposition.HELD:
        return QUARANTINED.format(quarantine_id=outcome.quarantine_id or "-")
    if d is Disposition.REFUSED:
        return smtp_reject_reply(outcome.verdict)
    if outcome.cause is Cause.DAILY_CAP:
        return DAILY_CAP_REACHED.format(marketplace=outcome.detail.get("marketplace", "?"),
                                        cap=outcome.detail.get("cap", "?"))
    if outcome.cause is Cause.TIMEOUT:
        return PROCESSING_TIMEOUT
    if outcome.cause is Cause.STORAGE:
        return SPOOL_BROKEN if outcome.detail.get("spool_damaged") else STORAGE_FAILED
    if outcome.cause is Cause.STATE:
        return STATE_UNAVAILABLE
    return PROCESSING_FAILED
