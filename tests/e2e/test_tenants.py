"""Several merchants through one gateway: mapping, registered senders, caps, shadow mode, reload."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.classify import MarketplaceRecipient
from gateway.config import config_from_mapping
from gateway.policy.verdict import Action, Hit, Verdict
from gateway.store.sqlite import StorePolicyState
from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink, relayed_unchanged
from tests.smtpclient import RawSMTP

ALIAS = "3vqmzxk4lhl9w1b@marketplace.amazon.de"


class RejectEverything:
    """A stand-in with the policy engine's interface whose every verdict is a reject."""

    def evaluate(self, raw: bytes, recipients: Sequence[MarketplaceRecipient],
                 state: StorePolicyState | None = None) -> Verdict:
        return Verdict(action=Action.REJECT, marketplace=recipients[0].marketplace,
                       hits=(Hit("test-reject-all", Action.REJECT, "every message is refused", "x"),))

    def apply(self, raw: bytes, verdict: Verdict) -> bytes:
        return raw


TENANTS = [
    {"id": "shop-a", "sender_domains": ["shop-a.example"], "senders": {"de": ["orders@shop-a.example"]},
     "daily_caps": {"de": 2}},
    {"id": "shop-b", "sender_domains": ["shop-b.example"], "shadow": True},
]


def mail(sender: str, to: str = ALIAS, subject: str = "Lieferung") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}.{sender}>\r\n\r\n"
            "Bestellung 302-4817265-9034712: wann passt Ihnen die Zustellung?\r\n").encode()


async def send(port: int, sender: str, data: bytes, to: str = ALIAS) -> tuple[int, str]:
    client, _ = await RawSMTP.connect(port)
    await client.cmd("EHLO erp.test")
    code, text = await client.cmd(f"MAIL FROM:<{sender}>")
    if code != 250:
        await client.close()
        return code, text
    await client.cmd(f"RCPT TO:<{to}>")
    await client.cmd("DATA")
    reply = await client.cmd(data + b".")
    await client.cmd("QUIT")
    await client.close()
    return reply


