"""Structured reports: RFC 3464, ARF feedback, Amazon SES JSON, RFC 3834 auto-replies."""

from __future__ import annotations

from pathlib import Path

from gateway.bounces import parse_bounce

ALIAS = "bcdf9ghjk2lmnpq@marketplace.amazon.de"

DSN = f"""\
From: Mail Delivery System <MAILER-DAEMON@gw.shop.example>
To: orders@shop.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce.1@gw.shop.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; gw.shop.example

Original-Recipient: rfc822;{ALIAS}
Final-Recipient: rfc822; relay-7@inbound.example.net
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <relay-7@inbound.example.net>: Recipient address
 rejected: User unknown in virtual mailbox table

Final-Recipient: rfc822; other@example.org
Action: delayed
Status: 4.4.7
Diagnostic-Code: smtp; 421 4.4.7 Delivery time expired

--B
Content-Type: text/rfc822-headers

From: orders@shop.example
To: {ALIAS}
Subject: Ihre Bestellung 302-1234567-1234567
Message-ID: <orig.42@gw.shop.example>

--B--
"""


def test_rfc3464_recipients_actions_and_original_message_id() -> None:
    report = parse_bounce(DSN.encode())
    assert report.kind == "dsn"
    first, second = report.recipients
    assert (first.address, first.original_recipient) == ("relay-7@inbound.example.net", ALIAS)
    assert (first.reason, first.status, first.action) == ("userunknown", "5.1.1", "failed")
    assert "User unknown in virtual mailbox table" in first.diagnostic
    assert (second.address, second.reason, second.status, second.action) == (
        "other@example.org", "expired", "4.4.7", "delayed")
    assert report.message_ids == ("orig.42@gw.shop.example",)
    # What the gateway sent to was a buyer alias: the report says which, and the order of the original.
    assert (report.alias, report.marketplace, report.order_id) == (ALIAS, "de", "302-1234567-1234567")


def test_arf_feedback_report(corpus: Path) -> None:
    report = parse_bounce((corpus / "arf-01.eml").read_bytes())
    assert [(r.address, r.reason) for r in report.recipients] == [("redacted@example.net", "feedback")]


def test_ses_json_notifications(corpus: Path) -> None:
    bounce = parse_bounce((corpus / "lhost-amazonses-09.eml").read_bytes())
    complaint = parse_bounce((corpus / "lhost-amazonses-11.eml").read_bytes())
    delivery = parse_bounce((corpus / "lhost-amazonses-12.eml").read_bytes())
    assert [(r.address, r.reason, r.status) for r in bounce.recipients] == [
        ("bounce@simulator.amazonses.com", "userunknown", "5.1.1")]
    assert [r.reason for r in complaint.recipients] == ["feedback"]
    assert [(r.reason, r.status) for r in delivery.recipients] == [("delivered", "2.6.0")]


def test_auto_reply_is_vacation(corpus: Path) -> None:
    report = parse_bounce((corpus / "rfc3834-01.eml").read_bytes())
    assert [(r.address, r.reason) for r in report.recipients] == [("kijitora@example.net", "vacation")]


def test_forwarded_bounce_inside_message_rfc822(corpus: Path) -> None:
    report = parse_bounce((corpus / "lhost-x5-01.eml").read_bytes())
    assert [(r.address, r.reason) for r in report.recipients] == [
        ("kijitora@neko.example.org", "userunknown")]


def test_report_without_recipients_is_an_empty_dsn() -> None:
    raw = DSN.split("Original-Recipient")[0] + "\n--B--\n"
    report = parse_bounce(raw.encode())
    assert report.kind == "dsn"
    assert report.recipients == ()


def test_unreadable_report_with_auto_submitted_is_not_a_vacation_reply() -> None:
    raw = (b"From: Mail Delivery System <MAILER-DAEMON@x.example>\nAuto-Submitted: auto-replied\n"
           b"Subject: Mail delivery failed\n\nsomething went wrong\n")
    report = parse_bounce(raw)
    assert (report.kind, report.recipients) == ("dsn", ())
