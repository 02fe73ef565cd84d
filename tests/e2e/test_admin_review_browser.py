"""Review at volume in headless Chromium, at 1,280 px (a desktop window) and 390 px (a phone, with
mobile emulation, so the viewport meta tag is what decides the layout width).

One scenario per width: search and page the list, bulk-delete with one reason, open an HTML message
(the buyer's view in its sandboxed frame with the remote image blocked, the evidence marked in the
decoded text, the RFC 2047 subject decoded, its attachment listed), release it and find its audit
records on the message page and the audit page, and the decisions chart. Screenshots of each page
go to tmp_path (or $ADMIN_SCREENSHOTS) for a person to look at.
"""

from __future__ import annotations

import asyncio
import base64
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.classify import MarketplaceRecipient
from gateway.policy.content import normalize
from gateway.policy.verdict import Action, Hit, Verdict
from tests.admin.support import ADMIN_PASSWORD, ADMIN_USER, TOKEN, admin_url, send, write_credentials
from tests.conftest import GatewayFactory
from tests.e2e.browser import needs_chromium, start_browser

pytestmark = [pytest.mark.slow, needs_chromium]

ORDER = "302-4817265-9034712"
CONTACT = "WhatsApp: +49-151-2345678"


class PhraseRules:
    """Stands in for the policy engine as its phrase rules behave: the evidence recorded is the
    normalised snippet (``content.normalize``), not the text as written; a remote image is a hit."""

    def evaluate(self, raw: bytes, recipients: Sequence[MarketplaceRecipient], state: Any = None) -> Verdict:
        marketplace = recipients[0].marketplace if recipients else None
        hits = []
        if CONTACT.encode() in raw:
            hits.append(Hit("off-platform-contact", Action.QUARANTINE,
                            "asks the buyer to contact the seller off Amazon", normalize(CONTACT).strip()))
        if b"http://tracker.example/" in raw:
            hits.append(Hit("tracking-pixels", Action.QUARANTINE, "tiny remote image", "http://tracker.example/p.gif"))
        if b"Parcel" in raw:
            hits.append(Hit("promotional", Action.QUARANTINE, "promotion", "Parcel"))
        if hits:
            return Verdict(Action.QUARANTINE, hits=tuple(hits), marketplace=marketplace)
        return Verdict(Action.RELAY, marketplace=marketplace)

    def apply(self, raw: bytes, verdict: Verdict) -> bytes:
        return raw