async def test_unknown_sender_identity_is_refused_at_mail(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(tenants=TENANTS)
    code, text = await send(listener_port(gw), "someone@elsewhere.example", mail("someone@elsewhere.example"))
    assert code == 550
    assert "5.7.1" in text
    assert "elsewhere.example" in text and "127.0.0.1" in text


async def test_unregistered_from_address_is_rejected(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gw = await gateway_factory(tenants=TENANTS)
    port = listener_port(gw)
    code, text = await send(port, "orders@shop-a.example", mail("marketing@shop-a.example"))
    assert code == 550
    assert "sender-not-registered" in text
    code, _ = await send(port, "orders@shop-a.example", mail("orders@shop-a.example"))
    assert code == 250
    assert len(await sink.handler.wait_for(1)) == 1


async def test_daily_cap_defers_and_survives_restart(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gw = await gateway_factory(tenants=TENANTS, policy="load")  # the engine tells replies apart
    port = listener_port(gw)
    for n in range(2):
        code, _ = await send(port, "orders@shop-a.example", mail("orders@shop-a.example", subject=f"s{n}"))
        assert code == 250
    code, text = await send(port, "orders@shop-a.example", mail("orders@shop-a.example", subject="s3"))
    assert code == 452
    assert "4.7.1" in text and "marketplace de" in text
    # Replies in a buyer's thread are not proactive and do not count against the cap.
    reply = mail("orders@shop-a.example", subject="Re: Frage").replace(
        b"\r\n\r\n", b"\r\nIn-Reply-To: <buyer-question@marketplace.amazon.de>\r\n\r\n", 1)
    code, _ = await send(port, "orders@shop-a.example", reply)
    assert code == 250
    await gw.stop(grace=2.0)
    again = Gateway(gw.config, policy="load")
    await again.start()
    try:
        code, _ = await send(listener_port(again), "orders@shop-a.example",
                             mail("orders@shop-a.example", subject="s4"))
        assert code == 452  # the count is in SQLite, not in memory
    finally:
        await again.stop(grace=2.0)


async def test_shadow_mode_relays_unchanged_and_records_would_be_verdict(
        gateway_factory: GatewayFactory, sink: Sink) -> None:
    gw = await gateway_factory(tenants=TENANTS, policy=RejectEverything())
    port = listener_port(gw)
    data = mail("orders@shop-b.example")
    code, _ = await send(port, "orders@shop-b.example", data)
    assert code == 250
    received = await sink.handler.wait_for(1)
    assert relayed_unchanged(received[0].data, data)
    # The enforcing tenant gets the same verdict for real.
    code, text = await send(port, "orders@shop-a.example", mail("orders@shop-a.example"))
    assert code == 550 and "test-reject-all" in text
    assert gw.store is not None and gw.processor is not None
    await gw.processor.drain()  # relayed mail's decisions are recorded beside the reply
    decisions = {d.tenant: d for d in await gw.store.decisions()}
    assert decisions["shop-b"].shadow is True
    assert decisions["shop-b"].action == "reject"
    assert decisions["shop-b"].rules == ("test-reject-all",)
    assert decisions["shop-a"].shadow is False
    metrics = gw.metrics.render().decode()
    assert 'gateway_messages_total{action="would-reject",marketplace="de",tenant="shop-b"} 1.0' in metrics
    assert 'gateway_messages_total{action="reject",marketplace="de",tenant="shop-a"} 1.0' in metrics


async def test_optout_registry_is_per_tenant(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(tenants=TENANTS)
    assert gw.store is not None
    await gw.store.record_alias(ALIAS, "optout", marketplace="de", order_id=None, evidence="test",
                               source="test", tenant="shop-a")
    assert StorePolicyState(gw.store, "shop-a").alias_status(ALIAS) == "optout"
    assert StorePolicyState(gw.store, "shop-b").alias_status(ALIAS) is None


async def test_reload_switches_shadow_to_enforce_and_refuses_broken_config(
        gateway_factory: GatewayFactory, sink: Sink, tmp_path: Path) -> None:
    gw = await gateway_factory(tenants=TENANTS, policy=RejectEverything())
    port = listener_port(gw)
    assert (await send(port, "orders@shop-b.example", mail("orders@shop-b.example")))[0] == 250

    enforcing = [dict(TENANTS[0]), {**TENANTS[1], "shadow": False}]
    new_config = config_from_mapping({**gw.config.model_dump(mode="json"), "tenants": enforcing})
    assert await gw.reload(new_config)
    assert (await send(port, "orders@shop-b.example", mail("orders@shop-b.example", subject="x")))[0] == 550

    broken = tmp_path / "broken.toml"
    broken.write_text("[server]\nmax_recipients = -1\n")
    gw.config_path = broken
    assert not await gw.reload()
    # Still serving with the last good config.
    assert (await send(port, "orders@shop-b.example", mail("orders@shop-b.example", subject="y")))[0] == 550
    assert gw.config.tenants[1].shadow is False


@pytest.mark.parametrize("how", ["network", "sender_domain"])
async def test_mapping_by_network_or_sender_domain(gateway_factory: GatewayFactory, how: str) -> None:
    tenants = [{"id": "net", "networks": ["127.0.0.0/8"]},
               {"id": "dom", "sender_domains": ["shop.example"]}]
    order = ["network", "sender_domain"] if how == "network" else ["sender_domain", "network"]
    gw = await gateway_factory(tenants=tenants, tenancy={"match_order": order})
    assert gw.processor is not None
    got = gw.processor.tenant_for(auth_user=None, peer="127.0.0.1", mail_from="a@shop.example")
    assert got == ("net" if how == "network" else "dom")
    assert gw.processor.tenant_for(auth_user=None, peer="192.0.2.1", mail_from="a@other.example") is None


async def test_each_tenant_relays_through_its_own_upstream(gateway_factory: GatewayFactory, sink: Sink) -> None:
    own = await Sink().start()
    try:
        tenants = [{**TENANTS[0], "upstream": {"host": "127.0.0.1", "port": own.port, "tls": "none"}},
                   TENANTS[1]]
        gw = await gateway_factory(tenants=tenants)
        port = listener_port(gw)
        assert (await send(port, "orders@shop-a.example", mail("orders@shop-a.example")))[0] == 250
        assert (await send(port, "orders@shop-b.example", mail("orders@shop-b.example")))[0] == 250
        mine = await own.handler.wait_for(1)
        shared = await sink.handler.wait_for(1)
        assert [m.mail_from for m in mine] == ["orders@shop-a.example"]
        assert [m.mail_from for m in shared] == ["orders@shop-b.example"]
    finally:
        await own.stop()
