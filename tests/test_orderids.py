"""Order ids read from a message when no policy engine reported them."""

from __future__ import annotations

from email.message import EmailMessage

from gateway.orderids import order_ids_in_message, order_ids_in_text


def test_order_ids_in_text_distinct_in_order_and_exact() -> None:
    text = ("Bestellung 302-4817265-9034712, again 302-4817265-9034712, then 028-1234567-7654321; "
            "not 1302-4817265-9034712, not 302-4817265-90347123, not 302-481726-9034712")
    assert order_ids_in_text(text) == ("302-4817265-9034712", "028-1234567-7654321")


def test_order_ids_from_encoded_subject_and_body_not_attachments() -> None:
    msg = EmailMessage()
    msg["Subject"] = "=?utf-8?q?Bestellung_111-2222222-3333333_Gr=C3=BC=C3=9Fe?="
    msg.set_content("Zu Bestellung 302-4817265-9034712.", cte="base64")
    msg.add_attachment(b"order 999-9999999-9999999", maintype="application", subtype="octet-stream",
                       filename="x.bin")
    msg.add_attachment("Anhang zu 888-8888888-8888888", disposition="attachment", filename="note.txt")
    raw = bytes(msg)
    assert b"302-4817265-9034712" not in raw  # only in the base64 part
    assert order_ids_in_message(raw) == ("111-2222222-3333333", "302-4817265-9034712")


def test_unreadable_message_gives_no_order_ids() -> None:
    assert order_ids_in_message(b"\xff\xfe not a message at all") == ()


def test_plain_message_read_without_mime_parse() -> None:
    raw = (b"From: a@shop.example\r\nSubject: Order 111-2222222-3333333\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nZu Bestellung 302-4817265-9034712.\r\n")
    assert order_ids_in_message(raw) == ("111-2222222-3333333", "302-4817265-9034712")
    # The same text quoted-printable encoded takes the MIME path and gives the same answer.
    encoded = raw.replace(b"charset=utf-8\r\n", b"charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n")
    assert order_ids_in_message(encoded) == ("111-2222222-3333333", "302-4817265-9034712")
