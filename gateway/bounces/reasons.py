"""From a status code and diagnostic text to a reason in Sisimai's vocabulary.

The phrase lists live in ``policies/bounces/reasons.toml``; this module only knows the order of
evidence: vendor-specific verdicts first, then diagnostic phrases (first matching class in file
order), then the enhanced status code, then the Action field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies" / "bounces"

STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
REPLY_RE = re.compile(r"(?<![\d.-])([245][0-5]\d)(?=[ -]|$)")

# Pseudo status codes for bounces that carry none, as Sisimai writes them (5.0.9xx).
PSEUDO_STATUS = {
    "undefined": "900", "rejected": "918", "filtered": "910", "userunknown": "911", "hostunknown": "912",
    "suspend": "921", "mailboxfull": "922", "exceedlimit": "923", "systemfull": "924", "notaccept": "932",
    "mesgtoobig": "934", "systemerror": "930", "mailererror": "939", "networkerror": "944",
    "expired": "947", "norelaying": "910", "securityerror": "970", "spamdetected": "980",
    "virusdetected": "980", "policyviolation": "971", "contenterror": "960", "blocked": "971",
    "toomanyconn": "971", "requireptr": "973", "syntaxerror": "902", "onhold": "901",
}


@dataclass(frozen=True, slots=True)
class ReasonRules:
    classes: tuple[tuple[str, tuple[str, ...], tuple[re.Pattern[str], ...]], ...]
    status: dict[str, str]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@cache
def rules(path: Path | None = None) -> ReasonRules:
    data = tomllib.loads((path or POLICY_DIR / "reasons.toml").read_text(encoding="utf-8"))
    classes = []
    for entry in data["reason"]:
        phrases = tuple(_norm(p) for p in entry.get("phrases", []))
        patterns = tuple(re.compile(p, re.I) for p in entry.get("patterns", []))
        classes.append((str(entry["name"]), phrases, patterns))
    return ReasonRules(classes=tuple(classes), status={str(k): str(v) for k, v in data["status"].items()})


def find_status(text: str) -> str | None:
    m = STATUS_RE.search(text)
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}" if m else None


def find_reply(text: str) -> str | None:
    m = REPLY_RE.search(text)
    return m.group(1) if m else None


def reason_from_text(text: str) -> str | None:
    t = _norm(text)
    if not t:
        return None
    for name, phrases, patterns in rules().classes:
        if any(p in t for p in phrases) or any(p.search(t) for p in patterns):
            return name
    return None


def reason_from_status(status: str | None) -> str | None:
    if not status:
        return None
    table = rules().status
    _, subject, detail = status.split(".")
    for key in (status, f"x.{subject}.{detail}", f"{status[0]}.{subject}", f"x.{subject}"):
        if key in table:
            return table[key]
    return None


def classify(status: str | None, diagnostic: str, action: str = "", hint: str | None = None) -> str:
    """The reason for one recipient. ``hint`` is a vendor module's own verdict, if it has one."""
    if status and status.startswith("2.") or action.lower() in ("delivered", "relayed", "expanded"):
        return "delivered"
    if hint:
        return hint
    by_text = reason_from_text(diagnostic)
    if by_text:
        return by_text
    by_status = reason_from_status(status)
    if by_status:
        return by_status
    if action.lower() in ("delayed", "expired"):
        return "expired"
    return "onhold" if diagnostic.strip() else "undefined"


def status_for(reason: str, status: str | None, temporary: bool = False) -> str:
    """The status code to report: the bounce's own, else a pseudo code for the reason."""
    if status:
        return status
    if reason == "delivered":
        return "2.0.0"
    if reason in ("feedback", "vacation"):
        return ""
    return f"{'4' if temporary else '5'}.0.{PSEUDO_STATUS.get(reason, '900')}"
