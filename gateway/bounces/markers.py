"""Wording that tells a report from ordinary mail, delimits its parts and marks a delay (markers.toml)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import gateway.bounces.reasons as reasons
from gateway.bounces.phrases import PhraseIndex
from gateway.message.report import ReportContent


@dataclass(frozen=True, slots=True)
class Markers:
    bounce_subjects: tuple[str, ...]
    report_senders: tuple[str, ...]
    original_markers: re.Pattern[str]
    delay_phrases: tuple[str, ...]
    bounce_body: tuple[str, ...]
    complaint_subjects: tuple[str, ...]
    challenge_senders: tuple[str, ...]
    unsubscribe_headers: tuple[str, ...]
    challenge_phrases: tuple[str, ...]
    delay_index: PhraseIndex
    body_index: PhraseIndex
    challenge_index: PhraseIndex


@cache
def markers() -> Markers:
    data = tomllib.loads((reasons.POLICY_DIR / "markers.toml").read_text(encoding="utf-8"))
    return Markers(
        bounce_subjects=tuple(s.lower() for s in data["bounce_subjects"]),
        report_senders=tuple(s.lower() for s in data["report_senders"]),
        original_markers=re.compile("^(?:" + "|".join(f"(?:{p})" for p in data["original_markers"]) + ")",
                                    re.I | re.M),
        delay_phrases=tuple(s.lower() for s in data["delay_phrases"]),
        bounce_body=tuple(s.lower() for s in data["bounce_body"]),
        complaint_subjects=tuple(s.lower() for s in data.get("complaint_subjects", [])),
        unsubscribe_headers=tuple(data.get("unsubscribe_headers", [])),
        challenge_senders=tuple(s.lower() for s in data.get("challenge_senders", [])),
        challenge_phrases=tuple(" ".join(s.lower().split()) for s in data.get("challenge_phrases", [])),
        delay_index=_index(s.lower() for s in data["delay_phrases"]),
        body_index=_index(s.lower() for s in data["bounce_body"]),
        challenge_index=_index(" ".join(s.lower().split()) for s in data.get("challenge_phrases", [])),
    )


def _index(phrases: Iterable[str]) -> PhraseIndex:
    return PhraseIndex((p, "") for p in phrases)


def looks_like_report(mail: ReportContent) -> bool:
    if mail.status_blocks or mail.feedback is not None or mail.content_type == "multipart/report":
        return True
    sender = mail.from_.lower()
    subject = mail.subject.lower()
    by_sender = any(s in sender for s in markers().report_senders)
    by_subject = any(s in subject for s in markers().bounce_subjects)
    null_path = (mail.header("Return-Path") or "x").strip() in ("<>", "")
    if by_subject and (by_sender or null_path):
        return True
    body = " ".join(mail.text[:4000].lower().split())
    by_body = markers().body_index.found_in(body)
    return by_body and (by_sender or by_subject or null_path)


def is_delay(text: str) -> bool:
    t = " ".join(text.lower().split())
    return markers().delay_index.found_in(t)


# How much of a message is read for the wording of a challenge or whitelist notice.
CHALLENGE_TEXT = 8192


def is_challenge(mail: ReportContent) -> bool:
    """A challenge-response or whitelist notice: the message is held until the sender confirms,
    nothing failed. A report with a failed delivery-status block is never one."""
    if any(dict(b).get("action", "").lower().startswith("failed") for b in mail.status_blocks):
        return False
    m = markers()
    sender = f"{mail.from_} {mail.header('Sender')} {mail.header('Return-Path')}".lower()
    if any(s in sender for s in m.challenge_senders):
        return True
    text = " ".join(f"{mail.subject}\n{mail.text[:CHALLENGE_TEXT]}".lower().split())
    return m.challenge_index.found_in(text)
