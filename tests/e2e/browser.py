"""Headless Chromium for the admin page tests, from Debian's chromium and chromium-driver (.ci/run).

Nothing is fetched: the flags keep Chromium off the network except for the page under test, the
profile is fresh, and the driver path is explicit so Selenium Manager never runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="chromium and chromedriver not installed (apt-get install chromium chromium-driver)")

PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0 Mobile Safari/537.36")


def start_browser(profile: Path, width: int = 1280) -> Any:
    """A Chromium window ``width`` px wide; below 500 px a phone (mobile emulation), so the page's
    viewport meta tag decides its layout width as on a real phone."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={max(width, 500)},1000"):
        options.add_argument(flag)
    if width < 500:
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": 844, "pixelRatio": 2}, "userAgent": PHONE_UA})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
