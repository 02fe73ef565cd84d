"""Charts drawn on the server as SVG: they need no script, so the strict CSP stays as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

# Colour per action; shadow decisions ("would-...") in a lighter tone of the same.
_COLOURS = {"relay": "#4c8c4a", "rewrite": "#3b6ea8", "quarantine": "#d08a1e", "reject": "#b3362c"}
_SHADOW = {"relay": "#a9cfa7", "rewrite": "#a4bfdf", "quarantine": "#f0c98a", "reject": "#e29a93"}


def colour(action: str) -> str:
    if action.startswith("would-"):
        return _SHADOW.get(action[6:], "#bbbbbb")
    return _COLOURS.get(action, "#888888")


def _every_day(days: list[dict[str, Any]], span: int) -> list[dict[str, Any]]:
    """The last ``span`` UTC days up to today, oldest first; days without decisions are empty."""
    known = {d["day"]: d for d in days}
    today = datetime.now(UTC).date()
    out = []
    for back in range(span - 1, -1, -1):
        key = (today - timedelta(days=back)).isoformat()
        out.append(known.get(key, {"day": key, "actions": {}, "rules": {}}))
    return out


def decisions_chart(days: list[dict[str, Any]], actions: list[str], *, span: int = 14, width: int = 720,
                    height: int = 220) -> str:
    """Decisions per day as stacked bars, oldest day on the left, with a legend; an ``<svg>``
    element (text escaped) to place in a page."""
    ordered = _every_day(days, span)
    left, bottom, top = 40, 36, 24
    plot_h = height - bottom - top
    peak = max((sum(d["actions"].values()) for d in ordered), default=0) or 1
    slot = (width - left - 8) / max(len(ordered), 1)
    bar = max(min(slot * 0.7, 40), 2)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
           f'class="chart" id="decisions-chart" aria-label="Decisions per day">',
           f'<title>Decisions per day, by action (highest day: {peak})</title>']
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 4}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#555">'
                   f'{round(peak * frac)}</text>')
    for i, day in enumerate(ordered):
        x = left + i * slot + (slot - bar) / 2
        y = float(top + plot_h)
        for action in actions:
            count = int(day["actions"].get(action, 0))
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour(action)}" '
                       f'data-action="{escape(action)}" data-day="{escape(day["day"])}" data-count="{count}">'
                       f'<title>{escape(day["day"])}: {count} {escape(action)}</title></rect>')
        out.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" font-size="10" '
                   f'fill="#555">{escape(day["day"][5:])}</text>')
    lx = left
    for action in actions:
        out.append(f'<rect x="{lx}" y="4" width="10" height="10" fill="{colour(action)}"/>'
                   f'<text x="{lx + 14}" y="13" font-size="11" fill="#333">{escape(action)}</text>')
        lx += 14 + 7 * len(action) + 16
    if not any(d["actions"] for d in ordered):
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#777">No decisions yet.</text>')
    out.append("</svg>")
    return "".join(out)
