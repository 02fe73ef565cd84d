"""Learning from Amazon's verdicts over SMTP, with the shipped rule packs, a real upstream sink and
the admin server, on SQLite and on PostgreSQL:

- an Amazon policy notice for a message the gateway relayed appears as a disagreement on the admin
  page, in `gateway report` (a separate process) and in /metrics;
- after it the next message of the same template is held; once the template is marked fixed it
  relays again;
- a restriction notice refuses proactive mail with 550 5.7.1 until an admin clears it; a reply in
  a buyer-initiated thread still passes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import pytest

from gateway.app import Gateway
from tests.admin.support import REPO_ROOT, TOKEN, admin_url
from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink
from tests.test_learning import policy_notice, template

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
SELLER = "buchhaltung@beispielhandel.de"
BOUNCES = "amazon-notices@gw.beispielhandel.de"
BEARER = {"Authorization": f"Bearer {TOKEN}"}

Start = Callable[..., Awaitable[Gateway]]


def invoice(order: str, name: str, amount: str, message_id: str = "") -> bytes:
    subject, body = template(order, name, amount)
    mid = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (f"From: Beispielhandel <{SELLER}>\r\nTo: {ALIAS}\r\nSubject: {subject}\r\n{mid}MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n").encode()


@pytest.fixture(params=["sqlite", "postgresql"])
async def start(request: pytest.FixtureRequest, gateway_factory: GatewayFactory, tmp_path: Path) -> Start:
    state: dict[str, Any] = {"directory": str(tmp_path / "state")}
    if request.param == "postgresql":
        from tests.e2e.test_shared_state import db_upgrade

        dsn = request.getfixturevalue("pg_dsn")
        db_upgrade(tmp_path, dsn)
        state["database"] = dsn

    async def factory(**sections: Any) -> Gateway:
        return await gateway_factory(policy="load", state=state, bounces={"addresses": [BOUNCES]},
                                     admin={"listen": "127.0.0.1:0", "token": TOKEN},
                                     learning={"state_seconds": 0}, **sections)

    return factory


async def send(gw: Gateway, data: bytes, to: str = ALIAS, sender: str = SELLER) -> tuple[int, str]:
    try:
        errors, reply = await aiosmtplib.send(data, sender=sender, recipients=[to], hostname="127.0.0.1",
                                              port=listener_port(gw), timeout=30)
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    assert errors == {}
    return 250, reply


async def get(gw: Gateway, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(admin_url(gw, path), headers=BEARER) as resp:
        return resp.status, await resp.text()


async def post(gw: Gateway, path: str, **fields: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(admin_url(gw, path), headers=BEARER, json=fields) as resp:
        body: dict[str, Any] = await resp.json()
        return resp.status, body


def gateway_report(gw: Gateway, tmp_path: Path) -> dict[str, Any]:
    """`gateway report --json` as an admin runs it beside the serving gateway, on the same state."""
    state = gw.config.state
    cfg = tmp_path / "report.toml"
    database = f'database = "{state.database}"\n' if state.database else ""
    cfg.write_text(f'[state]\ndirectory = "{gw.config.state_dir}"\n{database}', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "gateway", "report", "--json", "--config", str(cfg)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


async def test_a_policy_notice_shows_as_disagreement_and_holds_the_template(start: Start, sink: Sink,
                                                                            tmp_path: Path) -> None:
    gw = await start()
    code, reply = await send(gw, invoice("302-1111111-1111111", "Anna Schmidt", "49,90", "<inv-1@beispielhandel.de>"))
    assert code == 250 and "queued as" in reply, reply
    await sink.handler.wait_for(1)
    assert gw.processor is not None
    await gw.processor.drain()

    # Amazon refuses it; the seller's mailbox forwards the notice to the gateway's bounce address.
    code, reply = await send(gw, policy_notice(order="302-1111111-1111111", in_reply_to="<inv-1@beispielhandel.de>"),
                             to=BOUNCES)
    assert code == 250 and "disagreement #" in reply, reply

    # The admin page: the relayed message, its verdict and hits beside Amazon's reason.
    status, page = await get(gw, "/disagreements")
    assert status == 200
    assert "Ihre Rechnung zur Bestellung 302-1111111-1111111" in page and ALIAS in page
    assert "did not meet the Buyer-Seller Messaging communication guidelines" in page
    assert "Mark template fixed" in page and 'id="by-pack"' in page
    status, body = await get(gw, "/api/disagreements")
    listed = json.loads(body)
    assert status == 200 and listed["total"] == 1 and listed["held_templates"] == 1
    [found] = listed["latest"]
    assert found["relayed"]["action"] == "relay" and found["matched_by"] == "message-id"
    assert found["relayed"]["packs"] and all(len(v) == 12 for v in found["relayed"]["packs"].values())

    # /metrics and `gateway report` (another process, the same state).
    status, metrics = await get(gw, "/metrics")
    assert status == 200
    by_pack = listed["by_pack"]
    for pack, count in by_pack.items():
        assert f'gateway_disagreements_total{{pack="{pack}",tenant=""}} {float(count)}' in metrics
    assert 'gateway_templates_held{tenant=""} 1.0' in metrics
    report = gateway_report(gw, tmp_path)
    assert report["disagreements"]["total"] == 1 and report["disagreements"]["by_pack"] == by_pack
    assert report["disagreements"]["latest"][0]["id"] == found["id"] and "by_action" in report

    # The next message of the template, for another buyer's order, is held for review.
    code, reply = await send(gw, invoice("028-2222222-2222222", "Jean Dupont", "120,00"))
    assert code == 250 and "held for review" in reply, reply
    qid = reply.rsplit(" ", 1)[-1]
    status, body = await get(gw, f"/api/quarantine/{qid}")
    held = json.loads(body)
    assert [h["rule"] for h in held["verdict"]["hits"]] == ["template-disagreed"]

    # The admin fixed the template: it relays again.
    status, fixed = await post(gw, f"/api/disagreements/{found['id']}/fix", reason="tracking link removed")
    assert status == 200 and fixed["fixed"] == [found["id"]]
    code, reply = await send(gw, invoice("028-3333333-3333333", "Eva Weiss", "15,00"))
    assert code == 250 and "queued as" in reply, reply
    await sink.handler.wait_for(2)


async def test_a_restriction_refuses_proactive_mail_until_cleared(start: Start, sink: Sink) -> None:
    gw = await start()
    code, reply = await send(gw, policy_notice(order="113-7777777-8888888", kind="restriction"), to=BOUNCES)
    assert code == 250 and "tenant restricted" in reply, reply
    status, metrics = await get(gw, "/metrics")
    assert 'gateway_tenant_restricted{tenant=""} 1.0' in metrics
    status, page = await get(gw, "/disagreements")
    assert "is restricted by Amazon since 2026-11-23" in page and "Clear restriction" in page

    code, reply = await send(gw, invoice("302-1111111-1111111", "Anna Schmidt", "49,90"))
    assert code == 550 and "5.7.1" in reply and "tenant-restricted" in reply and "2026-11-23" in reply, reply
    answer = (f"From: {SELLER}\r\nTo: {ALIAS}\r\nSubject: Re: Frage zur Bestellung 302-1111111-1111111\r\n"
              "In-Reply-To: <question-1@marketplace.amazon.de>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
              "Guten Tag, die Lieferung erfolgt am Montag.\r\n").encode()
    code, reply = await send(gw, answer)
    assert code == 250 and "queued as" in reply, reply

    status, cleared = await post(gw, "/api/restrictions/clear", tenant="", reason="Amazon lifted it")
    assert status == 200 and cleared["cleared"] == 1
    code, reply = await send(gw, invoice("302-2222222-1111111", "Anna Schmidt", "9,90"))
    assert code == 250 and "queued as" in reply, reply


def fix_in_chromium(base: str, screenshot: Path, width: int = 1280) -> dict[str, str]:
    """Drive the page as an admin would: log in, read both sides, mark the template fixed."""
    from selenium.webdriver.common.by import By

    from tests.admin.support import ADMIN_PASSWORD, ADMIN_USER
    from tests.e2e.browser import start_browser

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        driver = start_browser(Path(profile), width)
        try:
            driver.set_page_load_timeout(30)
            driver.implicitly_wait(10)
            driver.get(f"{base}/disagreements")
            driver.find_element(By.ID, "username").send_keys(ADMIN_USER)
            driver.find_element(By.ID, "password").send_keys(ADMIN_PASSWORD)
            driver.find_element(By.ID, "login").click()
            row = driver.find_element(By.CSS_SELECTOR, "#disagreements tr[data-id]")
            seen = {"subject": row.find_element(By.CSS_SELECTOR, ".subject").text,
                    "reason": row.find_element(By.CSS_SELECTOR, ".reason").text,
                    "action": row.find_element(By.CSS_SELECTOR, ".action").text,
                    "by_pack": driver.find_element(By.ID, "by-pack").text}
            driver.save_screenshot(str(screenshot.with_name(f"disagreements-{width}.png")))
            row.find_element(By.CSS_SELECTOR, "form.fix input[name=reason]").send_keys("pixel removed in the ERP")
            row.find_element(By.CSS_SELECTOR, "form.fix button").click()
            seen["flash"] = driver.find_element(By.ID, "flash").text
            seen["state"] = driver.find_element(By.CSS_SELECTOR, "#disagreements .template-state").text
            driver.save_screenshot(str(screenshot))
            return seen
        finally:
            driver.quit()


@pytest.mark.slow
async def test_an_admin_marks_the_template_fixed_in_chromium(gateway_factory: GatewayFactory, sink: Sink,
                                                             tmp_path: Path) -> None:
    from tests.admin.support import ADMIN_USER, write_credentials
    from tests.e2e.browser import needs_chromium

    if needs_chromium.args[0]:
        pytest.skip(needs_chromium.kwargs["reason"])
    creds = write_credentials(tmp_path / "credentials")
    gw = await gateway_factory(policy="load", bounces={"addresses": [BOUNCES]},
                               admin={"listen": "127.0.0.1:0", "token": TOKEN, "users": [ADMIN_USER],
                                      "credentials_file": str(creds)}, learning={"state_seconds": 0})
    assert (await send(gw, invoice("302-1111111-1111111", "Anna", "9,90", "<inv-9@beispielhandel.de>")))[0] == 250
    await sink.handler.wait_for(1)
    assert gw.processor is not None
    await gw.processor.drain()
    code, reply = await send(gw, policy_notice(order="302-1111111-1111111", in_reply_to="<inv-9@beispielhandel.de>"),
                             to=BOUNCES)
    assert code == 250 and "disagreement #" in reply, reply
    seen = await asyncio.to_thread(fix_in_chromium, admin_url(gw, ""), tmp_path / "fixed.png")
    assert seen["subject"] == "Ihre Rechnung zur Bestellung 302-1111111-1111111"
    assert "communication guidelines" in seen["reason"] and seen["action"] == "relay"
    assert "none" in seen["by_pack"]
    assert seen["flash"].startswith("Template fixed") and seen["state"] == "fixed"
    code, reply = await send(gw, invoice("028-2222222-2222222", "Jean", "1,00"))
    assert code == 250 and "queued as" in reply, reply
