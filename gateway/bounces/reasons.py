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

from gateway.datafiles import shipped_bounce_wording

# The wording folder in use: the shipped one unless [bounces] wording_dir says otherwise.
POLICY_DIR = shipped_bounce_wording()

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


Rule = tuple[str, tuple[str, ...], tuple[re.Pattern[str], ...], bool]


@dataclass(frozen=True, slots=True)
class ReasonRules:
    early: tuple[Rule, ...]
    classes: tuple[Rule, ...]
    status: dict[str, str]
    firm: frozenset[str]


def use_wording_dir(folder: Path) -> None:
    """Read the bounce wording (these rules, Amazon's notices, DSN markers, vendor hints) from
    ``folder`` from now on; the next parse reads the files afresh."""
    global POLICY_DIR
    from gateway.bounces import amazon, dsn, vendors

    POLICY_DIR = folder
    for cached in (rules, amazon.rules, dsn.markers, vendors.hints):
        cached.cache_clear()


def load_all() -> None:
    """Read every wording file now (start-up), so a broken one fails here, not as "not-bounce"."""
    from gateway.bounces import amazon, dsn, vendors

    rules()
    amazon.rules()
    dsn.markers()
    vendors.hints()


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@cache
def rules(path: Path | None = None) -> ReasonRules:
    data = tomllib.loads((path or POLICY_DIR / "reasons.toml").read_text(encoding="utf-8"))
    early: list[Rule] = []
    classes: list[Rule] = []
    for entry in data["reason"]:
        phrases = tuple(_norm(p) for p in entry.get("phrases", []))
        patterns = tuple(re.compile(p, re.I) for p in entry.get("patterns", []))
        rule = (str(entry["name"]), phrases, patterns, bool(entry.get("ambiguous")))
        (early if entry.get("early") else classes).append(rule)
    return ReasonRules(early=tuple(early), classes=tuple(classes),
                       status={str(k): str(v) for k, v in data["status"].items()},
                       firm=frozenset(data.get("firm", {}).get("reasons", [])))


_STATUS_AFTER_REPLY = re.compile(r"\b[245]\d\d[ -]'?#?([245])\.(\d{1,3})\.(\d{1,3})\b")


def find_status(text: str) -> str | None:
    """The enhanced status code in a diagnostic; one that follows a reply code is preferred."""
    m = _STATUS_AFTER_REPLY.search(text) or STATUS_RE.search(text)
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}" if m else None


def find_reply(text: str) -> str | None:
    m = REPLY_RE.search(text)
    return m.group(1) if m else None


_COMMANDS = (
    (re.compile(r"in reply to (?:the )?(rcpt to|mail from|end of data|data|helo|ehlo)", re.I), 1),
    (re.compile(r"after (rcpt to|mail from|end of data|data|helo|ehlo)", re.I), 1),
    (re.compile(r"did not like our (rcpt to|mail from|data|helo|ehlo)", re.I), 1),
    (re.compile(r">>> (rcpt to|mail from|data|helo|ehlo)", re.I), 1),
    (re.compile(r"\((rcpt to|mail from|data)\)", re.I), 1),
    (re.compile(r"for (text) command", re.I), 1),
    (re.compile(r"most progress was (rcpt to) response", re.I), 1),
)


def smtp_command(text: str) -> str | None:
    """The SMTP command the remote server answered with the error, when the report says."""
    for pattern, group in _COMMANDS:
        m = pattern.search(text)
        if m is not None:
            word = m.group(group).lower()
            return {"rcpt to": "RCPT", "mail from": "MAIL", "end of data": "DATA", "data": "DATA",
                    "text": "DATA", "helo": "HELO", "ehlo": "HELO"}[word]
    return None


def _find(rules_: tuple[Rule, ...], t: str) -> Rule | None:
    for rule in rules_:
        _, phrases, patterns, _ = rule
        if any(p in t for p in phrases) or any(p.search(t) for p in patterns):
            return rule
    return None


def _match(rules_: tuple[Rule, ...], t: str) -> str | None:
    rule = _find(rules_, t)
    return rule[0] if rule else None


def reason_from_text(text: str) -> str | None:
    t = _norm(text)
    if not t:
        return None
    r = rules()
    return _match(r.early, t) or _match(r.classes, t)


def reason_from_status(status: str | None) -> str | None:
    if not status:
        return None
    table = rules().status
    _, subject, detail = status.split(".")
    for key in (status, f"x.{subject}.{detail}", f"{status[0]}.{subject}", f"x.{subject}"):
        if key in table:
            return table[key]
    return None


def classify(status: str | None, diagnostic: str, action: str = "", hint: str | None = None,
             dtype: str = "", vague: bool = False, context: str = "") -> str:
    """The reason for one recipient.

    ``hint`` is a vendor's own verdict. ``vague`` says the diagnostic is the report's general text,
    not what a server said about this recipient: then no wording at all means "undefined".
    ``context`` is further report text about the recipient, read only for the SMTP command.
    """
    if (status and status.startswith("2.")) or action.lower() in ("delivered", "relayed", "expanded"):
        return "delivered"
    if hint:
        return hint
    r = rules()
    t = _norm(diagnostic)
    found = _match(r.early, t) if t else None
    if found:
        return found
    by_status = reason_from_status(status)
    if by_status in r.firm:
        return by_status
    rule = _find(r.classes, t) if t else None
    found = rule[0] if rule else None
    if found == "userunknown" and rule is not None:
        # Sisimai's distinction: "no such user" after DATA is a content filter speaking (filtered),
        # unless the status code itself says the mailbox does not exist.
        command = smtp_command(diagnostic) or smtp_command(context)
        if command in ("MAIL", "HELO"):
            found = _match(tuple(c for c in r.classes if c[0] != "userunknown"), t)
        elif rule[3] and by_status != "userunknown" and command != "RCPT":
            found = "filtered"
    if found:
        return found
    if by_status and by_status != "syntaxerror":
        return by_status
    if dtype == "x-unix":
        return "mailererror"
    reply = find_reply(diagnostic)
    if by_status == "syntaxerror" or reply in ("500", "501", "502", "503", "504"):
        return "syntaxerror"
    if action.lower() in ("delayed", "expired"):
        return "expired"
    if smtp_command(diagnostic) == "HELO":
        return "blocked"
    return "onhold" if t and not vague else "undefined"


def status_for(reason: str, status: str | None, temporary: bool = False) -> str:
    """The status code to report: the bounce's own, else a pseudo code for the reason."""
    if status:
        return status
    if reason == "delivered":
        return "2.0.0"
    if reason in ("feedback", "vacation"):
        return ""
    return f"{'4' if temporary else '5'}.0.{PSEUDO_STATUS.get(reason, '900')}"
