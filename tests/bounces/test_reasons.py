"""Reason classification from status codes and diagnostic wording (policies/bounces/reasons.toml)."""

from __future__ import annotations

import pytest

from gateway.bounces.reasons import classify, find_status, smtp_command, status_for


@pytest.mark.parametrize(("status", "diagnostic", "reason"), [
    ("5.1.1", "550 5.1.1 <a@b>: Recipient address rejected: User unknown", "userunknown"),
    ("5.2.2", "552 5.2.2 Mailbox full", "mailboxfull"),
    ("5.2.3", "552 5.2.3 Message size exceeds fixed maximum message size", "exceedlimit"),
    ("5.7.26", "550 5.7.26 Unauthenticated email is not accepted", "authfailure"),
    (None, "550 Unknown user a@b (in reply to end of DATA command)", "filtered"),
    (None, "550 Unknown user a@b (in reply to RCPT TO command)", "userunknown"),
    ("5.0.0", "554 5.7.1 <a@b>: Relay access denied", "norelaying"),
    (None, "Connected to 192.0.2.1 but my name was rejected.", "blocked"),
    ("4.4.7", "", "expired"),
    ("2.1.5", "250 2.1.5 Ok", "delivered"),
    (None, "", "undefined"),
])
def test_classify(status: str | None, diagnostic: str, reason: str) -> None:
    assert classify(status, diagnostic) == reason


def test_vendor_hint_wins() -> None:
    assert classify("5.1.1", "550 5.1.1 user unknown", hint="rejected") == "rejected"


def test_delayed_action_without_wording_is_expired() -> None:
    assert classify(None, "", action="delayed") == "expired"


def test_find_status_prefers_the_code_after_the_reply() -> None:
    assert find_status("5.1.0 - Unknown address error 550-'5.7.1 <x@y>... Access denied'") == "5.7.1"
    assert find_status("host 192.0.2.1 said: 550 5.2.2 full") == "5.2.2"
    assert find_status("version 1.2.3.4 nothing here") is None


def test_smtp_command() -> None:
    assert smtp_command("SMTP error from remote mail server after RCPT TO:<a@b>:") == "RCPT"
    assert smtp_command("(in reply to end of DATA command)") == "DATA"
    assert smtp_command("no command") is None


def test_status_for_pseudo_codes() -> None:
    assert status_for("userunknown", None) == "5.0.911"
    assert status_for("expired", None, temporary=True) == "4.0.947"
    assert status_for("userunknown", "5.1.1") == "5.1.1"
