"""Reason classification from status codes and diagnostic wording (policies/bounces/reasons.toml).

One realistic diagnostic per class, the precedence between classes, and the vendor and remote-host
tables (vendors.toml, rhosts.toml) through the public parser.
"""

from __future__ import annotations

import pytest

from gateway.bounces import parse_bounce
from gateway.bounces.reasons import classify, find_status, rules, smtp_command, status_for

# (status, diagnostic, reason): at least one per class the rules define.
PER_CLASS = [
    ("5.2.2", "552 5.2.2 <a@b.example>: Mailbox full", "mailboxfull"),
    ("5.3.4", "552 5.3.4 Message size exceeds fixed limit", "mesgtoobig"),
    ("5.2.3", "552 5.2.3 Message length exceeds administrative limit", "exceedlimit"),
    ("5.0.0", "550 5.0.0 <a@b.example>: this account has been suspended", "suspend"),
    ("5.0.0", "550 5.0.0 address a@b.example has been replaced by c@d.example", "hasmoved"),
    ("5.7.1", "554 5.7.1 <a@b.example>: Relay access denied", "norelaying"),
    ("5.7.26", "550 5.7.26 Unauthenticated email is not accepted due to the sender's DMARC policy",
     "authfailure"),
    ("5.1.1", "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown in local recipient table",
     "userunknown"),
    ("5.2.0", "550 5.2.0 Message rejected due to user rules", "filtered"),
    ("5.7.25", "550 5.7.25 The IP address sending this message does not have a PTR record setup",
     "requireptr"),
    ("5.7.1", "550 5.7.1 Messages with multiple addresses in From: header are not accepted",
     "notcompliantrfc"),
    ("4.7.0", "421 4.7.0 the sending MTA's poor reputation", "badreputation"),
    ("5.1.8", "553 5.1.8 <s@x.example>... Domain of sender address s@x.example does not exist", "rejected"),
    ("5.1.2", "550 5.1.2 Host unknown (Name server: example.invalid: host not found)", "hostunknown"),
    ("5.7.1", "550 5.7.1 Message rejected as spam by Content Filtering", "spamdetected"),
    ("4.7.0", "421 4.7.0 You are sending too many messages, please slow down: too many recipients this hour",
     "speeding"),
    ("4.7.0", "421 4.7.0 Too many connections from your IP", "toomanyconn"),
    ("5.7.1", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
     "blocked"),
    ("5.7.1", "554 5.7.1 Your message was infected with a virus: Eicar-Test-Signature", "virusdetected"),
    ("5.7.1", "550 5.7.1 Email not accepted for policy reasons", "policyviolation"),
    ("4.3.0", "451 4.3.0 Local configuration error", "systemerror"),
    (None, "Host is unreachable", "networkerror"),
    ("5.6.0", "554 5.6.0 Message contains invalid header", "contenterror"),
    ("4.3.1", "452 4.3.1 Insufficient system storage", "systemfull"),
    ("5.1.10", "550 5.1.10 Recipient address has null MX", "notaccept"),
    ("4.4.7", "Delivery time expired", "expired"),
    ("5.7.0", "530 5.7.0 Must issue a STARTTLS command first", "securityerror"),
    ("5.3.0", "Command died with status 127: /usr/bin/procmail", "mailererror"),
    (None, "501 Syntax error in parameters", "syntaxerror"),
    ("2.1.5", "250 2.1.5 Ok", "delivered"),
    (None, "", "undefined"),
]


@pytest.mark.parametrize(("status", "diagnostic", "reason"), PER_CLASS,
                         ids=[f"{r}-{i}" for i, (_, _, r) in enumerate(PER_CLASS)])
def test_one_diagnostic_per_class(status: str | None, diagnostic: str, reason: str) -> None:
    assert classify(status, diagnostic) == reason


def test_every_class_of_the_rules_has_an_example() -> None:
    covered = {r for _, _, r in PER_CLASS}
    r = rules()
    assert set(r.decide) | set(r.wording) <= covered


