"""Bounce-backs forwarded to the gateway over SMTP: recorded in the registry, never relayed.

A real gateway (no policy engine) on loopback with a real aiosmtpd sink upstream.
"""

from __future__ import annotations

import asyncio

import aiosmtplib

from gateway.app import Gateway
from tests.bounces.messages import dsn, optout_notice, plain_mail, seller_message
from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
ORDER = "302-4817265-9034712"
BOUNCES = "optout-notices@gw.shop.example"


async def send(port: int, data: bytes, to: str, sender: str = "orders@shop.example") -> str:
    errors, reply = await aiosmtplib.send(data, sender=sender, recipients=[to], hostname="127.0.0.1",
                                          port=port)
    assert errors == {}
    return reply


async def test_relay_records_order_ids_without_policy_engine(gateway_factory: GatewayFactory,
                                                             sink: Sink) -> None:
    gw = await gateway_factory(policy=None)
    assert gw.store is not None
    # The order id only in a base64 body: it must be read from the decoded text.
    data = seller_message(ALIAS, "Ihre Rechnung", f"Rechnung zu Bestellung {ORDER} anbei. Grüße",
                          message_id="<inv-1@shop.example>", cte="base64")
    assert ORDER.encode() not in data
    await send(listener_port(gw), data, ALIAS)
    await sink.handler.wait_for(1)
    assert gw.processor is not None
    await gw.processor.drain()  # relay records are written beside the reply, not before it
    assert await gw.store.relays_by_order(ORDER, "de", since=0) == [(ALIAS, "de")]
    assert await gw.store.relays_by_message_id(["inv-1@shop.example"]) == [(ALIAS, "de")]


async def test_optout_notice_to_bounce_address_is_recorded_not_relayed(gateway_factory: GatewayFactory,
                                                                       sink: Sink) -> None:
    gw = await gateway_factory(policy=None, bounces={"addresses": [BOUNCES]})
    assert gw.store is not None
    port = listener_port(gw)
    await send(port, seller_message(ALIAS, f"Lieferung zu Bestellung {ORDER}", "Termin: Montag."), ALIAS)
    await sink.handler.wait_for(1)

    # Amazon's notice names only the order; the seller's mailbox forwards it to the gateway.
    reply = await send(port, optout_notice(ORDER), BOUNCES.upper(), sender="orders@shop.example")
    assert reply.startswith("2.0.0 Ok: bounce-back recorded")
    assert f"matched by order: {ALIAS} optout" in reply
    assert await gw.store.alias_status(ALIAS) == "optout"
    await asyncio.sleep(0.3)
    assert len(sink.messages) == 1, "a bounce-back must never be relayed"


async def test_message_with_bounce_and_normal_recipient_is_relayed_not_ingested(
        gateway_factory: GatewayFactory, sink: Sink) -> None:
    gw = await gateway_factory(policy=None, bounces={"addresses": [BOUNCES]})
    assert gw.store is not None
    errors, reply = await aiosmtplib.send(
        optout_notice(ORDER, alias=ALIAS), sender="orders@shop.example",
        recipients=[BOUNCES, "archive@shop.example"], hostname="127.0.0.1", port=listener_port(gw))
    assert errors == {} and "queued as" in reply
    await sink.handler.wait_for(1)
    assert await gw.store.alias_status(ALIAS) is None


async def test_separate_bounce_listener_ingests_everything_it_receives(gateway_factory: GatewayFactory,
                                                                       sink: Sink) -> None:
    gw = await gateway_factory(policy=None, bounces={"listen": "127.0.0.1:0"})
    assert gw.store is not None and gw.bounce_listener is not None
    port = gw.bounce_listener.port
    assert port != listener_port(gw)
    reply = await send(port, dsn(ALIAS, "5.1.1", "550 5.1.1 Recipient address rejected: User unknown"),
                       "anything@gw.shop.example")
    assert "dsn matched by alias" in reply and "dead" in reply
    assert await gw.store.alias_status(ALIAS) == "dead"
    # Mail that is not a bounce is acknowledged and dropped there, not relayed.
    reply = await send(port, plain_mail(), ALIAS)
    assert "not a bounce" in reply
    await asyncio.sleep(0.3)
    assert sink.messages == []
    assert len(await gw.store.notices()) == 1


async def test_bounce_listener_stops_with_the_gateway(gateway_factory: GatewayFactory) -> None:
    gw: Gateway = await gateway_factory(policy=None, bounces={"listen": "127.0.0.1:0"})
    assert gw.bounce_listener is not None
    port = gw.bounce_listener.port
    await gw.stop(grace=2.0)
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    writer.close()
    raise AssertionError("bounce listener still accepts connections after stop")


TENANTS = [{"id": "shop-a", "sender_domains": ["shop-a.example"]},
           {"id": "shop-b", "sender_domains": ["shop-b.example"]}]


async def send_as(port: int, data: bytes, to: str, sender: str) -> str:
    errors, reply = await aiosmtplib.send(data, sender=sender, recipients=[to], hostname="127.0.0.1",
                                          port=port)
    assert errors == {}
    return reply


async def test_notice_goes_to_the_registry_of_the_sessions_tenant(gateway_factory: GatewayFactory,
                                                                  sink: Sink) -> None:
    gw = await gateway_factory(policy=None, tenants=TENANTS, bounces={"addresses": [BOUNCES]})
    assert gw.store is not None
    port = listener_port(gw)
    await send_as(port, seller_message(ALIAS, f"Lieferung zu Bestellung {ORDER}", "Termin?"), ALIAS,
                  "orders@shop-a.example")
    await sink.handler.wait_for(1)

    # Shop B never wrote to this buyer: its copy of the notice matches nothing in its relays.
    reply_b = await send_as(port, optout_notice(ORDER), BOUNCES, "notices@shop-b.example")
    assert "unmatched" in reply_b
    reply_a = await send_as(port, optout_notice(ORDER), BOUNCES, "notices@shop-a.example")
    assert f"matched by order: {ALIAS} optout" in reply_a
    assert await gw.store.alias_status(ALIAS, "shop-a") == "optout"
    assert await gw.store.alias_status(ALIAS, "shop-b") is None
    assert await gw.store.alias_status(ALIAS) is None  # nor the implicit tenant's
    assert [n.tenant for n in await gw.store.unmatched_notices()] == ["shop-b"]
