"""The whole opt-out loop, end to end on loopback with the real policy engine and a real upstream.

relay a proactive message to an alias -> Amazon's opt-out notice for that order (without the alias)
arrives at the bounce address over SMTP -> the registry has the alias as opted out -> the next
proactive, non-critical message to that alias is refused with a 5xx that names the opt-out, while a
reply in the buyer's thread still relays, and a critical message relays with the subject keyword.
A DSN "user unknown" for the alias makes the next message fail 550 5.1.1.
"""

from __future__ import annotations

import asyncio

import aiosmtplib
import pytest

from tests.bounces.messages import dsn, optout_notice, seller_message
from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink

pytest.importorskip("gateway.policy.engine", reason="the policy engine (branch policy) is not merged yet")

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
ORDER = "302-4817265-9034712"
BOUNCES = "optout-notices@gw.shop.example"
SELLER = "orders@shop.example"


def invoice(message_id: str) -> bytes:
    return seller_message(
        ALIAS, f"Ihre Rechnung zur Bestellung {ORDER}",
        f"Guten Tag,\n\nanbei die Rechnung zu Bestellung {ORDER}.\n\n"
        "Mit freundlichen Grüßen\nIhr Team von Mustermann Handel\n",
        message_id=message_id)


async def send(port: int, data: bytes, to: str) -> str:
    errors, reply = await aiosmtplib.send(data, sender=SELLER, recipients=[to], hostname="127.0.0.1",
                                          port=port)
    assert errors == {}
    return reply


async def test_optout_notice_blocks_next_proactive_message_but_not_a_reply(
        gateway_factory: GatewayFactory, sink: Sink) -> None:
    gw = await gateway_factory(policy="load", bounces={"addresses": [BOUNCES]})
    assert gw.store is not None and gw.tenants is not None and gw.tenants.default_policy is not None
    port = listener_port(gw)

    # 1. A proactive message to the buyer is relayed and recorded with its order id.
    reply = await send(port, invoice("<inv-1@shop.example>"), ALIAS)
    assert "queued as" in reply
    await sink.handler.wait_for(1)
    assert gw.processor is not None
    await gw.processor.drain()  # relay records are written beside the reply, not before it
    assert await gw.store.relays_by_order(ORDER, "de", since=0) == [(ALIAS, "de")]

    # 2. Amazon's notice names only the order; the seller's mailbox forwards it to the gateway.
    reply = await send(port, optout_notice(ORDER, tld="de"), BOUNCES)
    assert "bounce-back recorded" in reply and "matched by order" in reply

    # 3. The registry now has the alias as opted out, with the notice as evidence.
    record = await gw.store.get_alias(ALIAS)
    assert record is not None
    assert (record.status, record.order_id, record.marketplace) == ("optout", ORDER, "de")
    evidence = gw.store.evidence_path(record.evidence)
    assert evidence is not None and evidence.is_file()

    # 4. The next proactive, non-critical message is refused at end of DATA, naming the opt-out.
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(port, invoice("<inv-2@shop.example>"), ALIAS)
    assert 500 <= refused.value.code < 600
    assert "opted out" in refused.value.message

    # 5. A reply in the buyer's thread still goes through.
    answer = seller_message(
        ALIAS, f"AW: Frage zu Bestellung {ORDER}",
        f"Guten Tag,\n\ndie Lieferung zu Bestellung {ORDER} kommt am Montag.\n\nViele Grüße\n",
        in_reply_to="<buyer-question-1@marketplace.amazon.de>")
    reply = await send(port, answer, ALIAS)
    assert "queued as" in reply
    received = await sink.handler.wait_for(2)
    assert b"AW: Frage zu Bestellung" in received[1].data

    # 6. So does a critical message (an address problem), with the subject keyword added.
    critical = seller_message(
        ALIAS, f"Lieferadresse zu Bestellung {ORDER}",
        f"Guten Tag,\n\ndie Lieferadresse zu Bestellung {ORDER} ist unvollständig: die Hausnummer fehlt.\n"
        "Bitte ergänzen Sie sie in Ihrem Amazon-Konto.\n\nViele Grüße\n")
    reply = await send(port, critical, ALIAS)
    assert "queued as" in reply
    received = await sink.handler.wait_for(3)
    assert b"Subject: [Wichtig] Lieferadresse zu Bestellung" in received[2].data
    await asyncio.sleep(0.2)
    assert len(sink.messages) == 3  # the refused message never reached the upstream


async def test_dead_alias_is_refused_550_5_1_1(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gw = await gateway_factory(policy="load", bounces={"addresses": [BOUNCES]})
    assert gw.store is not None
    port = listener_port(gw)
    reply = await send(port, dsn(ALIAS, "5.1.1", "550 5.1.1 Recipient address rejected: User unknown"),
                       BOUNCES)
    assert "dead" in reply
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(port, invoice("<inv-3@shop.example>"), ALIAS)
    assert refused.value.code == 550
    assert refused.value.message.startswith("5.1.1")
    assert sink.messages == []
