"""Review at volume over real HTTP: paging and search, bulk actions with one reason, the audit trail
by object and its paging, the raw source and part downloads."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.store.base import NoticeRow
from tests.admin.support import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    TOKEN,
    HoldOffPlatformContact,
    admin_url,
    held_body,
    message,
    send,
)
from tests.conftest import GatewayFactory
from tests.sink import Sink

BEARER = {"Authorization": f"Bearer {TOKEN}"}
ORDER = "302-4817265-9034712"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def hold(gw: Gateway, subject: str, body: str | None = None, to: str = "k3x9q2@marketplace.amazon.de",
               **kw: str) -> str:
    reply = await send(gw, message(subject, body or held_body(), to=to, **kw), to=to)
    match = re.search(r"held for review as (Q[0-9A-F]+)", reply)
    assert match, reply
    return match.group(1)


async def login(http: aiohttp.ClientSession, gw: Gateway) -> str:
    async with http.post(admin_url(gw, "/login"), data={"username": ADMIN_USER, "password": ADMIN_PASSWORD}) as resp:
        page = await resp.text()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def row_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-id="(Q[0-9A-F]+)">', page)


async def test_list_pages_and_searches(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    ids = [await hold(admin_gateway, f"Parcel {n}") for n in range(5)]
    special = await hold(admin_gateway, f"=?utf-8?q?Ihre_Bestellung_{ORDER}_=C3=BCber?=",
                         to="zz9buyer@marketplace.amazon.de")
    await login(http, admin_gateway)
    async with http.get(admin_url(admin_gateway, "/quarantine?limit=4")) as resp:
        page = await resp.text()
    assert row_ids(page) == [special, *reversed(ids)][:4]
    assert "6 messages match" in page
    older = re.search(r'<a href="([^"]+)" id="older"', page)
    assert older
    async with http.get(admin_url(admin_gateway, older.group(1).replace("&amp;", "&"))) as resp:
        rest = await resp.text()
    assert row_ids(rest) == list(reversed(ids))[3:]
    assert 'id="older"' not in rest and 'id="newest"' in rest
    # The one search box: an order id, an alias, subject words (the decoded subject).
    for q, expected in ((ORDER, [special]), ("zz9buyer@marketplace.amazon.de", [special]),
                        ("bestellung über", [special]), ("parcel 3", [ids[3]])):
        async with http.get(admin_url(admin_gateway, "/quarantine"), params={"q": q}) as resp:
            found = await resp.text()
        assert row_ids(found) == expected, q
    assert f"Ihre Bestellung {ORDER} über" in found or "Parcel 3" in found
    async with http.get(admin_url(admin_gateway, "/quarantine"), params={"rule": "off-platform-contact",
                                                                         "since": "2000-01-01"}) as resp:
        assert "6 messages match" in await resp.text()
    async with http.get(admin_url(admin_gateway, "/quarantine"), params={"until": "2000-01-01"}) as resp:
        assert "0 messages match" in await resp.text()
    async with http.get(admin_url(admin_gateway, "/quarantine"), params={"since": "yesterday"}) as resp:
        assert resp.status == 400 and "since" in await resp.text()
    # The API: a list (its contract), paged through Link and counted in X-Total-Count.
    async with http.get(admin_url(admin_gateway, "/api/quarantine?limit=2"), headers=BEARER) as resp:
        assert resp.headers["X-Total-Count"] == "6"
        first = [r["id"] for r in await resp.json()]
        link = re.match(r'<([^>]+)>; rel="next"', resp.headers["Link"])
    assert first == [special, ids[4]] and link
    async with http.get(admin_url(admin_gateway, link.group(1)), headers=BEARER) as resp:
        assert [r["id"] for r in await resp.json()] == [ids[3], ids[2]]


async def test_bulk_actions_take_one_reason(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    ids = [await hold(admin_gateway, f"Bulk {n}") for n in range(4)]
    csrf = await login(http, admin_gateway)
    async with http.post(admin_url(admin_gateway, "/quarantine/bulk"),
                         data=[("csrf_token", csrf), ("status", "held"), ("action", "delete"),
                               ("reason", "spam run 7"), ("ids", ids[0]), ("ids", ids[1])]) as resp:
        page = await resp.text()
    assert "2 deleted." in page
    assert row_ids(page) == [ids[3], ids[2]]
    async with http.get(admin_url(admin_gateway, "/quarantine?status=deleted")) as resp:
        deleted = await resp.text()
    assert sorted(row_ids(deleted)) == sorted(ids[:2])
    assert deleted.count(f"by user:{ADMIN_USER}") == 2 and deleted.count("spam run 7") == 2
    # All matching a search, forced (the stand-in policy still holds these), through the API.
    async with http.post(admin_url(admin_gateway, "/api/quarantine/bulk"), headers=BEARER,
                         json={"action": "release", "filter": {"q": "bulk"}, "force": True,
                               "reason": "buyer asked"}) as resp:
        result = await resp.json()
    assert result["ok"] and sorted(result["done"]) == sorted(ids[2:]) and result["refused"] == []
    # Unforced, a re-check refuses what still violates; each message answers for itself.
    more = await hold(admin_gateway, "Bulk again")
    async with http.post(admin_url(admin_gateway, "/api/quarantine/bulk"), headers=BEARER,
                         json={"action": "release", "ids": [more, ids[0]]}) as resp:
        result = await resp.json()
    assert not result["ok"] and result["done"] == []
    assert {r["id"]: r["error"] for r in result["refused"]} == {more: "still-violating", ids[0]: "not-held"}
    async with http.post(admin_url(admin_gateway, "/api/quarantine/bulk"), headers=BEARER,
                         json={"action": "release", "ids": [more], "force": True}) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "reason-required"


async def test_message_page_keeps_its_audit_after_many_later_records(admin_gateway: Gateway,
                                                                     http: aiohttp.ClientSession) -> None:
    qid = await hold(admin_gateway, "Audit me")
    async with http.post(admin_url(admin_gateway, f"/api/quarantine/{qid}/release"), headers=BEARER,
                         json={"force": True, "reason": "checked by phone"}) as resp:
        assert (await resp.json())["ok"]
    store = admin_gateway.store
    assert store is not None
    for n in range(1001):
        await store.audit("token", "deleted", f"QOTHER{n:05d}", "cleanup")
    await login(http, admin_gateway)
    async with http.get(admin_url(admin_gateway, f"/quarantine/{qid}")) as resp:
        page = await resp.text()
    assert "token released — forced: checked by phone" in page and "token spooled" in page
    async with http.get(admin_url(admin_gateway, f"/api/audit?object={qid}"), headers=BEARER) as resp:
        assert [a["action"] for a in await resp.json()] == ["spooled", "released"]
        assert resp.headers["X-Total-Count"] == "2"
    async with http.get(admin_url(admin_gateway, "/api/audit?limit=600"), headers=BEARER) as resp:
        assert resp.headers["X-Total-Count"] == "1003" and len(await resp.json()) == 600
        link = re.match(r'<([^>]+)>; rel="next"', resp.headers["Link"])
    assert link
    async with http.get(admin_url(admin_gateway, link.group(1)), headers=BEARER) as resp:
        rest = await resp.json()
    assert len(rest) == 403 and rest[-1]["object"] == qid and "Link" not in resp.headers
    async with http.get(admin_url(admin_gateway, "/audit"), params={"action": "released"}) as resp:
        audit_page = await resp.text()
    assert "1 record." in audit_page and f'<a href="/quarantine/{qid}">' in audit_page


async def test_raw_source_and_attachments_download(admin_gateway: Gateway, http: aiohttp.ClientSession) -> None:
    body = ("--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + held_body() +
            "--B\r\nContent-Type: application/pdf\r\n"
            "Content-Disposition: attachment; filename=\"Rechnung März.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--B--\r\n")
    qid = await hold(admin_gateway, "With invoice", body, content_type='multipart/mixed; boundary="B"')
    await login(http, admin_gateway)
    async with http.get(admin_url(admin_gateway, f"/quarantine/{qid}")) as resp:
        page = await resp.text()
    assert "Rechnung März.pdf" in page and f'href="/quarantine/{qid}/part/1"' in page
    async with http.get(admin_url(admin_gateway, f"/quarantine/{qid}/part/1")) as resp:
        assert await resp.read() == b"%PDF-1.4\n"
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert resp.headers["Content-Disposition"].startswith("attachment;")
        assert "filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf" in resp.headers["Content-Disposition"]
    async with http.get(admin_url(admin_gateway, f"/quarantine/{qid}/raw")) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert "Content-Disposition: attachment; filename=\"Rechnung" in await resp.text()
    async with http.get(admin_url(admin_gateway, f"/quarantine/{qid}/raw?download=1")) as resp:
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{qid}.eml"'
    async with http.get(admin_url(admin_gateway, f"/quarantine/{qid}/part/9")) as resp:
        assert resp.status == 404


async def test_tracking_a_message_from_hold_to_delivery(admin_gateway: Gateway, http: aiohttp.ClientSession,
                                                        sink: Sink) -> None:
    qid = await hold(admin_gateway, "Track me")
    async with http.post(admin_url(admin_gateway, f"/api/quarantine/{qid}/release"), headers=BEARER,
                         json={"force": True, "reason": "fine after all"}) as resp:
        queue_id = (await resp.json())["queue_id"]
    await sink.handler.wait_for(1, timeout=15)
    await login(http, admin_gateway)
    for _ in range(50):  # the delivery's result is recorded just after the sink's 250
        async with http.get(admin_url(admin_gateway, "/track"), params={"id": qid}) as resp:
            page = await resp.text()
        if "done, 1 attempt" in page:
            break
        await asyncio.sleep(0.1)
    timeline = page[page.index('id="timeline"'):]
    order = [timeline.index(word) for word in ("decided: quarantine", f"held as {qid}", "released by token",
                                               f"spooled as {queue_id}", "relayed to k3x9q2@marketplace.amazon.de")]
    assert order == sorted(order)
    assert "forced: fine after all" in page and "off-platform-contact" in page
    assert "done, 1 attempt" in page and "k3x9q2@marketplace.amazon.de" in page
    # A relayed message, tracked by its Message-ID.
    clean = message("Your tracking number", "Your parcel ships today.\r\n")
    await send(admin_gateway, clean)
    message_id = re.search(rb"Message-ID: (<[^>]+>)", clean).group(1).decode()  # type: ignore[union-attr]
    for _ in range(50):  # the decision of a relayed message is recorded beside its delivery
        async with http.get(admin_url(admin_gateway, "/track"), params={"id": message_id.strip("<>")}) as resp:
            page = await resp.text()
        if "relayed to" in page:
            break
        await asyncio.sleep(0.1)
    assert "decided: relay" in page and "relayed to k3x9q2@marketplace.amazon.de" in page
    async with http.get(admin_url(admin_gateway, "/track"), params={"id": "<nothing@nowhere>"}) as resp:
        assert "Nothing is known of" in await resp.text()


async def test_per_tenant_views(gateway_factory: GatewayFactory, http: aiohttp.ClientSession) -> None:
    gw = await gateway_factory(policy=HoldOffPlatformContact(),
                               tenants=[{"id": "acme", "sender_domains": ["shop.example"]},
                                        {"id": "other", "sender_domains": ["other.example"]}],
                               admin={"listen": "127.0.0.1:0", "token": TOKEN})
    qid = await hold(gw, "Tenant mail")
    async with http.get(admin_url(gw, "/stats"), headers=BEARER) as resp:
        page = await resp.text()
    held = page[page.index('id="tenant-quarantine"'):]
    assert re.search(r'href="/quarantine\?tenant=acme">acme</a></td><td data-label="Held">1<', held)
    assert re.search(r'href="/quarantine\?tenant=other">other</a></td><td data-label="Held">0<', held)
    async with http.get(admin_url(gw, "/stats?tenant=acme"), headers=BEARER) as resp:
        acme = await resp.text()
    async with http.get(admin_url(gw, "/stats?tenant=other"), headers=BEARER) as resp:
        other = await resp.text()
    assert 'data-action="quarantine"' in acme and "seller@shop.example" in acme
    assert 'data-action="quarantine"' not in other and "No decisions yet." in other
    for tenant, rows in (("acme", [qid]), ("other", []), ("*", [qid])):
        async with http.get(admin_url(gw, "/quarantine"), params={"tenant": tenant}, headers=BEARER) as resp:
            assert row_ids(await resp.text()) == rows, tenant


async def test_bounce_notice_page_shows_its_text_and_suggests_aliases(admin_gateway: Gateway,
                                                                      http: aiohttp.ClientSession) -> None:
    store = admin_gateway.store
    assert store is not None
    await store.record_relay("QUEUE9", "<o@shop.example>", [("buyer7@marketplace.amazon.de", "de")], [ORDER], ())
    raw = (f"From: Amazon <donotreply@amazon.de>\r\nSubject: Ihre Nachricht wurde nicht zugestellt\r\n\r\n"
           f"Der Käufer hat sich gegen unaufgeforderte Nachrichten entschieden. Bestellung {ORDER}.\r\n").encode()
    reference, digest = await store.store_evidence(raw)
    recorded = await store.record_bounce(NoticeRow(kind="optout", source="test", report={}, order_id=ORDER,
                                                   marketplace="de", evidence=reference, sha256=digest))
    assert recorded is not None
    csrf = await login(http, admin_gateway)
    async with http.get(admin_url(admin_gateway, "/bounces")) as resp:
        assert f'href="/bounces/{recorded.notice_id}"' in await resp.text()
    async with http.get(admin_url(admin_gateway, f"/bounces/{recorded.notice_id}")) as resp:
        page = await resp.text()
    assert "Der Käufer hat sich gegen unaufgeforderte Nachrichten entschieden" in page
    suggestions = page[page.index('id="suggestions"'):]
    assert "buyer7@marketplace.amazon.de" in suggestions
    async with http.post(admin_url(admin_gateway, f"/bounces/{recorded.notice_id}/assign"),
                         data={"csrf_token": csrf, "alias": "buyer7@marketplace.amazon.de",
                               "status": "optout"}) as resp:
        assert f"Notice {recorded.notice_id} assigned." in await resp.text()
    assert await store.alias_status("buyer7@marketplace.amazon.de") == "optout"
    async with http.get(admin_url(admin_gateway, "/bounces/999999")) as resp:
        assert resp.status == 404
