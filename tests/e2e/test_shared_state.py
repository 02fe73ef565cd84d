"""Two gateway instances on different ports sharing one PostgreSQL, each with its own spool.

What one instance learns (a relay record, an opt-out, a review request, a quarantined message),
the other one knows and enforces: this is what lets a provider run N instances behind a load
balancer. Real PostgreSQL (``pg_dsn``), real policy packs, real SMTP on loopback, a real sink.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import aiosmtplib
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from gateway.app import Gateway
from gateway.instance import instance_id
from tests.admin.support import TOKEN, admin_url
from tests.bounces.messages import optout_notice, seller_message
from tests.conftest import REPO_ROOT, GatewayFactory, listener_port
from tests.sink import Sink

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
ORDER = "302-4817265-9034712"
BOUNCES = "optout-notices@gw.shop.example"
SELLER = "orders@shop.example"
EXAMPLES = REPO_ROOT / "policies" / "examples"


def db_upgrade(tmp_path: Path, dsn: str) -> dict[str, object]:
    """``gateway db upgrade --json`` as an admin runs it, against the shared database."""
    cfg = tmp_path / "db.toml"
    cfg.write_text(f'[state]\ndirectory = "{tmp_path / "cli-state"}"\ndatabase = "{dsn}"\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "gateway", "db", "upgrade", "--json", "--config", str(cfg)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


async def two_instances(gateway_factory: GatewayFactory, tmp_path: Path, dsn: str) -> tuple[Gateway, Gateway]:
    upgraded = db_upgrade(tmp_path, dsn)
    assert upgraded["backend"] == "postgresql" and upgraded["applied"]
    assert upgraded["schema_version"] == upgraded["latest"]
    gateways = []
    for name in ("a", "b"):
        gw = await gateway_factory(policy="load", bounces={"addresses": [BOUNCES]},
                                   state={"directory": str(tmp_path / f"state-{name}"), "database": dsn},
                                   admin={"listen": "127.0.0.1:0", "token": TOKEN})
        assert gw.store is not None and gw.store.backend == "postgresql"
        gateways.append(gw)
    a, b = gateways
    assert listener_port(a) != listener_port(b)
    return a, b


async def scrape(gw: Gateway) -> str:
    async with aiohttp.ClientSession() as http, http.get(
            admin_url(gw, "/metrics"), headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 200
        return await resp.text()


async def send(gw: Gateway, data: bytes, to: str) -> str:
    errors, reply = await aiosmtplib.send(data, sender=SELLER, recipients=[to], hostname="127.0.0.1",
                                          port=listener_port(gw))
    assert errors == {}
    return reply


def invoice(message_id: str) -> bytes:
    return seller_message(
        ALIAS, f"Ihre Rechnung zur Bestellung {ORDER}",
        f"Guten Tag,\n\nanbei die Rechnung zu Bestellung {ORDER}.\n\n"
        "Mit freundlichen Grüßen\nIhr Team von Mustermann Handel\n",
        message_id=message_id)


async def test_optout_learned_by_one_instance_is_enforced_by_the_other(
        gateway_factory: GatewayFactory, sink: Sink, tmp_path: Path, pg_dsn: str) -> None:
    a, b = await two_instances(gateway_factory, tmp_path, pg_dsn)

    # A relays a proactive message; its relay record goes to the shared database.
    assert "queued as" in await send(a, invoice("<inv-1@shop.example>"), ALIAS)
    await sink.handler.wait_for(1)
    assert a.processor is not None
    await a.processor.drain()

    # Amazon's opt-out notice names only the order, and reaches instance B: B matches it against
    # the relay A recorded.
    reply = await send(b, optout_notice(ORDER, tld="de"), BOUNCES)
    assert "bounce-back recorded" in reply and "matched by order" in reply
    assert b.store is not None
    record = await b.store.get_alias(ALIAS)
    assert record is not None and (record.status, record.order_id) == ("optout", ORDER)
    evidence = await b.store.read_evidence(record.evidence)
    assert evidence is not None and b"could not be delivered" in evidence

    # A refuses the next proactive message to that buyer, naming the opt-out; nothing is relayed.
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(a, invoice("<inv-2@shop.example>"), ALIAS)
    assert 500 <= refused.value.code < 600 and "opted out" in refused.value.message

    # A reply in the buyer's thread still goes through either instance.
    answer = seller_message(ALIAS, f"AW: Frage zu Bestellung {ORDER}",
                            f"Guten Tag,\n\ndie Lieferung zu Bestellung {ORDER} kommt am Montag.\n",
                            in_reply_to="<buyer-question-1@marketplace.amazon.de>")
    assert "queued as" in await send(a, answer, ALIAS)
    await sink.handler.wait_for(2)
    await asyncio.sleep(0.2)
    assert len(sink.messages) == 2


async def test_one_review_request_per_order_across_instances(
        gateway_factory: GatewayFactory, sink: Sink, tmp_path: Path, pg_dsn: str) -> None:
    a, b = await two_instances(gateway_factory, tmp_path, pg_dsn)
    request = (EXAMPLES / "reviews" / "request-de.eml").read_bytes()
    to = "b7d3kq9xz2m4np5@marketplace.amazon.de"
    assert "queued as" in await send(a, request, to)
    assert a.processor is not None
    await a.processor.drain()  # the per-order counter is written before the 250, the rest beside it
    assert b.store is not None
    assert await b.store.order_counter(ORDER, "review-request") == 1

    # The same order's second request, through the other instance, is refused by name.
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(b, request.replace(b"<607076430331@", b"<second-request@"), to)
    assert 500 <= refused.value.code < 600 and "review-request-repeat" in refused.value.message
    await sink.handler.wait_for(1)
    await asyncio.sleep(0.2)
    assert len(sink.messages) == 1


async def test_message_held_on_one_instance_is_released_once_by_either(
        gateway_factory: GatewayFactory, sink: Sink, tmp_path: Path, pg_dsn: str) -> None:
    a, b = await two_instances(gateway_factory, tmp_path, pg_dsn)
    held = (EXAMPLES / "contact" / "ask-phone-en.eml").read_bytes()
    to = held.split(b"\nTo: ", 1)[1].split(b"\n", 1)[0].strip().decode()
    reply = await send(a, held, to)
    assert "held for review" in reply
    qid = reply.rsplit(" ", 1)[-1]

    # Either instance's /metrics shows the shared quarantine (read from the database, not a file).
    for gw in (a, b):
        assert "gateway_quarantine_depth 1.0" in await scrape(gw)

    # Both instances' admins press "release" at the same moment: one wins, the other is told.
    assert a.admin is not None and b.admin is not None
    outcomes = await asyncio.gather(
        a.admin.review.release(qid, actor="alice", reason="carrier needs the number", force=True),
        b.admin.review.release(qid, actor="bob", reason="carrier needs the number", force=True),
        return_exceptions=True)
    released = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(released) == 1 and len(refused) == 1
    assert getattr(refused[0], "code", None) == "not-held"

    # Delivered once, from the spool of the instance that won; the bytes are gone from the store.
    await sink.handler.wait_for(1)
    await asyncio.sleep(0.5)
    assert len(sink.messages) == 1
    assert b"<216157667125@mustermann-handel.example>" in sink.messages[0].data
    assert a.store is not None
    record = await a.store.get_quarantine(qid)
    assert record is not None and record.status == "released"
    assert await a.store.quarantined_bytes(qid) is None
    audit = [e for e in await a.store.audit_log() if e.object == qid]
    assert [e.action for e in audit].count("released") == 1
    assert "gateway_quarantine_depth 0.0" in await scrape(b)


def set_database_reachable(dsn: str, reachable: bool) -> None:
    """A real outage of one database: refuse new connections and cut the open ones (or undo that)."""
    name = conninfo_to_dict(dsn)["dbname"]
    admin = make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
            sql.Identifier(str(name)), sql.SQL("true" if reachable else "false")))
        if not reachable:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


@pytest.mark.slow
async def test_database_outage_defers_marketplace_mail_and_recovers(
        gateway_factory: GatewayFactory, sink: Sink, tmp_path: Path, pg_dsn: str) -> None:
    db_upgrade(tmp_path, pg_dsn)
    gw = await gateway_factory(policy="load", state={"directory": str(tmp_path / "state"), "database": pg_dsn},
                               admin={"listen": "127.0.0.1:0", "token": TOKEN})
    assert gw.store is not None
    await asyncio.to_thread(set_database_reachable, pg_dsn, False)
    try:
        # The admin API says the store is unavailable (503), it does not fail with a 500.
        async with aiohttp.ClientSession() as http, http.get(
                admin_url(gw, "/api/optouts"), headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert resp.status == 503
            assert (await resp.json())["error"] == "store-unavailable"
        # Mail to a buyer alias cannot be checked against the registry: a temporary failure, so
        # the seller's system retries; nothing is relayed unchecked.
        with pytest.raises(aiosmtplib.SMTPDataError) as deferred:
            await send(gw, invoice("<inv-outage@shop.example>"), ALIAS)
        assert deferred.value.code == 451 and deferred.value.message.startswith("4.3.0")
        # Mail to anyone else needs no state and still goes through.
        plain = b"From: orders@shop.example\r\nTo: someone@example.com\r\nSubject: Hi\r\n\r\nHello\r\n"
        errors, reply = await aiosmtplib.send(plain, sender=SELLER, recipients=["someone@example.com"],
                                              hostname="127.0.0.1", port=listener_port(gw))
        assert errors == {} and "queued as" in reply
    finally:
        await asyncio.to_thread(set_database_reachable, pg_dsn, True)
    # The database is back: a client retrying (as MTAs and ERPs do on 4xx) gets the message checked
    # and relayed without a restart, once the pool has reconnected (it backs off while the
    # database is away, so the first retries may still hear 451).
    codes: list[int] = []
    async with asyncio.timeout(60):
        while True:
            try:
                reply = await send(gw, invoice("<inv-outage@shop.example>"), ALIAS)
                break
            except aiosmtplib.SMTPDataError as exc:
                codes.append(exc.code)
                await asyncio.sleep(1.0)
    assert "queued as" in reply and set(codes) <= {451}
    received = await sink.handler.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in received) == sorted([ALIAS, "someone@example.com"])


def review_request(order: str, n: int) -> bytes:
    return seller_message(
        "b7d3kq9xz2m4np5@marketplace.amazon.de", f"Ihre Meinung zu Bestellung {order}",
        f"Guten Tag,\n\nwir hoffen, Bestellung {order} ist gut angekommen. Wir würden uns freuen, wenn "
        "Sie eine Bewertung auf Amazon abgeben.\n\nMit freundlichen Grüßen\nIhr Team\n",
        message_id=f"<review-{order}-{n}@shop.example>")


async def test_simultaneous_review_requests_for_one_order_relay_once(
        gateway_factory: GatewayFactory, sink: Sink, tmp_path: Path, pg_dsn: str) -> None:
    """Both instances evaluate at the same moment and may both read "no request yet": the count is
    reserved atomically before spooling, so exactly one of them relays."""
    a, b = await two_instances(gateway_factory, tmp_path, pg_dsn)
    to = "b7d3kq9xz2m4np5@marketplace.amazon.de"
    orders = [f"302-4817265-90347{n:02d}" for n in range(5)]
    for order in orders:
        outcomes = await asyncio.gather(send(a, review_request(order, 1), to), send(b, review_request(order, 2), to),
                                        return_exceptions=True)
        relayed = [o for o in outcomes if isinstance(o, str) and "queued as" in o]
        refused = [o for o in outcomes if isinstance(o, aiosmtplib.SMTPDataError)]
        assert len(relayed) == 1 and len(refused) == 1, outcomes
        assert refused[0].code == 550 and "review-request-repeat" in refused[0].message
        assert a.store is not None
        assert await a.store.order_counter(order, "review-request") == 1
    await sink.handler.wait_for(len(orders))
    await asyncio.sleep(0.3)
    assert len(sink.messages) == len(orders)


# -- a release left half done by a process that died -----------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    if request.param == "sqlite":
        return None
    dsn: str = request.getfixturevalue("pg_dsn")
    db_upgrade(tmp_path, dsn)
    return dsn


@dataclass
class ClaimedRelease:
    gateway: Gateway
    state: dict[str, str | None]
    instance: str
    qid: str
    raw: bytes
    to: str


@pytest.fixture
async def claimed_release(gateway_factory: GatewayFactory, tmp_path: Path, database: str | None,
                          monkeypatch: pytest.MonkeyPatch) -> ClaimedRelease:
    """A held message whose release an admin started: the claim is made by this instance."""
    # The restarts in these tests come at once; a real one takes longer than the start-up margin.
    monkeypatch.setattr("gateway.app.RELEASE_RECOVERY_AT_START_AFTER", 0.0)
    state: dict[str, str | None] = {"directory": str(tmp_path / "state"), "database": database}
    gw = await gateway_factory(policy="load", state=state)
    raw = (EXAMPLES / "contact" / "ask-phone-en.eml").read_bytes()
    to = raw.split(b"\nTo: ", 1)[1].split(b"\n", 1)[0].strip().decode()
    reply = await send(gw, raw, to)
    assert "held for review" in reply
    qid = reply.rsplit(" ", 1)[-1]
    me = instance_id(tmp_path / "state")
    assert gw.store is not None
    assert await gw.store.claim_quarantine(qid, "released", "alice", "carrier needs it", instance=me)
    return ClaimedRelease(gw, state, me, qid, raw, to)


async def test_release_claimed_but_never_spooled_is_finished_after_a_restart(
        claimed_release: ClaimedRelease, gateway_factory: GatewayFactory, sink: Sink) -> None:
    c = claimed_release
    await c.gateway.stop(grace=1.0)  # the process died right after the claim
    assert sink.messages == []

    again = await gateway_factory(policy="load", state=c.state)
    await sink.handler.wait_for(1)
    await asyncio.sleep(0.5)
    assert len(sink.messages) == 1 and b"<216157667125@mustermann-handel.example>" in sink.messages[0].data
    assert again.store is not None
    assert await again.store.unspooled_releases(c.instance, time.time() + 1) == []
    spooled = [e for e in await again.store.audit_log() if e.object == c.qid and e.action == "spooled"]
    assert [e.actor for e in spooled] == ["recovery"]
    assert await again.store.quarantined_bytes(c.qid) is None


async def test_release_spooled_but_not_marked_is_not_sent_twice(
        claimed_release: ClaimedRelease, gateway_factory: GatewayFactory, sink: Sink) -> None:
    c = claimed_release
    assert c.gateway.spool is not None
    # Spooled (so it will be delivered), and the process died before recording that.
    await c.gateway.spool.put(SELLER, [c.to], c.raw, {"quarantine_id": c.qid, "action": "release"})
    await c.gateway.stop(grace=1.0)

    again = await gateway_factory(policy="load", state=c.state)
    await sink.handler.wait_for(1)
    await asyncio.sleep(1.0)
    assert len(sink.messages) == 1  # found in the spool: marked, not spooled a second time
    assert again.store is not None
    assert await again.store.unspooled_releases(c.instance, time.time() + 1) == []
