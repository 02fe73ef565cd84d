"""The decisions chart: server-rendered SVG (no script), every day of the span, text escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from gateway.admin.charts import decisions_chart


def test_chart_has_a_bar_per_action_and_day_and_escapes_text() -> None:
    today = datetime.now(UTC).date()
    days = [{"day": today.isoformat(), "actions": {"quarantine": 3, "relay": 9}, "rules": {}},
            {"day": (today - timedelta(days=2)).isoformat(), "actions": {"<x>": 1}, "rules": {}}]
    svg = decisions_chart(days, ["<x>", "quarantine", "relay"], span=7)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "<script" not in svg
    bars = re.findall(r'data-action="([^"]+)" data-day="([^"]+)" data-count="(\d+)"', svg)
    assert sorted(bars) == sorted([("&lt;x&gt;", (today - timedelta(days=2)).isoformat(), "1"),
                                   ("quarantine", today.isoformat(), "3"), ("relay", today.isoformat(), "9")])
    assert len(re.findall(r'text-anchor="middle" font-size="10"', svg)) == 7  # one label per day of the span
    assert "<x>" not in svg


def test_empty_chart_says_so() -> None:
    assert "No decisions yet." in decisions_chart([], [])
