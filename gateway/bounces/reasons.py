"""From a status code and diagnostic text to a reason in Sisimai's vocabulary.

The wording, the status-code table and the precedence between classes are data in
``policies/bounces/reasons.toml`` (its header explains the order of evidence); this module only
walks that order. Everything here is pure and linear in the length of the text: substring tests on
a bounded, normalised copy of the diagnostic.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from gateway.bounces.phrases import PhraseIndex
from gateway.datafiles import shipped_bounce_wording

# The wording folder in use: the shipped one unless [bounces] wording_dir says otherwise (set by
# gateway.bounces.wording.use_wording_dir, which also drops what was read from the old one).
POLICY_DIR = shipped_bounce_wording()

STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
REPLY_RE = re.compile(r"(?<![\d.-])([245][0-5]\d)(?=[ -]|$)")
# Diagnostics longer than this are a report's general text: the wording that matters comes first.
MAX_TEXT = 8192

# Pseudo status codes for bounces that carry none, as Sisimai writes them (5.0.9xx).
PSEUDO_STATUS = {
    "undefined": "900", "rejected": "918", "filtered": "910", "userunknown": "911", "hostunknown": "912",
    "hasmoved": "916", "suspend": "921", "mailboxfull": "922", "exceedlimit": "923", "systemfull": "931",
    "notaccept": "932", "mesgtoobig": "934", "systemerror": "930", "mailererror": "939",
    "networkerror": "944", "toomanyconn": "945", "speeding": "946", "expired": "947", "norelaying": "910",
    "securityerror": "970", "spamdetected": "980", "virusdetected": "980", "policyviolation": "971",
    "contenterror": "960", "blocked": "971", "authfailure": "972", "requireptr": "973",
    "notcompliantrfc": "974", "badreputation": "975", "syntaxerror": "902", "onhold": "901",
}


@lru_cache(maxsize=64)
def _norm(text: str) -> str:
    """Lower-cased, white space runs as one space (the same diagnostic is asked about in turn by the
    vendor, remote-host and class verdicts: the last few are kept)."""
    return " ".join(text.lower().split())


@dataclass(frozen=True, slots=True)
class Wording:
    """What one class (or one lead rule) is called in bounce text."""

    name: str
    words: tuple[str, ...] = ()
    ordered: tuple[tuple[str, ...], ...] = ()
    unless: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    word_key: str = ""
    """Its key in the rules' phrase index for ``words`` (``w:NAME``), for ``unless`` (``u:NAME``) and
    for each fragment of each ordered entry (``o:NAME:I:J``), made once when the rules are read."""
    unless_key: str = ""
    fragment_keys: tuple[tuple[str, ...], ...] = ()
    saying_keys: frozenset[str] = frozenset()
    """``word_key`` and every fragment key: a text whose index hits include none of them can only
    say this wording through a pattern."""

    def says(self, t: str, found: set[str] | frozenset[str] | None = None) -> bool:
        """Whether normalised text ``t`` carries this wording; ``found`` is what the rules' phrase
        index found in ``t`` (see ``ReasonRules.index``), saving a substring scan per phrase; an
        ordered entry is followed through ``t`` only when every one of its fragments was found."""
        if found is None:
            if self.unless and any(u in t for u in self.unless):
                return False
            if any(w in t for w in self.words):
                return True
            entries: range | list[int] = range(len(self.ordered))
        else:
            if found.isdisjoint(self.saying_keys):
                return bool(self.patterns) and not (self.unless and self.unless_key in found) and any(
                    p.search(t) for p in self.patterns)
            if self.unless and self.unless_key in found:
                return False
            if self.word_key in found:
                return True
            entries = [i for i, keys in enumerate(self.fragment_keys) if all(k in found for k in keys)]
        for i in entries:
            pos = 0
            for f in self.ordered[i]:
                pos = t.find(f, pos)
                if pos < 0:
                    break
                pos += len(f)
            else:
                return True
        return any(p.search(t) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class Condition:
    """When the decide pass accepts a class (see the field list in reasons.toml)."""

    needs_status: bool = False
    by_status: bool = False
    status_yields_to: tuple[str, ...] = ()
    status_needs_words: bool = False
    by_reply: tuple[str, ...] = ()
    not_if_status: tuple[str, ...] = ()
    not_if_code: tuple[str, ...] = ()
    not_after: tuple[str, ...] = ()
    words_only_after: tuple[str, ...] = ()
    or_words_if_status: tuple[str, ...] = ()
    also_words_of: tuple[str, ...] = ()
    not_if_status_after: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ReasonRules:
    index: PhraseIndex
    """Every class's and lead rule's words (key ``w:NAME``) and unless-words (``u:NAME``)."""
    classes: dict[str, Wording]
    conditions: dict[str, Condition]
    lead: tuple[Wording, ...]
    lead_names: tuple[str, ...]
    """The class each lead rule names (a lead rule's own name is its position)."""
    decide: tuple[str, ...]
    wording: tuple[str, ...]
    tentative: frozenset[str]
    vacation: tuple[str, ...]
    status: dict[str, str]
    owners: dict[str, str]
    """Index key -> the wording (class name or ``lead:N``) whose words or fragments it stands for."""
    with_patterns: frozenset[str]
    """Wordings that can say something through a pattern, whatever the index found."""

    def may_say(self, found: set[str] | frozenset[str]) -> frozenset[str]:
        """The wordings that can say something in a text whose index hits are ``found``; the others
        need not be asked (``Wording.says`` would answer False)."""
        return self.with_patterns.union(self.owners[k] for k in found if k in self.owners)


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value or ()))


