"""Report layouts beyond the shared corpus: written here from each layout's shape, not copied samples."""

from __future__ import annotations

from gateway.bounces import parse_bounce
from gateway.message.report import decode_by_content as decode_bytes


def _text_report(subject: str, body: str, sender: str = "MAILER-DAEMON@mx.example.net",
                 headers: str = "") -> bytes:
    return (f"Return-Path: <>\nFrom: {sender}\nTo: seller@shop.example\nSubject: {subject}\n{headers}"
            f"Date: Thu, 29 Apr 2021 10:00:00 +0000\n\n{body}").encode()


def test_exim3_mail_failed_returning_to_sender() -> None:
    raw = _text_report("mail failed, returning to sender", (
        "|------------------------- Message log follows: -------------------------|\n"
        " no valid recipients were found for this message\n"
        "|------------------------- Failed addresses follow: ---------------------|\n"
        " buyer@nowhere.example.com ... unknown host\n"
        "|------------------------- Message text follows: ------------------------|\n"
        "To: buyer@nowhere.example.com\nCc: someone-else@example.org\nSubject: Your order\n\nHello\n"))
    report = parse_bounce(raw)
    assert report.kind == "dsn"
    assert [(r.address, r.reason) for r in report.recipients] == [("buyer@nowhere.example.com", "hostunknown")]


def test_sendmail_v5_transcript_with_several_recipients() -> None:
    raw = _text_report("Returned mail: Host unknown", (
        "   ----- Transcript of session follows -----\n"
        "550 a.example.net (smtp)... 550 Host unknown\n"
        "554 <one@a.example.net>... 550 Host unknown (Authoritative answer from name server)\n"
        "550 b.example.org (smtp)... 550 Host unknown\n"
        "554 <two@b.example.org>... 550 Host unknown (Authoritative answer from name server)\n"
        "\n   ----- Unsent message follows -----\nFrom: seller@shop.example\nTo: one@a.example.net\n"
        "Subject: x\n\nx\n"))
    report = parse_bounce(raw)
    assert [(r.address, r.reason) for r in report.recipients] == [
        ("one@a.example.net", "hostunknown"), ("two@b.example.org", "hostunknown")]


def test_quoted_local_part_is_kept() -> None:
    raw = _text_report("failure notice", (
        "Hi. This is the qmail-send program at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        '<"neko..nyaan"@example.org>:\n192.0.2.1 does not like recipient.\n'
        "Remote host said: 550 5.1.1 no mailbox here by that name\n\n"
        "--- Below this line is a copy of the message.\n\nSubject: x\n\nx\n"))
    (rcpt,) = parse_bounce(raw).recipients
    assert (rcpt.address, rcpt.reason) == ('"neko..nyaan"@example.org', "userunknown")


def test_qmail_bounce_of_a_message_to_oneself() -> None:
    raw = (b"From MAILER-DAEMON  Mon Jan  1 00:00:00 2021\nReturn-Path: <>\nDelivered-To:seller@shop.example\n"
           b"From: MAILER-DAEMON@shop.example\nTo: seller@shop.example\nSubject: failure notice\n\n"
           b"Hi. This is the qmail-send program at shop.example.\n"
           b"I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
           b"<seller@shop.example>:\n192.0.2.1 does not like recipient.\n"
           b"Remote host said: 552 Error: disk quota exceeded\nGiving up on 192.0.2.1.\n")
    (rcpt,) = parse_bounce(raw).recipients
    assert (rcpt.address, rcpt.reason) == ("seller@shop.example", "mailboxfull")


def test_challenge_response_is_not_a_bounce() -> None:
    raw = _text_report("Please verify your message to buyer@example.com", (
        "Hello, your message to buyer@example.com is waiting for your approval.\n"
        "Please verify that you are a real person by clicking the link below.\n"),
        sender="Boxbe <notifications@boxbe.com>")
    report = parse_bounce(raw)
    assert (report.kind, report.recipients) == ("not-bounce", ())


def test_whitelist_notice_is_not_a_bounce() -> None:
    raw = _text_report("Undeliverable: held for approval", (
        "Your message to buyer@example.com has been held.\n"
        "You are not on the recipient's whitelist; the recipient has been told about your message.\n"))
    report = parse_bounce(raw)
    assert (report.kind, report.recipients) == ("not-bounce", ())


def test_delay_warning_is_not_a_failure() -> None:
    raw = _text_report("Warning: message delayed", (
        "This is a warning message only. It will continue trying for another 4 days.\n\n"
        "<buyer@slow.example.com>: host mx.slow.example.com[192.0.2.9] said: 451 4.3.0 Temporary failure\n\n"))
    report = parse_bounce(raw)
    assert report.kind == "delay"
    assert [(r.address, r.action, r.status[0]) for r in report.recipients] == [("buyer@slow.example.com",
                                                                                 "delayed", "4")]


def test_failed_dsn_with_a_challenge_phrase_is_still_a_bounce() -> None:
    raw = (b"From: MAILER-DAEMON@mx.example.net\nTo: s@shop.example\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\n"
           b"Content-Type: text/plain\n\nYour message has been held, then refused.\n\n--b\n"
           b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
           b"Final-Recipient: rfc822; gone@example.com\nAction: failed\nStatus: 5.1.1\n"
           b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n--b--\n")
    report = parse_bounce(raw)
    assert report.kind == "dsn"
    assert [(r.address, r.reason) for r in report.recipients] == [("gone@example.com", "userunknown")]


def test_charset_by_content_when_the_label_lies() -> None:
    text = "ディレクトリのリストにありません"
    assert decode_bytes(text.encode("euc-jp"), "ISO-2022-JP") == text
    assert decode_bytes(text.encode("cp932"), "iso-2022-jp") == text
    assert decode_bytes(text.encode("iso-2022-jp"), "iso-2022-jp") == text
    raw = (b"From: Postmaster <postmaster@mx.example.jp>\nTo: s@shop.example\n"
           b"Subject: Undeliverable message\nMIME-Version: 1.0\n"
           b"Content-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 8bit\n\n")
    raw += ("------- Failure Reasons  --------\n\n" + text + "\nbuyer@example.jp\n\n"
            "------- Returned Message --------\nSubject: x\n\nx\n").encode("euc-jp")
    (rcpt,) = parse_bounce(raw).recipients
    assert (rcpt.address, rcpt.reason) == ("buyer@example.jp", "userunknown")
    assert text in rcpt.diagnostic


def test_mbox_envelope_line_before_headers() -> None:
    raw = (b"From MAILER-DAEMON Thu Apr 29 10:00:00 2021\n") + _text_report(
        "Undelivered Mail Returned to Sender",
        "<gone@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1 <gone@example.com>: "
        "Recipient address rejected: User unknown (in reply to RCPT TO command)\n")
    (rcpt,) = parse_bounce(raw).recipients
    assert (rcpt.address, rcpt.reason, rcpt.status) == ("gone@example.com", "userunknown", "5.1.1")


def test_mail_client_unsubscribe_is_feedback_from_the_recipient() -> None:
    raw = (b"From: buyer@icloud.example\nTo: opt-out-1234@shop.example\nSubject: unsubscribe\n"
           b"Auto-Submitted: auto-replied\nX-Apple-Unsubscribe: true\n\n"
           b"Apple Mail sent this email to unsubscribe from the message \"Your order\".\n")
    report = parse_bounce(raw)
    assert [(r.address, r.reason, r.diagnostic) for r in report.recipients] == [
        ("buyer@icloud.example", "feedback", "opt-out")]
