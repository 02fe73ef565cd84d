"""Bounce-backs and seller messages as the gateway meets them, built per test (no shared fixtures)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

SHOP = "orders@shop.example"
OPTOUT_TEXT = ("Dear Seller,\n\nWe were unable to deliver the message you sent for order {order} because "
               "the buyer has chosen to opt out of receiving unsolicited messages from sellers.\n\n"
               "Sincerely,\nAmazon Selling Partner Support\n")


def seller_message(alias: str, subject: str, body: str, *, message_id: str | None = None,
                   in_reply_to: str | None = None, cte: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = SHOP
    msg["To"] = alias
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="shop.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body, cte=cte)
    return bytes(msg).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def optout_notice(order: str, *, tld: str = "de", in_reply_to: str | None = None,
                  alias: str | None = None, message_id: str | None = None) -> bytes:
    """Amazon's opt-out notice (English wording seen in the wild), by default naming only the order."""
    msg = EmailMessage()
    msg["From"] = f"Amazon Seller Notifications <donotreply@amazon.{tld}>"
    msg["To"] = SHOP
    msg["Subject"] = "Your message to a buyer could not be delivered"
    msg["Message-ID"] = message_id or make_msgid(domain="amazon.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    text = OPTOUT_TEXT.format(order=order)
    if alias:
        text += f"\nBuyer: {alias}\n"
    msg.set_content(text)
    return bytes(msg).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def dsn(recipient: str, status: str, diagnostic: str, *, original_message_id: str | None = None,
        action: str = "failed") -> bytes:
    """An RFC 3464 delivery status notification for one recipient."""
    boundary = "dsn-boundary-1"
    original = ""
    if original_message_id:
        original = (f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
                    f"From: {SHOP}\r\nTo: {recipient}\r\nMessage-ID: {original_message_id}\r\n"
                    f"Subject: Your order\r\n\r\n")
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\n"
        f"To: {SHOP}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mx.example')}\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n"
        f"\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        f"This is the mail system. Your message could not be delivered to {recipient}.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        f"{original}"
        f"--{boundary}--\r\n"
    ).encode()


def plain_mail(subject: str = "Lunch?") -> bytes:
    return (f"From: colleague@shop.example\r\nTo: {SHOP}\r\nSubject: {subject}\r\n"
            f"Message-ID: {make_msgid(domain='shop.example')}\r\n\r\nSee you at noon.\r\n").encode()