@pytest.mark.parametrize(("status", "diagnostic", "reason"), [
    # A mailbox-level verdict outranks a filter or block phrase in the same text.
    ("5.1.1", "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown; blocked by filter",
     "userunknown"),
    ("5.2.2", "552 5.2.2 Mailbox full, message filtered and blocked", "mailboxfull"),
    # "no such user" after DATA is a content filter speaking, after RCPT the mailbox is gone.
    (None, "550 Unknown user a@b (in reply to end of DATA command)", "filtered"),
    (None, "550 Unknown user a@b (in reply to RCPT TO command)", "userunknown"),
    ("5.2.1", "550 5.2.1 <a@b.example>... User Unknown [RCPT_TO]", "userunknown"),
    # A status code that names no class (x.0.0, 5.5.0) leaves the decision to the wording.
    ("5.5.0", "550 5.5.0 Client host [192.0.2.1] blocked using zen.spamhaus.org", "blocked"),
    # A status that names a class counts unless the wording of a class it yields to matches.
    ("5.1.1", "550 5.1.1 Relay access denied", "norelaying"),
    ("5.1.2", "550 5.1.2 Host unknown: no route to host", "networkerror"),
])
def test_precedence_between_classes(status: str | None, diagnostic: str, reason: str) -> None:
    assert classify(status, diagnostic) == reason


def test_vendor_hint_wins_unless_tentative() -> None:
    assert classify("5.1.1", "550 5.1.1 user unknown", hint="rejected") == "rejected"
    # a tentative verdict (userunknown) is confirmed by the passes, a mailbox-full one outranks it
    assert classify("5.2.2", "552 5.2.2 mailbox full", hint="userunknown") == "mailboxfull"


def test_delayed_action_without_wording_is_expired() -> None:
    assert classify(None, "", action="delayed") == "expired"


def test_find_status_prefers_the_code_after_the_reply() -> None:
    assert find_status("5.1.0 - Unknown address error 550-'5.7.1 <x@y>... Access denied'") == "5.7.1"
    assert find_status("host 192.0.2.1 said: 550 5.2.2 full") == "5.2.2"
    assert find_status("version 1.2.3.4 nothing here") is None


def test_smtp_command() -> None:
    assert smtp_command("SMTP error from remote mail server after RCPT TO:<a@b>:") == "RCPT"
    assert smtp_command("(in reply to end of DATA command)") == "DATA"
    assert smtp_command("SMTP error from remote server after RCPT command: host: mx") == "RCPT"
    assert smtp_command("Technical details: SMTP:RCPT host 192.0.2.8: 553") == "RCPT"
    assert smtp_command("no command") is None


def test_status_for_pseudo_codes() -> None:
    assert status_for("userunknown", None) == "5.0.911"
    assert status_for("expired", None, temporary=True) == "4.0.947"
    assert status_for("userunknown", "5.1.1") == "5.1.1"


def _dsn(recipient: str, status: str, diagnostic: str, remote_mta: str = "") -> bytes:
    remote = f"Remote-MTA: dns; {remote_mta}\n" if remote_mta else ""
    return (f"From: MAILER-DAEMON@mx.example.net\nTo: s@example.org\nSubject: Undelivered Mail\n"
            f"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
            f"--b\nContent-Type: text/plain\n\nDelivery failed.\n\n--b\nContent-Type: message/delivery-status\n\n"
            f"Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; {recipient}\nAction: failed\n"
            f"Status: {status}\n{remote}Diagnostic-Code: smtp; {diagnostic}\n\n--b--\n").encode()


@pytest.mark.parametrize(("recipient", "status", "diagnostic", "remote", "reason"), [
    # Exchange's resolver: 5.1.10 alone reads as a null MX, RecipientNotFound says the mailbox is gone.
    ("a@contoso.example", "5.1.10",
     "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "", "userunknown"),
    # Orange / La Poste error codes.
    ("a@wanadoo.fr", "5.5.0", "550 5.5.0 Boite du destinataire archivee. Archived recipient. LPN007_420",
     "", "suspend"),
    ("a@orange.fr", "4.0.0", "421 mwinf5c79 ME Trop de connexions. Too many connections, slow down. OFR005_104",
     "", "toomanyconn"),
    # Cox's AUP codes.
    ("a@cox.net", "5.1.0", "550 5.1.0 <s@x.example> sender rejected AUP#CXBL", "", "blocked"),
    # Office 365 protection hosts: banned sending IP ranges.
    ("a@example.com", "5.7.606",
     "550 5.7.606 Access denied, banned sending IP [192.0.2.1].", "mx.eur.prod.protection.outlook.com",
     "blocked"),
])
def test_remote_host_and_vendor_verdicts(recipient: str, status: str, diagnostic: str, remote: str,
                                         reason: str) -> None:
    (rcpt,) = parse_bounce(_dsn(recipient, status, diagnostic, remote)).recipients
    assert (rcpt.address, rcpt.reason) == (recipient, reason)
