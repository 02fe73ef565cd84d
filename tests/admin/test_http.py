"""The admin server over real HTTP on loopback, in front of a real gateway and a real upstream sink."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.app import Gateway
from tests.admin.support import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    ALIAS,
    EVIDENCE,
    TOKEN,
    HoldOffPlatformContact,
    admin_url,
    held_body,
    message,
    send,
)
from tests.conftest import GatewayFactory, make_config
from tests.sink import Sink

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe=True: keep cookies for an IP-address host (127.0.0.1), as a browser does.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def hold_one(gw: Gateway, subject: str = "About your order") -> str:
    reply = await send(gw, message(subject, held_body()))
    match = re.search(r"held for review as (Q[0-9A-F]+)", reply)
    assert match, reply
    return match.group(1)


async def login(http: aiohttp.ClientSession, gw: Gateway) -> str:
    """Log in through the form; returns the page's CSRF token."""
    async with http.post(admin_url(gw, "/login"), data={"username": ADMIN_USER, "password": ADMIN_PASSWORD,
                                                        "next": "/quarantine"}) as resp:
        assert resp.status == 200
        assert resp.url.path == "/quarantine"
        page = await resp.text()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


async def test_probes_are_open_and_ready(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    async with http.get(admin_url(admin_gateway, "/healthz")) as resp:
        assert (resp.status, await resp.text()) == (200, "ok\n")
    async with http.get(admin_url(admin_gateway, "/readyz")) as resp:
        assert (resp.status, await resp.text()) == (200, "ready\n")


async def test_readyz_fails_while_draining(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    assert admin_gateway.listener is not None
    admin_gateway.listener.closing = True  # what drain() sets on SIGTERM
    async with http.get(admin_url(admin_gateway, "/readyz")) as resp:
        assert resp.status == 503
        assert "draining" in await resp.text()
    admin_gateway.listener.closing = False


@pytest.mark.parametrize("path", ["/metrics", "/api/quarantine", "/api/optouts", "/api/bounces/unmatched",
                                  "/api/decisions", "/api/report", "/api/daily", "/api/audit"])
async def test_everything_but_probes_needs_authentication(admin_gateway: Gateway, http: aiohttp.ClientSession,
                                                          path: str) -> None:
    async with http.get(admin_url(admin_gateway, path)) as resp:
        assert resp.status == 401
    wrong = {"Authorization": "Bearer wrong-token-xxxxxxxx"}
    async with http.get(admin_url(admin_gateway, path), headers=wrong) as resp:
        assert resp.status == 401
    async with http.get(admin_url(admin_gateway, path), headers=BEARER) as resp:
        assert resp.status == 200


async def test_pages_redirect_to_login_and_bad_password_is_refused(admin_gateway: Gateway,
                                                                   http: aiohttp.ClientSession) -> None:
    async with http.get(admin_url(admin_gateway, "/quarantine"), allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"].startswith("/login?next=")
    async with http.post(admin_url(admin_gateway, "/login"),
                         data={"username": ADMIN_USER, "password": "wrong"}) as resp:
        assert resp.status == 401
    # A user of the credentials file who is not listed in admin.users cannot log in.
    async with http.post(admin_url(admin_gateway, "/login"),
                         data={"username": "bob", "password": "smtp only"}) as resp:
        assert resp.status == 401
    async with http.get(admin_url(admin_gateway, "/api/quarantine")) as resp:
        assert resp.status == 401


async def test_login_never_redirects_off_site(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    async with http.post(admin_url(admin_gateway, "/login"), allow_redirects=False,
                         data={"username": ADMIN_USER, "password": ADMIN_PASSWORD,
                               "next": "//evil.example/phish"}) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/quarantine"
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_cross_origin_login_is_refused(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    async with http.post(admin_url(admin_gateway, "/login"), headers={"Origin": "http://evil.example"},
                         data={"username": ADMIN_USER, "password": ADMIN_PASSWORD}) as resp:
        assert resp.status == 403


async def test_page_release_needs_csrf_token_then_reaches_sink_once(
        admin_gateway: Gateway, http: aiohttp.ClientSession, sink: Sink) -> None:
    qid = await hold_one(admin_gateway)
    csrf = await login(http, admin_gateway)
    url = admin_url(admin_gateway, f"/quarantine/{qid}/release")
    form = {"reason": "buyer asked for the number", "force": "1"}
    async with http.post(url, data=form, allow_redirects=False) as resp:
        assert resp.status == 403
    async with http.post(url, data={**form, "csrf_token": "not-the-token"}, allow_redirects=False) as resp:
        assert resp.status == 403
    assert sink.messages == []
    async with http.post(url, data={**form, "csrf_token": csrf}) as resp:
        assert resp.status == 200
        assert f"{qid} released as queue id" in await resp.text()
    received = await sink.handler.wait_for(1)
    assert received[0].rcpt_tos == [ALIAS]
    assert EVIDENCE.encode() in received[0].data
    async with http.post(url, data={**form, "csrf_token": csrf}) as resp:
        assert "Release refused" in await resp.text()
        assert "already released" in await resp.text()
    async with http.get(admin_url(admin_gateway, "/api/audit"), headers=BEARER) as resp:
        audit = await resp.json()
    assert [a["action"] for a in audit if a["object"] == qid] == ["spooled", "released"]
    assert {a["actor"] for a in audit if a["object"] == qid} == {f"user:{ADMIN_USER}"}
    assert "forced: buyer asked for the number" in [a["reason"] for a in audit]
    assert len(sink.messages) == 1


async def test_api_release_exactly_once_and_recheck(admin_gateway: Gateway, http: aiohttp.ClientSession,
                                                    sink: Sink, policy: HoldOffPlatformContact) -> None:
    qid = await hold_one(admin_gateway)
    url = admin_url(admin_gateway, f"/api/quarantine/{qid}/release")
    # The re-check runs on the unchanged bytes: still a violation, so a plain release is refused.
    async with http.post(url, json={"reason": "looks fine"}, headers=BEARER) as resp:
        assert resp.status == 409
        body = await resp.json()
        assert body["error"] == "still-violating" and "off-platform-contact" in body["message"]
    async with http.post(url, json={"force": True}, headers=BEARER) as resp:
        assert resp.status == 400  # forced needs a reason
    policy.lenient = True  # e.g. the rule was fixed
    async with http.post(url, json={"reason": "rule fixed"}, headers=BEARER) as resp:
        assert resp.status == 200
        body = await resp.json()
        assert body["ok"] and body["recheck"]["action"] == "relay" and not body["forced"]
    async with http.post(url, json={"reason": "again", "force": True}, headers=BEARER) as resp:
        assert resp.status == 409
        assert (await resp.json())["error"] == "not-held"
    await sink.handler.wait_for(1)
    async with http.get(admin_url(admin_gateway, "/api/quarantine?status=released"), headers=BEARER) as resp:
        assert [r["id"] for r in await resp.json()] == [qid]
    assert len(sink.messages) == 1


async def test_api_delete_removes_file_and_is_audited(admin_gateway: Gateway, http: aiohttp.ClientSession,
                                                      sink: Sink) -> None:
    qid = await hold_one(admin_gateway)
    async with http.get(admin_url(admin_gateway, f"/api/quarantine/{qid}"), headers=BEARER) as resp:
        detail = await resp.json()
    assert detail["verdict"]["hits"][0]["evidence"] == EVIDENCE
    assert EVIDENCE in detail["preview"]["text"]
    assert admin_gateway.store is not None
    record = await admin_gateway.store.get_quarantine(qid)
    assert record is not None and record.path.exists()
    async with http.post(admin_url(admin_gateway, f"/api/quarantine/{qid}/delete"), json={"reason": "spam"},
                         headers=BEARER) as resp:
        assert resp.status == 200
    assert not record.path.exists()
    async with http.post(admin_url(admin_gateway, f"/api/quarantine/{qid}/release"),
                         json={"reason": "x", "force": True}, headers=BEARER) as resp:
        assert resp.status == 409
    audit = await admin_gateway.store.audit_log()
    assert (audit[0].actor, audit[0].action, audit[0].reason) == ("token", "deleted", "spam")
    assert sink.messages == []


async def test_session_post_without_csrf_is_refused_on_api_too(admin_gateway: Gateway,
                                                               http: aiohttp.ClientSession) -> None:
    qid = await hold_one(admin_gateway)
    csrf = await login(http, admin_gateway)
    url = admin_url(admin_gateway, f"/api/quarantine/{qid}/delete")
    async with http.post(url, json={"reason": "x"}) as resp:
        assert resp.status == 403
    async with http.post(url, json={"reason": "x"}, headers={"X-CSRF-Token": csrf}) as resp:
        assert resp.status == 200


async def test_preview_is_escaped_text_under_strict_csp(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    html_body = ('<html><body><p>Hi <script>alert(1)</script><img src="http://tracker.example/p.gif">'
                 f'write me on {EVIDENCE}</p><a href="http://x.example/">link</a></body></html>\r\n')
    reply = await send(admin_gateway, message("<b>Order</b>", html_body, content_type="text/html; charset=utf-8"))
    qid = reply.rsplit(" ", 1)[-1]
    await login(http, admin_gateway)
    async with http.get(admin_url(admin_gateway, f"/quarantine/{qid}")) as resp:
        assert resp.status == 200
        csp = resp.headers["Content-Security-Policy"]
        page = await resp.text()
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert "<script" not in page and "<img" not in page
    # The remote image is named (a rule may have hit it), never loaded.
    assert "[image: http://tracker.example/p.gif]" in page
    assert "&lt;b&gt;Order&lt;/b&gt;" in page
    assert f"<mark>{EVIDENCE}</mark>" in page
    assert "text/html (as text)" in page
    assert f'<iframe src="/quarantine/{qid}/html" sandbox=""' in page
    # The buyer's view: sanitised, framed only by our pages, loading nothing.
    async with http.get(admin_url(admin_gateway, f"/quarantine/{qid}/html")) as resp:
        assert resp.status == 200
        frame_csp = resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
        framed = await resp.text()
    assert "default-src 'none'" in frame_csp and "img-src data:" in frame_csp and "script-src" not in frame_csp
    assert "frame-ancestors 'self'" in frame_csp
    assert "<script" not in framed and "alert(1)" not in framed and "<img" not in framed
    assert "[remote image blocked: tracker.example]" in framed
    assert 'href="http://x.example/' not in framed and 'title="link: http://x.example/"' in framed


async def test_metrics_move_with_real_messages(admin_gateway: Gateway, http: aiohttp.ClientSession,
                                               sink: Sink) -> None:
    await send(admin_gateway, message("Shipped", "Your parcel is on its way.\r\n"))
    await hold_one(admin_gateway)
    await sink.handler.wait_for(1)
    async with http.get(admin_url(admin_gateway, "/metrics"), headers=BEARER) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()

    def value(name: str) -> float:
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        assert match, name
        return float(match.group(1))

    assert value('gateway_messages_total{action="relay",marketplace="de",tenant=""}') == 1
    assert value('gateway_messages_total{action="quarantine",marketplace="de",tenant=""}') == 1
    assert value('gateway_rule_hits_total{action="quarantine",rule="off-platform-contact",tenant=""}') == 1
    assert value("gateway_quarantine_depth") == 1
    assert value('gateway_processing_seconds_count{action="relay"}') == 1
    assert value('gateway_processing_seconds_count{action="quarantine"}') == 1
    assert value("gateway_spool_depth") >= 0
    # Delivery results are counted once they have settled in the spool (about a second).
    async with asyncio.timeout(15):
        while 'gateway_deliveries_total{outcome="delivered"} 1.0' not in text:
            await asyncio.sleep(0.1)
            async with http.get(admin_url(admin_gateway, "/metrics"), headers=BEARER) as resp:
                text = await resp.text()
    assert value('gateway_deliveries_total{outcome="delivered"}') == 1
    assert value("gateway_delivery_seconds_count") == 1
    assert 0 <= value("gateway_delivery_seconds_sum") < 10
    # The spool's purge of finished entries must not make a counter go down.
    assert admin_gateway.spool is not None
    assert await admin_gateway.spool.purge_finished(time.time() + 60) == 1
    async with http.get(admin_url(admin_gateway, "/metrics"), headers=BEARER) as resp:
        text = await resp.text()
    assert value('gateway_deliveries_total{outcome="delivered"}') == 1
    assert value("gateway_delivery_seconds_count") == 1


async def test_two_gateways_keep_separate_metrics(gateway_factory: GatewayFactory, tmp_path: object) -> None:
    first = await gateway_factory(policy=None, admin={"listen": "127.0.0.1:0", "token": TOKEN})
    second = await gateway_factory(policy=None, admin={"listen": "127.0.0.1:0", "token": TOKEN},
                                   state={"directory": str(first.config.state_dir) + "-2"})
    await send(first, message("One", "x\r\n"))
    assert "gateway_messages_total" in first.metrics.render().decode()
    assert 'action="relay"' in first.metrics.render().decode()
    assert 'action="relay"' not in second.metrics.render().decode()


async def test_optouts_bounces_decisions_and_daily_api(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    store = admin_gateway.store
    assert store is not None
    await store.record_alias("zz9@marketplace.amazon.fr", "optout", marketplace="fr", order_id="402-1234567-7654321",
                            evidence="notice", source="smtp")
    notice = await store.record_notice("amazon-optout", "302-4817265-9034712", "de", None, None, "import",
                                      {"subject": "Buyer opted out"})
    await hold_one(admin_gateway)
    async with http.get(admin_url(admin_gateway, "/api/optouts?search=402-12"), headers=BEARER) as resp:
        assert [a["alias"] for a in await resp.json()] == ["zz9@marketplace.amazon.fr"]
    async with http.get(admin_url(admin_gateway, "/api/bounces/unmatched"), headers=BEARER) as resp:
        assert [n["id"] for n in await resp.json()] == [notice]
    async with http.post(admin_url(admin_gateway, f"/api/bounces/{notice}/assign"), headers=BEARER,
                         json={"alias": "Bad Alias", "status": "optout"}) as resp:
        assert resp.status == 400
    async with http.post(admin_url(admin_gateway, f"/api/bounces/{notice}/assign"), headers=BEARER,
                         json={"alias": ALIAS, "status": "optout"}) as resp:
        assert resp.status == 200
    async with http.get(admin_url(admin_gateway, "/api/bounces/unmatched"), headers=BEARER) as resp:
        assert await resp.json() == []
    async with http.get(admin_url(admin_gateway, f"/api/optouts?search={ALIAS}"), headers=BEARER) as resp:
        [entry] = await resp.json()
    assert (entry["status"], entry["order_id"], entry["source"]) == ("optout", "302-4817265-9034712", "admin")
    async with http.get(admin_url(admin_gateway, "/api/decisions"), headers=BEARER) as resp:
        decisions = await resp.json()
    assert [(d["action"], d["rules"]) for d in decisions] == [("quarantine", ["off-platform-contact"])]
    async with http.get(admin_url(admin_gateway, "/api/daily"), headers=BEARER) as resp:
        [today] = await resp.json()
    assert today["actions"] == {"quarantine": 1} and today["rules"] == {"off-platform-contact": 1}


async def test_pages_render_registry_bounces_and_stats(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    store = admin_gateway.store
    assert store is not None
    await store.record_alias("zz9@marketplace.amazon.fr", "optout", marketplace="fr", order_id=None,
                            evidence="<notice>", source="smtp")
    notice = await store.record_notice("amazon-notice", None, "de", None, None, "import", {})
    await hold_one(admin_gateway)
    csrf = await login(http, admin_gateway)
    async with http.get(admin_url(admin_gateway, "/optouts?q=zz9")) as resp:
        page = await resp.text()
    assert "zz9@marketplace.amazon.fr" in page and "&lt;notice&gt;" in page
    async with http.get(admin_url(admin_gateway, "/optouts?q=nomatch")) as resp:
        assert "zz9@" not in await resp.text()
    async with http.post(admin_url(admin_gateway, f"/bounces/{notice}/assign"),
                         data={"alias": ALIAS, "status": "dead", "csrf_token": csrf}) as resp:
        assert f"Notice {notice} assigned." in await resp.text()
    assert await store.alias_status(ALIAS) == "dead"
    async with http.get(admin_url(admin_gateway, "/stats")) as resp:
        page = await resp.text()
    assert "off-platform-contact" in page and "seller@shop.example" in page


async def test_token_login_logout_and_lockout(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    async with http.post(admin_url(admin_gateway, "/login"), data={"username": "", "password": TOKEN}) as resp:
        assert resp.status == 200 and "token" in await resp.text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
    assert csrf
    async with http.get(admin_url(admin_gateway, "/api/quarantine")) as resp:
        assert resp.status == 200  # the session cookie works for the API's GETs too
    async with http.post(admin_url(admin_gateway, "/logout"), data={"csrf_token": csrf.group(1)}) as resp:
        assert resp.url.path == "/login"
    async with http.get(admin_url(admin_gateway, "/api/quarantine")) as resp:
        assert resp.status == 401
    for _ in range(10):
        async with http.post(admin_url(admin_gateway, "/login"), data={"username": ADMIN_USER, "password": "x"}):
            pass
    async with http.post(admin_url(admin_gateway, "/login"),
                         data={"username": ADMIN_USER, "password": ADMIN_PASSWORD}) as resp:
        assert resp.status == 429  # locked even with the right password, for this peer


async def test_public_metrics_and_bounce_notice_counts(gateway_factory: GatewayFactory,
                                                       http: aiohttp.ClientSession) -> None:
    gw = await gateway_factory(policy=None, admin={"listen": "127.0.0.1:0", "public_metrics": True})
    assert gw.store is not None
    await gw.store.record_notice("amazon-optout", None, "de", None, None, "import", {})
    await gw.store.record_notice("amazon-optout", None, "fr", None, None, "import", {})
    await gw.store.record_notice("dsn", None, None, None, None, "smtp", {})
    async with http.get(admin_url(gw, "/metrics")) as resp:
        assert resp.status == 200
        text = await resp.text()
    assert 'gateway_bounce_notices_total{kind="amazon-optout"} 2.0' in text
    assert 'gateway_bounce_notices_total{kind="dsn"} 1.0' in text
    async with http.get(admin_url(gw, "/api/quarantine")) as resp:
        assert resp.status == 401  # no token, no users configured: only probes and metrics answer


async def test_admin_can_be_disabled(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(policy=None, admin={"listen": None})
    assert gw.admin is None


async def test_admin_can_be_disabled_from_a_config_file(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(policy=None, admin={"enabled": False})
    assert gw.admin is None


async def test_page_shows_no_text_from_the_url(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    await login(http, admin_gateway)
    async with http.get(admin_url(admin_gateway, "/quarantine?msg=Call+us+at+0900-SCAM&err=x")) as resp:
        page = await resp.text()
    assert "0900-SCAM" not in page and 'id="error"' not in page


async def test_marketplace_label_without_policy_engine(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory(policy=None, admin={"listen": "127.0.0.1:0", "token": TOKEN})
    uk = "a1@marketplace.amazon.co.uk"
    await send(gw, message("Shipped", "On its way.\r\n", to=uk), to=uk)
    await send(gw, message("Hello", "x\r\n", to="friend@example.com"), to="friend@example.com")
    text = gw.metrics.render().decode()
    assert 'gateway_messages_total{action="relay",marketplace="co.uk",tenant=""} 1.0' in text
    assert 'gateway_messages_total{action="relay",marketplace="none",tenant=""} 1.0' in text


async def test_tenant_release_keeps_tenant_and_assign_uses_its_registry(
        gateway_factory: GatewayFactory, http: aiohttp.ClientSession, sink: Sink) -> None:
    gw = await gateway_factory(policy=HoldOffPlatformContact(),
                               tenants=[{"id": "acme", "sender_domains": ["shop.example"]}],
                               admin={"listen": "127.0.0.1:0", "token": TOKEN})
    qid = await hold_one(gw)
    assert gw.store is not None and gw.spool is not None
    record = await gw.store.get_quarantine(qid)
    assert record is not None and record.tenant == "acme"
    async with http.post(admin_url(gw, f"/api/quarantine/{qid}/release"), headers=BEARER,
                         json={"reason": "ok", "force": True}) as resp:
        body = await resp.json()
    info = await gw.spool.info(body["queue_id"])
    assert info is not None and info.meta["tenant"] == "acme" and info.meta["quarantine_id"] == qid
    await sink.handler.wait_for(1)
    notice = await gw.store.record_notice("amazon-optout", None, "de", None, None, "import", {}, tenant="acme")
    async with http.post(admin_url(gw, f"/api/bounces/{notice}/assign"), headers=BEARER,
                         json={"alias": ALIAS, "status": "optout"}) as resp:
        assert resp.status == 200
    assert await gw.store.alias_status(ALIAS, "acme") == "optout"
    assert await gw.store.alias_status(ALIAS, "") is None


async def test_shadow_mode_relays_and_reports_would_quarantine(tmp_path: Path, http: aiohttp.ClientSession,
                                                               sink: Sink) -> None:
    # The factory's `policy` is the engine, so this config (with a [policy] section) is built here.
    config = make_config(tmp_path, sink.port, policy={"shadow": True}, admin={"listen": "127.0.0.1:0", "token": TOKEN})
    gw = Gateway(config, policy=HoldOffPlatformContact())
    await gw.start()
    try:
        await send(gw, message("About your order", held_body()))
        await sink.handler.wait_for(1)
        text = gw.metrics.render().decode()
        assert 'gateway_messages_total{action="would-quarantine",marketplace="de",tenant=""} 1.0' in text
        assert gw.processor is not None
        await gw.processor.drain()
        async with http.get(admin_url(gw, "/api/report?since=0"), headers=BEARER) as resp:
            report = await resp.json()
        assert report["by_action"] == {"would-quarantine": 1}
        assert gw.store is not None and await gw.store.list_quarantine() == []
    finally:
        await gw.stop(grace=2.0)


async def test_quarantine_and_decisions_filter_by_tenant(gateway_factory: GatewayFactory,
                                                         http: aiohttp.ClientSession) -> None:
    gw = await gateway_factory(policy=HoldOffPlatformContact(),
                               tenants=[{"id": "acme", "sender_domains": ["shop.example"]},
                                        {"id": "other", "sender_domains": ["other.example"]}],
                               admin={"listen": "127.0.0.1:0", "token": TOKEN})
    qid = await hold_one(gw)
    for tenant, expected in (("acme", [qid]), ("other", []), (None, [qid])):
        query = f"?tenant={tenant}" if tenant else ""
        async with http.get(admin_url(gw, f"/api/quarantine{query}"), headers=BEARER) as resp:
            assert [q["id"] for q in await resp.json()] == expected
        async with http.get(admin_url(gw, f"/api/decisions{query}"), headers=BEARER) as resp:
            assert [d["ref"] for d in await resp.json()] == expected
