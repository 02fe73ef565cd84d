"""What an attempt's replies mean: per-recipient results, the next retry, and the DSN to send.

2xx -> delivered; 5xx -> failed (DSN to the sender); anything else -> retried with exponential
backoff until ``give_up_after``, then failed with status 4.4.7.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway.config import DeliveryConfig
from gateway.delivery.attempt import Reply, address_ok
from gateway.dsn_report import FailedRecipient, build_dsn, status_from_reply
from gateway.spool import NewMessage, RecipientResult, SpooledMessage


def backoff(attempt: int, delivery: DeliveryConfig) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    return float(min(delivery.retry_max, delivery.retry_initial * delivery.retry_factor ** (attempt - 1)))


@dataclass(frozen=True)
class Outcome:
    results: list[RecipientResult]
    failed: list[FailedRecipient]
    next_attempt: float | None


def judge_replies(msg: SpooledMessage, attempt: int, replies: dict[str, Reply], remote: str | None,
                  delivery: DeliveryConfig, now: float | None = None) -> Outcome:
    now = time.time() if now is None else now
    expired = now - msg.arrived >= delivery.give_up_after
    results: list[RecipientResult] = []
    failed: list[FailedRecipient] = []
    temporary = False
    for rcpt in msg.pending:
        reply = replies[rcpt]
        code = reply.code
        if code is not None and 200 <= code < 300:
            results.append(RecipientResult(rcpt, "delivered", code, reply.text))
        elif code is not None and 500 <= code < 600:
            results.append(RecipientResult(rcpt, "failed", code, reply.text))
            failed.append(FailedRecipient(rcpt, status_from_reply(code, reply.text), reply.line, remote))
        elif expired:
            text = f"4.4.7 delivery time expired after {attempt} attempts; last: {reply.line}"
            results.append(RecipientResult(rcpt, "failed", code, text))
            failed.append(FailedRecipient(rcpt, "4.4.7", reply.line if code is not None else None,
                                          remote if code is not None else None))
        else:
            # Pending results are recorded too (code and reply of the last try), so operators see why.
            results.append(RecipientResult(rcpt, "pending", code, reply.text))
            temporary = True
    next_attempt = None
    if temporary:
        next_attempt = min(now + backoff(attempt, delivery), msg.arrived + delivery.give_up_after)
    return Outcome(results, failed, next_attempt)


def make_dsn(msg: SpooledMessage, failed: list[FailedRecipient], delivery: DeliveryConfig,
             hostname: str) -> NewMessage | None:
    if not failed or not delivery.send_dsn or msg.mail_from in ("", "<>") or not address_ok(msg.mail_from):
        return None  # never bounce a bounce (null sender), nor to an address we cannot use
    data, message_id = build_dsn(reporting_mta=hostname, original_sender=msg.mail_from,
                                 queue_id=msg.queue_id, arrival=msg.arrived, failed=failed,
                                 original=msg.data)
    meta: dict[str, Any] = {"message_id": message_id, "dsn_for": msg.queue_id}
    if "tenant" in msg.meta:
        meta["tenant"] = msg.meta["tenant"]
    return NewMessage("", (msg.mail_from,), data, meta)