def _wording(name: str, entry: dict[str, Any]) -> Wording:
    ordered = tuple(tuple(f.lower() for f in _strs(o)) for o in entry.get("ordered", []))
    fragment_keys = tuple(tuple(f"o:{name}:{i}:{j}" for j in range(len(o))) for i, o in enumerate(ordered))
    return Wording(name=name, words=tuple(_norm(w) if w.strip() else w.lower() for w in _strs(entry.get("words"))),
                   ordered=ordered, unless=tuple(_norm(w) for w in _strs(entry.get("unless_words"))),
                   patterns=tuple(re.compile(p, re.I) for p in _strs(entry.get("patterns"))),
                   word_key=f"w:{name}", unless_key=f"u:{name}",
                   fragment_keys=fragment_keys,
                   saying_keys=frozenset({f"w:{name}", *(k for keys in fragment_keys for k in keys)}))


_CONDITION_FIELDS = frozenset(Condition.__dataclass_fields__)


def load_rules(path: Path) -> ReasonRules:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    classes: dict[str, Wording] = {}
    conditions: dict[str, Condition] = {}
    for name, entry in data["class"].items():
        classes[name] = _wording(name, entry)
        kwargs: dict[str, Any] = {}
        for key, value in entry.items():
            if key == "not_if_status_after":
                kwargs[key] = tuple((str(a), str(b)) for a, b in value)
            elif key in _CONDITION_FIELDS:
                kwargs[key] = value if isinstance(value, bool) else _strs(value)
        conditions[name] = Condition(**kwargs)
    prec = data["precedence"]
    for name in (*prec["decide"], *prec["wording"]):
        if name not in classes:
            raise ValueError(f"{path}: precedence names {name!r}, which has no [class.{name}] table")
    lead = tuple(_wording(f"lead:{i}", e) for i, e in enumerate(data.get("lead", [])))
    lead_names = tuple(str(e["name"]) for e in data.get("lead", []))
    every = (*classes.values(), *lead)
    index = PhraseIndex([(w, c.word_key) for c in every for w in c.words]
                        + [(u, c.unless_key) for c in every for u in c.unless]
                        + [(f, key) for c in every for o, keys in zip(c.ordered, c.fragment_keys, strict=True)
                           for f, key in zip(o, keys, strict=True)])
    return ReasonRules(index=index, classes=classes, conditions=conditions, lead=lead, lead_names=lead_names,
                       decide=_strs(prec["decide"]), wording=_strs(prec["wording"]),
                       tentative=frozenset(_strs(prec["tentative"])),
                       vacation=tuple(_norm(v) for v in _strs(prec.get("vacation"))),
                       status={str(k): str(v) for k, v in data["status"].items()},
                       owners={k: c.name for c in every for k in c.saying_keys},
                       with_patterns=frozenset(c.name for c in every if c.patterns))


@cache
def rules() -> ReasonRules:
    return load_rules(POLICY_DIR / "reasons.toml")


_STATUS_AFTER_REPLY = re.compile(r"\b[245]\d\d[ -]'?#?([245])\.(\d{1,3})\.(\d{1,3})\b")