def html_message() -> bytes:
    html = (f'<html><body><p style="color:#036">Danke für Ihre Bestellung {ORDER}!</p>'
            f'<p>Schnelle Hilfe: {CONTACT}</p><img src="http://tracker.example/p.gif" width="1" height="1">'
            '<script>document.title="pwned"</script><a href="http://shop.example/x">Unser Shop</a></body></html>')
    return ("From: Seller <seller@shop.example>\r\nTo: k3x9q2@marketplace.amazon.de\r\n"
            "Subject: =?utf-8?q?Ihre_Bestellung_=C3=BCber_uns?=\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="M"\r\n\r\n'
            '--M\r\nContent-Type: multipart/alternative; boundary="A"\r\n\r\n'
            f"--A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDanke! Schnelle Hilfe: {CONTACT}\r\n"
            f"--A\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--A--\r\n"
            '--M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="Rechnung.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--M--\r\n").encode()


def parcel(n: int) -> bytes:
    return (f"From: seller@shop.example\r\nTo: b{n:03d}@marketplace.amazon.de\r\nSubject: Parcel {n}\r\n"
            f"Message-ID: <parcel{n}@shop.example>\r\n\r\nParcel {n} is on its way.\r\n").encode()


def click_and_wait_for_page(driver: Any, element: Any) -> None:
    """Click a link or submit button and wait until the browser has left the page it was on:
    reading rows right after the click could otherwise find the old page's (stale) elements."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element("tag name", "html")
    element.click()
    WebDriverWait(driver, 10).until(expected_conditions.staleness_of(page))


def review(base: str, width: int, shots: Path, html_qid: str, parcels: list[str]) -> dict[str, Any]:
    """Drive the pages as an admin would; runs in a thread while the gateway serves."""
    from selenium.webdriver.common.by import By

    seen: dict[str, Any] = {}

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        driver = start_browser(Path(profile), width)

        def shot(name: str) -> None:
            # The whole page, not only the window: a person looks at these.
            size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            data = driver.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}})
            (shots / f"{width}-{name}.png").write_bytes(base64.b64decode(data["data"]))

        def overflow() -> int:
            return int(driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"))

        def text(css: str) -> str:
            return str(driver.find_element(By.CSS_SELECTOR, css).text)

        try:
            driver.set_page_load_timeout(30)
            driver.implicitly_wait(10)
            driver.get(f"{base}/quarantine")
            driver.find_element(By.ID, "username").send_keys(ADMIN_USER)
            driver.find_element(By.ID, "password").send_keys(ADMIN_PASSWORD)
            driver.find_element(By.ID, "login").click()
            seen["inner_width"] = driver.execute_script("return window.innerWidth")
            seen["count"] = text("#count")
            seen["first_page_rows"] = len(driver.find_elements(By.CSS_SELECTOR, "#quarantine tbody tr"))
            seen["list_overflow"] = overflow()
            shot("list")
            click_and_wait_for_page(driver, driver.find_element(By.ID, "older"))
            seen["older_rows"] = [r.get_attribute("data-id")
                                  for r in driver.find_elements(By.CSS_SELECTOR, "#quarantine tbody tr")]
            # The one search box: an order id.
            box = driver.find_element(By.ID, "q")
            box.clear()
            box.send_keys(ORDER)
            click_and_wait_for_page(driver, driver.find_element(By.ID, "search"))
            seen["order_rows"] = [r.get_attribute("data-id")
                                  for r in driver.find_elements(By.CSS_SELECTOR, "#quarantine tbody tr")]
            seen["order_subject"] = text(f'tr[data-id="{html_qid}"] a.open')
            shot("search")
            # Bulk: two parcels deleted with one reason.
            driver.get(f"{base}/quarantine?q=parcel")
            for qid in parcels[:2]:
                driver.find_element(By.CSS_SELECTOR, f'input[name="ids"][value="{qid}"]').click()
            driver.find_element(By.ID, "bulk-reason").send_keys("duplicate run")
            driver.find_element(By.ID, "bulk-delete").click()
            seen["bulk_flash"] = text("#flash")
            driver.get(f"{base}/quarantine?status=deleted")
            seen["deleted_rows"] = sorted(r.get_attribute("data-id")
                                          for r in driver.find_elements(By.CSS_SELECTOR, "#quarantine tbody tr"))
            seen["deleted_text"] = text("#quarantine")
            shot("deleted")
            # The HTML message.
            driver.get(f"{base}/quarantine/{html_qid}")
            seen["subject"] = text("#subject")
            seen["marks"] = [m.text for m in driver.find_elements(By.CSS_SELECTOR, "pre.preview mark")]
            seen["parts"] = text("#parts")
            seen["html_note"] = text("#html-note")
            seen["detail_overflow"] = overflow()
            frame = driver.find_element(By.ID, "html-view")
            seen["frame_sandbox"] = frame.get_attribute("sandbox")
            shot("detail")
            driver.switch_to.frame(frame)
            seen["frame_text"] = driver.find_element(By.TAG_NAME, "body").text
            seen["frame_images"] = len(driver.find_elements(By.TAG_NAME, "img"))
            seen["frame_links"] = [a.get_attribute("href") for a in driver.find_elements(By.TAG_NAME, "a")]
            seen["frame_title"] = driver.title
            driver.switch_to.default_content()
            driver.find_element(By.ID, "release-reason").send_keys("asked the buyer by phone")
            driver.find_element(By.ID, "release-force").click()
            driver.find_element(By.ID, "release").click()
            seen["release_flash"] = text("#flash")
            driver.get(f"{base}/quarantine/{html_qid}")
            seen["audit"] = text("#audit")
            driver.get(f"{base}/audit?object={html_qid}")
            seen["audit_page"] = text("#audit-table")
            seen["audit_count"] = text("#audit-count")
            seen["audit_overflow"] = overflow()
            shot("audit")
            driver.get(f"{base}/stats")
            seen["chart_bars"] = len(driver.find_elements(By.CSS_SELECTOR, "#decisions-chart rect[data-action]"))
            seen["stats_overflow"] = overflow()
            shot("stats")
            driver.get(f"{base}/optouts")
            seen["optouts_overflow"] = overflow()
            shot("optouts")
        finally:
            driver.quit()
    return seen


@pytest.mark.parametrize("width", [1280, 390])
async def test_review_at_volume_in_chromium(gateway_factory: GatewayFactory, tmp_path: Path, width: int) -> None:
    creds = write_credentials(tmp_path / "credentials")
    gw: Gateway = await gateway_factory(
        policy=PhraseRules(),
        admin={"listen": "127.0.0.1:0", "token": TOKEN, "users": [ADMIN_USER], "credentials_file": str(creds)})
    parcels = []
    for n in range(54):
        reply = await send(gw, parcel(n), to=f"b{n:03d}@marketplace.amazon.de")
        parcels.append(reply.rsplit(" ", 1)[-1])
    html_qid = (await send(gw, html_message())).rsplit(" ", 1)[-1]
    shots = Path(os.environ.get("ADMIN_SCREENSHOTS", str(tmp_path)))
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    seen = await asyncio.to_thread(review, admin_url(gw, ""), width, shots, html_qid, list(reversed(parcels)))

    assert seen["inner_width"] == width
    assert seen["count"].startswith("55 messages match")
    assert seen["first_page_rows"] == 50
    assert seen["older_rows"] == parcels[:5][::-1]
    assert seen["order_rows"] == [html_qid]
    assert seen["order_subject"] == "Ihre Bestellung über uns"  # RFC 2047 decoded
    assert seen["bulk_flash"] == "2 deleted."
    assert seen["deleted_rows"] == sorted(parcels[-2:])
    assert seen["deleted_text"].count("duplicate run") == 2 and f"by user:{ADMIN_USER}" in seen["deleted_text"]
    assert seen["subject"] == "Ihre Bestellung über uns"
    # Phrase evidence ("whatsapp 49 151 2345678") found in the text as written, in both parts;
    # the tracking pixel's source is marked in the HTML part's text.
    assert seen["marks"].count("WhatsApp: +49-151-2345678") == 2
    assert "http://tracker.example/p.gif" in seen["marks"]
    assert "Rechnung.pdf" in seen["parts"] and "application/pdf" in seen["parts"]
    assert "Remote images blocked: 1" in seen["html_note"]
    assert seen["frame_sandbox"] == ""
    assert f"Danke für Ihre Bestellung {ORDER}!" in seen["frame_text"]
    assert "[remote image blocked: tracker.example]" in seen["frame_text"]
    assert seen["frame_images"] == 0 and seen["frame_links"] == [None]  # the link is disarmed
    assert seen["frame_title"] != "pwned"
    assert seen["release_flash"].startswith(f"{html_qid} released as queue id")
    assert f"user:{ADMIN_USER} released — forced: asked the buyer by phone" in seen["audit"]
    assert "spooled" in seen["audit_page"] and "released" in seen["audit_page"]
    assert seen["audit_count"] == "2 records."
    assert seen["chart_bars"] >= 1
    for page in ("list", "detail", "audit", "stats", "optouts"):
        assert seen[f"{page}_overflow"] <= 0, (page, seen[f"{page}_overflow"])
