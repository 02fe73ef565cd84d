"""Preview and evidence highlighting of held messages (pure functions, no server)."""

from __future__ import annotations

from gateway.admin.message_view import highlight, html_to_text, preview


def test_html_is_reduced_to_visible_text_with_link_targets() -> None:
    text = html_to_text('<html><head><title>t</title><style>p{}</style></head><body><p>Hi <b>there</b>'
                        '<script>alert(1)</script></p><a href="https://x.example/a">link</a>&amp; more</body></html>')
    assert text.startswith("Hi there")
    assert "alert" not in text and "p{}" not in text
    assert "<https://x.example/a>" in text and "& more" in text


def test_preview_prefers_the_text_part_and_lists_parts() -> None:
    raw = (b"From: s@shop.example\r\nTo: a@marketplace.amazon.de\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n--XX--\r\n")
    view = preview(raw)
    assert view.source == "text/plain"
    assert view.text.strip() == "Schöne Grüße"
    assert ("Subject", "Grüße") in view.headers
    assert [p["content_type"] for p in view.parts] == ["text/plain", "text/html"]


def test_preview_survives_an_unknown_charset() -> None:
    raw = b"Subject: x\r\nContent-Type: text/plain; charset=x-unknown-42\r\n\r\nhello \xff\r\n"
    assert preview(raw).text.startswith("hello")


def test_highlight_marks_every_occurrence_case_insensitively() -> None:
    parts = highlight("Call +49 151 or WhatsApp: whatsapp me", ["WhatsApp", "+49 151", ""])
    assert [seg for seg, hit in parts if hit] == ["+49 151", "WhatsApp", "whatsapp"]
    assert "".join(seg for seg, _ in parts) == "Call +49 151 or WhatsApp: whatsapp me"
    assert highlight("nothing here", ["absent"]) == [("nothing here", False)]
    assert highlight("a.b", ["."]) == [("a", False), (".", True), ("b", False)]  # regex characters are literal
