"""A held message's subject as the admin finds and reads it, over SMTP with the shipped rule packs
and a real SQLite store: a raw UTF-8 (RFC 6532) subject and one in an unknown charset."""

from __future__ import annotations

import aiosmtplib

from gateway.store.search import QuarantineQuery, decode_subject
from tests.conftest import GatewayFactory, listener_port

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
ORDER = "302-4817265-9034712"


def misused_keyword(subject: bytes, message_id: str) -> bytes:
    # [Wichtig] on an invoice: held for review (critical-keyword-misused).
    return (b"From: orders@shop.example\r\nTo: " + ALIAS.encode() + b"\r\nSubject: " + subject + b"\r\n"
            b"Message-ID: <" + message_id.encode() + b">\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag,\r\n\r\nanbei die Rechnung zu Bestellung "
            + ORDER.encode() + b".\r\n\r\nMit freundlichen Gr\xc3\xbc\xc3\x9fen\r\nIhr Team von Mustermann Handel\r\n")


async def test_held_subjects_are_found_and_shown_as_written(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(policy="load")
    assert gw.store is not None
    port = listener_port(gw)
    subjects = {
        "raw": (f"[Wichtig] Ihre Rechnung für {ORDER} – 請求書".encode(),
                f"[Wichtig] Ihre Rechnung für {ORDER} – 請求書"),
        "charset": (b"=?x-unknown?q?=5BWichtig=5D_Gr=FC=DFe_zur_Rechnung?=", "[Wichtig] Grüße zur Rechnung"),
    }
    for name, (subject, _shown) in subjects.items():
        _errors, reply = await aiosmtplib.send(misused_keyword(subject, f"{name}@shop.example"),
                                               sender="orders@shop.example", recipients=[ALIAS],
                                               hostname="127.0.0.1", port=port)
        assert "held" in reply.lower() or "quarantine" in reply.lower(), reply

    page = await gw.store.search_quarantine(QuarantineQuery())
    shown = {r.message_id.strip("<>").split("@")[0]: decode_subject(r.subject) for r in page.items}
    assert shown == {name: text for name, (_raw, text) in subjects.items()}

    async def found(words: str) -> list[str]:
        page = await gw.store.search_quarantine(QuarantineQuery(subject=words))
        return [r.message_id for r in page.items]

    assert await found("für") == ["<raw@shop.example>"]
    assert await found("請求書") == ["<raw@shop.example>"]
    assert await found("grüße") == ["<charset@shop.example>"]
