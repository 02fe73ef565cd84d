"""Verdicts of the software that wrote a report (vendors.toml) and of remote hosts (rhosts.toml).

Both are data: which vendor or provider a report comes from is decided by markers in the files,
and what its wording or codes mean is a table there. Every test here is a substring test or one
anchored, bounded regular expression over a bounded diagnostic, so the cost stays linear.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import gateway.bounces.reasons as reasons
from gateway.bounces.phrases import PhraseIndex
from gateway.bounces.reasons import MAX_TEXT, _norm, status_class
from gateway.message.report import ReportContent

# How much of a report's own text is searched for a vendor's markers.
DETECT_TEXT = 16384


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value or ()))


@dataclass(frozen=True, slots=True)
class StatusRule:
    """A status code or a range of its last number, e.g. 5.7.606-649."""

    reason: str
    prefix: str
    low: int
    high: int

    @classmethod
    def parse(cls, reason: str, code: str) -> StatusRule:
        head, _, last = code.rpartition(".")
        low, _, high = last.partition("-")
        return cls(reason, f"{head}.", int(low), int(high or low))

    def matches(self, status: str, any_class: bool = False) -> bool:
        head, _, last = status.rpartition(".")
        if any_class:
            if head[1:] + "." != self.prefix[1:]:
                return False
        elif head + "." != self.prefix:
            return False
        return last.isdigit() and self.low <= int(last) <= self.high


@dataclass(frozen=True, slots=True)
class Vendor:
    name: str
    detect_from: tuple[str, ...]
    detect_subject: tuple[str, ...]
    detect_text: tuple[str, ...]
    detect_header: tuple[tuple[str, str], ...]
    say: tuple[tuple[str, tuple[str, ...]], ...]
    status: tuple[StatusRule, ...]
    field: str
    fields: dict[str, str]
    state: dict[str, str]
    always: bool
    """No detect_* markers: the table applies to every report."""
    say_words: frozenset[str] = frozenset()
    """Every phrase of ``say``: a text with none of them needs no look at the rows."""


def _vendor(entry: dict[str, Any]) -> Vendor:
    headers: list[tuple[str, str]] = []
    for h in _strs(entry.get("detect_header")):
        name, _, value = h.partition(":")
        headers.append((name.strip().lower(), value.strip().lower()))
    say: list[tuple[str, tuple[str, ...]]] = [(str(row[0]), (_norm(str(row[1])),)) for row in entry.get("say", [])]
    say += [(str(row[0]), tuple(_norm(str(w)) for w in row[1:])) for row in entry.get("say_all", [])]
    return Vendor(
        name=str(entry["name"]),
        detect_from=tuple(s.lower() for s in _strs(entry.get("detect_from"))),
        detect_subject=tuple(s.lower() for s in _strs(entry.get("detect_subject"))),
        detect_text=tuple(_norm(s) for s in _strs(entry.get("detect_text"))),
        detect_header=tuple(headers),
        say=tuple(say),
        status=tuple(StatusRule.parse(str(r), str(c)) for r, c in entry.get("status", [])),
        field=str(entry.get("field", "")).lower(),
        fields={str(k).lower(): str(v) for k, v in (entry.get("fields") or {}).items()},
        state={str(k): str(v) for k, v in (entry.get("state") or {}).items()},
        always=not any(entry.get(k) for k in ("detect_from", "detect_subject", "detect_text", "detect_header")),
        say_words=frozenset(w for _, row in say for w in row),
    )


@cache
def vendors(path: Path | None = None) -> tuple[Vendor, ...]:
    data = tomllib.loads((path or reasons.POLICY_DIR / "vendors.toml").read_text(encoding="utf-8"))
    return tuple(_vendor(e) for e in data["vendor"])


@cache
def _say_index() -> PhraseIndex:
    """Every vendor's and remote host's wording, keyed by the phrase itself."""
    words = [w for v in vendors() for _, row in v.say for w in row]
    words += [rule.wording for host in remote_hosts() for rule in host.say]
    return PhraseIndex((w, w) for w in words)


@dataclass(frozen=True, slots=True)
class _Detection:
    """Every vendor's detect_* markers as phrase indexes keyed by the vendor's position."""

    senders: PhraseIndex
    subjects: PhraseIndex
    texts: PhraseIndex
    headers: tuple[tuple[int, str, str], ...]
    always: frozenset[int]


@cache
def _detection() -> _Detection:
    table = vendors()
    return _Detection(
        senders=PhraseIndex((f, str(i)) for i, v in enumerate(table) for f in v.detect_from),
        subjects=PhraseIndex((f, str(i)) for i, v in enumerate(table) for f in v.detect_subject),
        texts=PhraseIndex((f, str(i)) for i, v in enumerate(table) for f in v.detect_text),
        headers=tuple((i, n, want) for i, v in enumerate(table) for n, want in v.detect_header),
        always=frozenset(i for i, v in enumerate(table) if v.always))


def vendors_of(mail: ReportContent) -> tuple[Vendor, ...]:
    """The vendor tables that apply to this report, in the order of vendors.toml: one pass over the
    sender, the subject and the start of the text finds every vendor's markers."""
    d = _detection()
    hits = {int(k) for k in d.senders.keys_in(mail.from_.lower()) | d.subjects.keys_in(mail.subject.lower())}
    hits |= d.always
    if d.headers:
        names = mail.header_names()
        hits.update(i for i, n, want in d.headers if n in names and (not want or want in mail.header(n).lower()))
    hits.update(int(k) for k in d.texts.keys_in(_norm(mail.text[:DETECT_TEXT])))
    return tuple(v for i, v in enumerate(vendors()) if i in hits)


