"""gateway/trace.py: the Received header and the missing Message-ID and Date."""

from __future__ import annotations

from gateway.trace import ClientInfo, add_trace_headers, protocol_name, received_header

NOW = 1_796_000_000.0  # a fixed moment, so the Date lines are known


def test_received_like_postfix() -> None:
    client = ClientInfo(helo="erp.shop.example", address="192.0.2.10", name="erp.shop.example",
                        tls_version="TLSv1.3", tls_cipher="TLS_AES_256_GCM_SHA384", tls_bits=256,
                        auth_user="erp")
    header = received_header(client, hostname="gw.example", queue_id="ABC123",
                             recipients=["buyer@example.com"], show_auth_user=True, now=NOW)
    lines = header.decode().split("\r\n")
    assert lines[0] == "Received: from erp.shop.example (erp.shop.example [192.0.2.10])"
    assert lines[1] == "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))"
    assert lines[2] == "\t(Authenticated sender: erp)"
    assert lines[3] == "\tby gw.example (Seller Mail Gateway) with ESMTPSA id ABC123"
    assert lines[4].startswith("\tfor <buyer@example.com>; ") and lines[4].endswith(" +0000")
    assert lines[5] == ""


def test_auth_user_only_when_configured_and_several_recipients_unnamed() -> None:
    client = ClientInfo(helo="[192.0.2.10]", address="2001:db8::5", auth_user="erp")
    header = received_header(client, hostname="gw.example", queue_id="Q1",
                             recipients=["a@example.com", "b@example.com"], show_auth_user=False, now=NOW)
    text = header.decode()
    assert "Authenticated" not in text and "erp" not in text and "for <" not in text
    assert text.startswith("Received: from [192.0.2.10] (unknown [IPv6:2001:db8::5])\r\n")
    assert "with ESMTPA id Q1;\r\n\t" in text


def test_client_supplied_text_cannot_break_out() -> None:
    client = ClientInfo(helo="evil)\r\nX-Injected: yes (", address="192.0.2.1",
                        auth_user="user) (Authenticated sender: admin")
    header = received_header(client, hostname="gw", queue_id="Q", recipients=[], show_auth_user=True,
                             now=NOW)
    assert header.count(b"\r\n") == header.decode().count("\n")
    assert b"\r\nX-Injected" not in header
    assert b"(Authenticated sender: user? (Authenticated sender: admin)" in header


def test_protocol_names() -> None:
    assert protocol_name(ClientInfo(helo="h", address="a", esmtp=False)) == "SMTP"
    assert protocol_name(ClientInfo(helo="h", address="a", tls_version="TLSv1.2")) == "ESMTPS"
    assert protocol_name(ClientInfo(helo="h", address="a", smtputf8=True, auth_user="u")) == "UTF8SMTPA"


def test_missing_message_id_and_date_added_at_the_end_of_the_header_block() -> None:
    received = b"Received: from x (unknown [192.0.2.1])\r\n\tby gw; date\r\n"
    data = b"From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n"
    out = add_trace_headers(data, received, add_missing=True, hostname="gw.example", queue_id="Q9",
                            now=NOW)
    assert out.startswith(received + b"From: a@example.com\r\nSubject: s\r\nMessage-ID: <Q9@gw.example>\r\n"
                          b"Date: ")
    assert out.endswith(b" +0000\r\n\r\nbody\r\n")
    full = b"Message-ID: <m@x>\r\nDATE: Mon, 30 Nov 2026 10:00:00 +0100\r\n\r\nbody\r\n"
    assert add_trace_headers(full, received, add_missing=True, hostname="gw", queue_id="Q", now=NOW) \
        == received + full
    assert add_trace_headers(data, received, add_missing=False, hostname="gw", queue_id="Q") \
        == received + data


def test_a_body_without_a_blank_line_stays_a_body() -> None:
    out = add_trace_headers(b"just text, no headers\r\n", b"", add_missing=True, hostname="gw",
                            queue_id="Q", now=NOW)
    head, sep, body = out.partition(b"\r\n\r\n")
    assert sep and body == b"just text, no headers\r\n"
    assert head.startswith(b"Message-ID: <Q@gw>\r\nDate: ")