def find_status(text: str) -> str | None:
    """The enhanced status code in a diagnostic; one that follows a reply code is preferred."""
    m = _STATUS_AFTER_REPLY.search(text) or STATUS_RE.search(text)
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}" if m else None


_TRANSCRIPT_MARK = re.compile(r"(?m)^[ \t]*<<<[ \t]?")


def clean_reply(text: str) -> str:
    """A multi-line SMTP reply read as one sentence: transcript marks and the repeated
    ``550-5.7.1`` continuation prefixes removed, the code kept once in front."""
    text = _TRANSCRIPT_MARK.sub("", text[:MAX_TEXT])
    reply = find_reply(text)
    if reply is None or f"{reply}-" not in text:
        return text
    status = find_status(text) or ""
    cleaned = text
    for joint in ("-", " "):
        if status:
            cleaned = cleaned.replace(f"{reply}{joint}{status} ", " ").replace(f"{reply}{joint}{status}", " ")
        cleaned = cleaned.replace(f"{reply}{joint}", " ") if joint == "-" else cleaned
    return f"{reply} {status} {' '.join(cleaned.split())}".replace("  ", " ")


def find_reply(text: str) -> str | None:
    m = REPLY_RE.search(text)
    return m.group(1) if m else None


# Each pattern with a piece of text every match of it contains: a pattern is only tried on a text
# that has its piece (most diagnostics name no command, and eleven searches per text added up).
_COMMANDS = (
    (re.compile(r"in reply to (?:the )?(rcpt to|mail from|end of data|data|helo|ehlo)", re.I), "in reply to "),
    (re.compile(r"after (rcpt to|mail from|end of data|data|helo|ehlo|initial connection)", re.I), "after "),
    (re.compile(r"did not like our (rcpt to|mail from|data|helo|ehlo)", re.I), "did not like our "),
    (re.compile(r">>> (rcpt to|mail from|data|helo|ehlo)", re.I), ">>> "),
    (re.compile(r"\((rcpt to|mail from|data)\)", re.I), ")"),
    (re.compile(r"for (text) command", re.I), "for text command"),
    (re.compile(r"most progress was (rcpt to) response", re.I), "most progress was rcpt to response"),
    (re.compile(r"after (rcpt|mail|data|helo|ehlo)(?: to| from)? command", re.I), "after "),
    (re.compile(r"\bsmtp:(rcpt|mail|data|helo|ehlo)\b", re.I), "smtp:"),
    (re.compile(r"\[(rcpt_to|mail_from|data)\]", re.I), "]"),
    (re.compile(r"(unknown recipient or mailbox unavailable) ->", re.I), "unknown recipient or mailbox unavailable ->"),
)
_COMMAND_NAMES = {"rcpt to": "RCPT", "mail from": "MAIL", "end of data": "DATA", "data": "DATA",
                  "text": "DATA", "helo": "HELO", "ehlo": "EHLO", "initial connection": "CONN",
                  "rcpt": "RCPT", "mail": "MAIL", "rcpt_to": "RCPT", "mail_from": "MAIL",
                  "unknown recipient or mailbox unavailable": "RCPT"}


def smtp_command(text: str) -> str | None:
    """The SMTP command the remote server answered with the error, when the report says."""
    text = text[:MAX_TEXT]
    lowered = text.lower()
    for pattern, piece in _COMMANDS:
        if piece not in lowered:
            continue
        m = pattern.search(text)
        if m is not None:
            return _COMMAND_NAMES[m.group(1).lower()]
    return None


def status_class(status: str | None) -> str:
    """The class a status code names by itself ("" for none, e.g. x.0.0)."""
    return rules().status.get(status or "", "")


def reason_from_text(text: str) -> str | None:
    """The first class whose wording occurs in ``text``: lead rules, then decide and wording order."""
    t = _norm(text[:MAX_TEXT])
    if not t:
        return None
    r = rules()
    found = r.index.keys_in(t)
    may = r.may_say(found)
    if not may:
        return None
    for lead, name in zip(r.lead, r.lead_names, strict=True):
        if lead.name in may and lead.says(t, found):
            return name
    for name in (*r.decide, *r.wording):
        if name in may and r.classes[name].says(t, found):
            return name
    return None


