"""The review page end to end in headless Chromium: log in, open a held message, release it, and see
it arrive at the upstream sink. Chromium and chromedriver come from Debian's packages (.ci/run)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

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
    write_credentials,
)
from tests.conftest import GatewayFactory
from tests.e2e.browser import needs_chromium, start_browser
from tests.sink import Sink, relayed_unchanged

pytestmark = [pytest.mark.slow, needs_chromium]


def review_and_release(base: str, qid: str, screenshot: Path) -> dict[str, str]:
    """Drive the real page as an admin would; runs in a thread while the gateway serves."""
    from selenium.webdriver.common.by import By

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        driver = start_browser(Path(profile))
        try:
            driver.set_page_load_timeout(30)
            driver.implicitly_wait(10)  # a click's navigation may still be under way when it returns
            driver.get(f"{base}/quarantine")
            assert "/login" in driver.current_url
            driver.find_element(By.ID, "username").send_keys(ADMIN_USER)
            driver.find_element(By.ID, "password").send_keys(ADMIN_PASSWORD)
            driver.find_element(By.ID, "login").click()
            row = driver.find_element(By.CSS_SELECTOR, f'tr[data-id="{qid}"]')
            list_evidence = row.find_element(By.TAG_NAME, "mark").text
            row.find_element(By.CSS_SELECTOR, "a.open").click()
            preview_marks = [m.text for m in driver.find_elements(By.CSS_SELECTOR, "#preview mark")]
            driver.save_screenshot(str(screenshot.with_name("detail.png")))  # kept in tmp_path for debugging
            driver.find_element(By.ID, "release-reason").send_keys("buyer asked to be called back")
            driver.find_element(By.ID, "release-force").click()
            driver.find_element(By.ID, "release").click()
            flash = driver.find_element(By.ID, "flash").text
            driver.save_screenshot(str(screenshot))
            driver.get(f"{base}/quarantine/{qid}")
            audit = driver.find_element(By.ID, "audit").text
            return {"list_evidence": list_evidence, "preview_marks": "|".join(preview_marks), "flash": flash,
                    "audit": audit, "url": driver.current_url}
        finally:
            driver.quit()


async def test_admin_logs_in_and_releases_in_chromium(gateway_factory: GatewayFactory, sink: Sink,
                                                      tmp_path: Path) -> None:
    creds = write_credentials(tmp_path / "credentials")
    gw: Gateway = await gateway_factory(
        policy=HoldOffPlatformContact(),
        admin={"listen": "127.0.0.1:0", "token": TOKEN, "users": [ADMIN_USER], "credentials_file": str(creds)})
    reply = await send(gw, message("About your order", held_body()))
    qid = reply.rsplit(" ", 1)[-1]
    assert sink.messages == []
    seen = await asyncio.to_thread(review_and_release, admin_url(gw, ""), qid, tmp_path / "released.png")
    assert seen["list_evidence"] == EVIDENCE
    assert seen["preview_marks"] == EVIDENCE
    assert seen["flash"].startswith(f"{qid} released as queue id")
    assert f"user:{ADMIN_USER} released" in seen["audit"]
    received = await sink.handler.wait_for(1, timeout=15)
    assert received[0].rcpt_tos == [ALIAS]
    assert relayed_unchanged(received[0].data, message("About your order", held_body()))
    await asyncio.sleep(0.3)
    assert len(sink.messages) == 1
