"""Hostile reports are read with bounded work: the limits cut what is read, and say so.
(Times are measured in bench/bounce_parse.py, not here.)"""

from __future__ import annotations

from gateway.bounces import parse_bounce
from gateway.bounces.report import MAX_RECIPIENTS
from gateway.message.report import read_report

HEAD = "From: MAILER-DAEMON@mx.example.net\nTo: shop@seller.example\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"


def test_a_report_about_more_recipients_than_a_transaction_carries_is_cut() -> None:
    blocks = "".join(f"Final-Recipient: rfc822; u{i}@example.org\nAction: failed\nStatus: 5.1.1\n\n"
                     for i in range(3 * MAX_RECIPIENTS))
    raw = (HEAD + "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
           f"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n{blocks}--b--\n")
    report = parse_bounce(raw.encode())
    assert len(report.recipients) == MAX_RECIPIENTS
    assert report.recipients[0].address == "u0@example.org"
    assert {r.reason for r in report.recipients} == {"userunknown"}


def test_thousands_of_parts_are_read_up_to_the_reader_limit() -> None:
    parts = "".join("--b\nContent-Type: text/plain\n\nfiller\n" for _ in range(5000))
    raw = (HEAD + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
           "<gone@example.org>: user unknown (in reply to RCPT TO command)\n" + parts + "--b--\n")
    mail = read_report(raw.encode())
    assert any("too many parts" in p for p in mail.problems)
    assert mail.text.count("filler") < 600
    assert [r.address for r in parse_bounce(raw.encode()).recipients] == ["gone@example.org"]


def test_a_flood_of_self_closed_elements_is_cut_before_the_html_parser() -> None:
    # The HTML parser opens an element for every <div/> (outside SVG the slash means nothing), and
    # its cost grows with the square of the depth.
    html = "<p>Delivery to the following recipient failed: gone@example.org</p>" + "<div/>" * 30_000 + "tail"
    raw = HEAD + "Content-Type: text/html; charset=utf-8\n\n" + html + "\n"
    mail = read_report(raw.encode())
    assert any("nested deeper" in p for p in mail.problems)
    assert "gone@example.org" in mail.text and "tail" not in mail.text


def test_forwarded_reports_nest_only_so_deep() -> None:
    inner = "Content-Type: text/plain\n\nbottom"
    for i in range(50):
        inner = (f"Content-Type: multipart/report; report-type=delivery-status; boundary=r{i}\n\n"
                 f"--r{i}\nContent-Type: text/plain\n\nlevel {i}\n--r{i}\nContent-Type: message/rfc822\n\n"
                 f"{inner}\n--r{i}--\n")
    mail = read_report((HEAD + inner).encode())
    assert "level 49" in mail.text and "bottom" not in mail.text
