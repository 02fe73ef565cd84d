"""Decide what a message is and dispatch to the matching parser.

Order: Amazon seller notice, Amazon SES JSON notification, ARF feedback report, RFC 3464 DSN,
vendor plain-text report, RFC 3834 auto-reply, and otherwise not a bounce.
"""

from __future__ import annotations

import dataclasses
import re

import gateway.bounces.amazon as amazon
import gateway.bounces.dsn as dsn
import gateway.bounces.vendors as vendors
from gateway.bounces.markers import is_challenge, looks_like_report
from gateway.bounces.report import BouncedRecipient, BounceReport
from gateway.message.report import ReportContent, message_ids_in, read_report
from gateway.orderids import ORDER_ID


def correlation_ids(mail: ReportContent) -> tuple[str, ...]:
    ids: list[str] = []
    for name in ("In-Reply-To", "References"):
        ids.extend(message_ids_in(mail.header(name)))
    if mail.original is not None and mail.original.message_id:
        ids.append(mail.original.message_id)
    ids.extend(vendors.quoted_message_ids(mail))
    own = set(message_ids_in(mail.header("Message-ID")))
    seen: dict[str, None] = {}
    for i in ids:
        if i not in own:
            seen.setdefault(i, None)
    return tuple(seen)


# An mbox "From " separator: some reports arrive as several messages in one file.
_MBOX_FROM = re.compile(rb"\n\n(?=From \S+ +\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}\r?\n)")


def analyse(raw: bytes) -> BounceReport:
    return analyse_read(raw)[0]


def analyse_read(raw: bytes) -> tuple[BounceReport, ReportContent]:
    """The report, and the message as read for it (the first one of an mbox file), for a caller that
    needs more of it (gateway/bounces/ingest.py) without reading it again."""
    raw = raw.replace(b"\r\n", b"\n")
    if raw.startswith(b"From ") and (end := raw.find(b"\n")) > 0:
        # An mbox envelope line before the headers (a file saved from a mailbox) is not a header.
        raw = raw[end + 1:]
    parts = _MBOX_FROM.split(raw)
    if len(parts) > 1:
        mails = [read_report(p) for p in parts[:20]]
        reports = [analyse_mail(m) for m in mails]
        first = reports[0]
        merged = tuple(r for rep in reports if rep.kind in ("dsn", "delay") for r in rep.recipients)
        if first.kind in ("dsn", "delay") and merged:
            return dataclasses.replace(first, recipients=merged), mails[0]
        return first, mails[0]
    mail = read_report(raw)
    return analyse_mail(mail), mail


def analyse_one(raw: bytes) -> BounceReport:
    return analyse_mail(read_report(raw))


def analyse_mail(mail: ReportContent) -> BounceReport:
    ids = correlation_ids(mail)

    notice = amazon.parse_notice(mail)
    if notice is not None:
        return BounceReport(kind="amazon-optout" if notice.notice == "optout" else "amazon-notice",
                            recipients=notice.recipients, order_id=notice.order_id,
                            marketplace=notice.marketplace, alias=notice.alias, notice=notice.notice,
                            language=notice.language, wording_verified=notice.verified, message_ids=ids,
                            subject=mail.subject)

    if is_challenge(mail):
        return BounceReport(kind="not-bounce", message_ids=ids, subject=mail.subject)

    recipients: tuple[BouncedRecipient, ...] | None = (
        dsn.parse_ses_json(mail) or dsn.parse_feedback(mail) or dsn.parse_dsn(mail)
        or vendors.parse_text(mail) or dsn.parse_autoreply(mail)
    )
    if recipients:
        alias, marketplace = amazon.alias_among(
            [a for r in recipients for a in (r.original_recipient, r.address) if a]
            + ([mail.original.to] if mail.original else []))
        order = ORDER_ID.search(mail.original.subject) if mail.original else None
        delayed = all(r.action.lower() == "delayed" for r in recipients)
        return BounceReport(kind="delay" if delayed else "dsn", recipients=recipients, alias=alias,
                            marketplace=marketplace,
                            order_id=order.group(1) if order else None, message_ids=ids, subject=mail.subject)
    if looks_like_report(mail):
        return BounceReport(kind="dsn", recipients=(), message_ids=ids, subject=mail.subject)
    return BounceReport(kind="not-bounce", message_ids=ids, subject=mail.subject)