_STATE = re.compile(r"\(state (\d{1,2})\)")


def vendor_verdict(applicable: tuple[Vendor, ...], diagnostic: str, status: str | None = None,
                   fields: dict[str, str] | None = None) -> str | None:
    """The first vendor verdict on what a server said about one recipient."""
    t = _norm(diagnostic[:MAX_TEXT])
    said = _say_index().keys_in(t)
    for v in applicable:
        if v.field and fields and (value := fields.get(v.field, "").strip().lower()):
            found = v.fields.get(value.split()[0] if value.split() else value)
            if found:
                return found
        if said and not said.isdisjoint(v.say_words):
            for reason, words in v.say:
                if all(w in said for w in words):
                    return reason
        if status:
            for rule in v.status:
                if rule.matches(status):
                    return rule.reason
        if v.state and (m := _STATE.search(t)) is not None and m.group(1) in v.state:
            # A specific status code in the same text outranks the state number.
            if status and ".0" not in status[1:]:
                return status_class(status) or None
            return v.state[m.group(1)]
    return None


@dataclass(frozen=True, slots=True)
class SayRule:
    reason: str
    status: StatusRule | None
    reply: str
    wording: str


@dataclass(frozen=True, slots=True)
class RemoteHost:
    name: str
    hosts: tuple[str, ...]
    any_class: bool
    code_pattern: re.Pattern[str] | None
    codes: dict[str, str]
    code_ranges: tuple[tuple[int, int, str], ...]
    say: tuple[SayRule, ...]

    def serves(self, rhost: str, domain: str, text: str) -> bool:
        where = rhost or text
        return any(h in where for h in self.hosts) or (bool(domain) and any(domain in h for h in self.hosts))


def _rhost(name: str, entry: dict[str, Any]) -> RemoteHost:
    say: list[SayRule] = []
    for reason, status, reply, wording in entry.get("say", []):
        say.append(SayRule(str(reason), StatusRule.parse(str(reason), str(status)) if status else None,
                           str(reply), _norm(str(wording))))
    pattern = entry.get("code_pattern")
    return RemoteHost(name=name, hosts=tuple(h.lower() for h in _strs(entry.get("hosts"))),
                      any_class=bool(entry.get("any_class")),
                      code_pattern=re.compile(str(pattern), re.I) if pattern else None,
                      codes={str(k).upper(): str(v) for k, v in (entry.get("codes") or {}).items()},
                      code_ranges=tuple((int(a), int(b), str(c)) for a, b, c in entry.get("code_ranges", [])),
                      say=tuple(say))


@cache
def remote_hosts(path: Path | None = None) -> tuple[RemoteHost, ...]:
    data = tomllib.loads((path or reasons.POLICY_DIR / "rhosts.toml").read_text(encoding="utf-8"))
    return tuple(_rhost(k, v) for k, v in data["rhost"].items())


def rhost_verdict(rhost: str, domain: str, diagnostic: str, status: str | None,
                  reply: str | None) -> str | None:
    """A provider's verdict on its own error text, for mail to (or through) its hosts."""
    rhost, domain = rhost.lower(), domain.lower()
    if not diagnostic:
        return None
    head = diagnostic[:MAX_TEXT]
    t = _norm(head)
    said: frozenset[str] | None = None
    for host in remote_hosts():
        if not host.serves(rhost, domain, t):
            continue
        if host.code_pattern is not None and (m := host.code_pattern.search(head)) is not None:
            code = m.group(1).upper()
            if code in host.codes:
                return host.codes[code]
            if code.isdigit():
                n = int(code)
                for first, last, reason in host.code_ranges:
                    if n == first or (last and first <= n <= last):
                        return reason
        if said is None:
            said = _say_index().keys_in(t)
        for rule in host.say:
            if rule.wording not in said:
                continue
            if rule.status is not None and not (status and rule.status.matches(status, host.any_class)):
                continue
            if rule.reply and not (reply and (reply[1:] == rule.reply[1:] if host.any_class
                                              else reply == rule.reply)):
                continue
            return rule.reason
        return None
    return None


_HOST_SAID = re.compile(r"\bhost ([a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){1,8})\b", re.I)


def remote_host_in(remote_mta: str, diagnostic: str) -> str:
    """The remote MTA's name: a DSN's Remote-MTA field, else "host NAME" in the diagnostic."""
    value = remote_mta.partition(";")[2] if ";" in remote_mta else remote_mta
    value = value.strip().strip("[]").lower()
    if value:
        return value
    m = _HOST_SAID.search(diagnostic[:MAX_TEXT])
    return m.group(1).lower() if m else ""