def says_no_such_mailbox(diagnostic: str) -> bool:
    """Whether a server's text says the recipient's mailbox does not exist ("user unknown", "no such
    user", "Benutzer unbekannt"), and not in answer to DATA (after DATA the address had been taken:
    there the words are a filter's, as Japanese carriers write them).

    Sisimai's reason vocabulary calls such text "filtered" unless the report shows it answered RCPT;
    a bounce that gives neither a status code nor the command still says the address is gone."""
    t = _norm(diagnostic[:MAX_TEXT])
    if not t:
        return False
    r = rules()
    found = r.index.keys_in(t)
    if smtp_command(diagnostic) == "DATA":
        return False
    if r.classes["userunknown"].says(t, found):
        return True
    return any(name == "userunknown" and lead.says(t, found)
               for lead, name in zip(r.lead, r.lead_names, strict=True))


def _accepts(r: ReasonRules, name: str, t: str, found: frozenset[str], status: str | None, named: str,
             reply: str | None, command: str | None, preset: str | None) -> bool:
    """The decide pass's question to one class (``preset``: a vendor's tentative verdict)."""
    c = r.conditions[name]
    if c.needs_status and not status:
        return False
    if preset == name:
        return True
    if (named and named in c.not_if_status) or (status and status in c.not_if_code):
        return False
    if reply and reply in c.by_reply:
        return True
    wording = r.classes[name]

    def says() -> bool:
        return wording.says(t, found) or any(r.classes[o].says(t, found) for o in c.also_words_of)

    if c.by_status and named == name:
        if any(r.classes[y].says(t, found) for y in c.status_yields_to):
            return False
        return says() if c.status_needs_words else True
    if command and command in c.not_after:
        return False
    if any(named == st and command == cmd for st, cmd in c.not_if_status_after):
        return False
    if c.words_only_after and command not in c.words_only_after and named not in c.or_words_if_status:
        return False
    if not c.words_only_after and c.or_words_if_status and named not in c.or_words_if_status:
        return False
    return says()


def classify(status: str | None, diagnostic: str, action: str = "", hint: str | None = None,
             dtype: str = "", vague: bool = False, context: str = "") -> str:
    """The reason for one recipient.

    ``hint`` is a vendor's own verdict (final unless its class is tentative). ``vague`` says the
    diagnostic is the report's general text, not what a server said about this recipient: then no
    wording at all means "undefined". ``context`` is further report text about the recipient, read
    only for the SMTP command. ``dtype`` is the Diagnostic-Code type (smtp, x-unix, ...).
    """
    r = rules()
    if hint and hint not in r.tentative:
        return hint
    if (status and status.startswith("2.")) or action.lower() in ("delivered", "relayed", "expanded"):
        return "delivered"
    t = _norm(diagnostic[:MAX_TEXT])
    found = r.index.keys_in(t)
    may = r.may_say(found)
    for lead, lead_name in zip(r.lead, r.lead_names, strict=True):
        if lead.name in may and lead.says(t, found):
            return lead_name
    named = status_class(status)
    reply = find_reply(diagnostic[:MAX_TEXT])
    command = smtp_command(diagnostic) or smtp_command(context)
    dtype = dtype.lower()
    if dtype in ("smtp", ""):
        for name in r.decide:
            if _accepts(r, name, t, found, status, named, reply, command, hint):
                return name
    if hint:
        return hint
    if named and named not in r.tentative and dtype in ("smtp", ""):
        return named
    for name in r.wording:
        if name in may and r.classes[name].says(t, found):
            return name
    if named:
        return named
    fallback = _fallback(status, dtype, reply, action, command)
    if fallback:
        return fallback
    if any(v in t for v in r.vacation):
        return "vacation"
    return "onhold" if t and not vague else "undefined"


def _fallback(status: str | None, dtype: str, reply: str | None, action: str, command: str | None) -> str:
    if status and status[1:4] == ".6.":
        return "contenterror"
    if status and status[1:4] == ".7.":
        return "securityerror"
    if dtype.startswith("x-unix"):
        return "mailererror"
    if reply and (401 <= int(reply) <= 407 or 501 <= int(reply) <= 507):
        return "syntaxerror"
    if action.lower() in ("delayed", "expired"):
        return "expired"
    if command in ("HELO", "EHLO"):
        return "blocked"
    return ""


def status_for(reason: str, status: str | None, temporary: bool = False) -> str:
    """The status code to report: the bounce's own, else a pseudo code for the reason."""
    if status:
        return status
    if reason == "delivered":
        return "2.0.0"
    if reason in ("feedback", "vacation"):
        return ""
    return f"{'4' if temporary else '5'}.0.{PSEUDO_STATUS.get(reason, '900')}"
