"""A quarantine release goes through the same pipeline as SMTP: through SMTP and the admin API,
on SQLite and on PostgreSQL, with the shipped rule packs and a real upstream sink.

- a released review request is its order's one: a second one for the order is refused;
- its relay record carries its order ids: an opt-out notice naming only the order matches it;
- the daily caps and the registered-sender check apply to a release, forced or not;
- a forced release of a keyword misuse arrives without the keyword.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import pytest

from gateway.app import Gateway
from gateway.config import config_from_mapping
from tests.admin.support import TOKEN, admin_url
from tests.bounces.messages import optout_notice
from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
ORDER = "302-4817265-9034712"
SELLER = "orders@shop.example"
BOUNCES = "optout-notices@gw.shop.example"
BEARER = {"Authorization": f"Bearer {TOKEN}"}

Start = Callable[..., Awaitable[Gateway]]


def mail(subject: str, body: str, message_id: str, sender: str = SELLER) -> bytes:
    return (f"From: {sender}\r\nTo: {ALIAS}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}@shop.example>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def misused_review_request(message_id: str) -> bytes:
    """Held by the shipped packs for the misused keyword; asks for the order's review."""
    return mail(f"[Wichtig] Ihre Bestellung {ORDER}",
                f"Guten Tag,\r\n\r\nvielen Dank für Ihre Bestellung {ORDER}. Wir würden uns freuen, wenn Sie "
                "eine Bewertung abgeben.\r\n\r\nViele Grüße", message_id)


def misused_invoice(message_id: str, sender: str = SELLER) -> bytes:
    return mail(f"[Wichtig] Ihre Rechnung zur Bestellung {ORDER}",
                f"Guten Tag,\r\n\r\nanbei die Rechnung zu Ihrer Bestellung {ORDER}.\r\n\r\nViele Grüße",
                message_id, sender)


@pytest.fixture(params=["sqlite", "postgresql"])
async def start(request: pytest.FixtureRequest, gateway_factory: GatewayFactory,
                tmp_path: Path) -> Start:
    """Starts a gateway with the shipped packs, an admin API and a bounce address, on the backend."""
    state: dict[str, Any] = {"directory": str(tmp_path / "state")}
    if request.param == "postgresql":
        from tests.e2e.test_shared_state import db_upgrade

        dsn = request.getfixturevalue("pg_dsn")
        db_upgrade(tmp_path, dsn)
        state["database"] = dsn

    async def factory(**sections: Any) -> Gateway:
        return await gateway_factory(policy="load", state=state, bounces={"addresses": [BOUNCES]},
                                     admin={"listen": "127.0.0.1:0", "token": TOKEN}, **sections)

    return factory


async def send(gw: Gateway, data: bytes, to: str = ALIAS, sender: str = SELLER) -> tuple[int, str]:
    try:
        errors, reply = await aiosmtplib.send(data, sender=sender, recipients=[to], hostname="127.0.0.1",
                                              port=listener_port(gw))
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    assert errors == {}
    return 250, reply


async def hold(gw: Gateway, data: bytes) -> str:
    code, reply = await send(gw, data)
    assert code == 250 and "held for review" in reply, reply
    return reply.rsplit(" ", 1)[-1]


async def release(gw: Gateway, qid: str, **fields: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(
            admin_url(gw, f"/api/quarantine/{qid}/release"), headers=BEARER, json=fields) as resp:
        body: dict[str, Any] = await resp.json()
        return resp.status, body


def subject_of(data: bytes) -> str:
    line = next(ln for ln in data.split(b"\r\n") if ln.lower().startswith(b"subject:"))
    return line.decode().split(":", 1)[1].strip()


async def test_released_review_request_counts_against_its_order_and_correlates(start: Start, sink: Sink) -> None:
    gw = await start()
    qid = await hold(gw, misused_review_request("first"))
    status, body = await release(gw, qid, force="true", reason="order-critical after all")
    assert status == 200 and body["ok"], body
    assert body["pipeline"]["outcome"] == "queued" and body["pipeline"]["decided_by"] == ["evaluate"]
    [received] = await sink.handler.wait_for(1)
    # Force overrode the verdict, never the rewrite: the keyword is gone.
    assert subject_of(received.data) == f"Ihre Bestellung {ORDER}"
    assert gw.store is not None
    assert await gw.store.order_counter(ORDER, "review-request") == 1

    # The order's second review request, through SMTP, is refused by name.
    second = mail(f"Ihre Bestellung {ORDER}", "Wir würden uns freuen, wenn Sie eine Bewertung abgeben.", "second")
    code, text = await send(gw, second)
    assert code == 550 and "review-request-repeat" in text

    # An opt-out notice that names only the order finds the released message's alias.
    code, text = await send(gw, optout_notice(ORDER), to=BOUNCES, sender="donotreply@amazon.de")
    assert code == 250, text
    assert await gw.store.alias_status(ALIAS) == "optout"
    assert len(sink.messages) == 1


TENANT = {"id": "shop", "sender_domains": ["shop.example"], "senders": {"de": [SELLER]}, "daily_caps": {"de": 1}}


async def test_daily_cap_and_sender_check_apply_to_a_forced_release(start: Start, sink: Sink) -> None:
    gw = await start(tenants=[TENANT])
    qid = await hold(gw, misused_invoice("held"))
    # Another proactive message takes the day's one slot for .de meanwhile.
    code, _ = await send(gw, mail(f"Ihre Rechnung zur Bestellung {ORDER}",
                                  f"Guten Tag,\r\n\r\nanbei die Rechnung zu Ihrer Bestellung {ORDER}.", "invoice"))
    assert code == 250
    await sink.handler.wait_for(1)
    status, body = await release(gw, qid, force="true", reason="invoice must go out")
    assert (status, body["error"]) == (429, "daily-cap"), body

    # The sender is no longer registered for .de (changed since the message was held): refused, forced or not.
    changed = {**TENANT, "senders": {"de": ["service@shop.example"]}, "daily_caps": {}}
    assert await gw.reload(config_from_mapping({**gw.config.model_dump(mode="json"), "tenants": [changed]}))
    status, body = await release(gw, qid, force="true", reason="invoice must go out")
    assert (status, body["error"]) == (409, "still-violating") and "sender-not-registered" in body["message"]
    async with aiohttp.ClientSession() as http, http.get(admin_url(gw, f"/api/quarantine/{qid}"),
                                                         headers=BEARER) as resp:
        assert (await resp.json())["status"] == "held"

    # Registered again and a fresh day's cap: the release goes out, without the keyword.
    restored = {**TENANT, "daily_caps": {}}
    assert await gw.reload(config_from_mapping({**gw.config.model_dump(mode="json"), "tenants": [restored]}))
    status, body = await release(gw, qid, force="true", reason="invoice must go out")
    assert status == 200, body
    received = await sink.handler.wait_for(2)
    assert subject_of(received[1].data) == f"Ihre Rechnung zur Bestellung {ORDER}"
    assert len(received) == 2
