"""Structured reports: RFC 3464 delivery status, RFC 5965 feedback, Amazon SES JSON, RFC 3834 replies."""

from __future__ import annotations

import json
import re
from typing import Any

import gateway.bounces.providers as providers
import gateway.bounces.reasons as reasons
import gateway.bounces.vendors as vendors
from gateway.bounces.addresses import ADDRESS_RE, address_in
from gateway.bounces.markers import is_delay, looks_like_report, markers
from gateway.bounces.recipient import make_recipient
from gateway.bounces.report import MAX_RECIPIENTS, BouncedRecipient
from gateway.message.report import ReportContent, split_blocks

# Amazon SES bounceSubType -> reason, used when the diagnostic wording decides nothing.
SES_SUBTYPES = {"MailboxFull": "mailboxfull", "MessageTooLarge": "mesgtoobig",
                "ContentRejected": "contenterror", "AttachmentRejected": "securityerror",
                "Suppressed": "suppressed", "NoEmail": "userunknown",
                "OnAccountSuppressionList": "suppressed"}
UNDISCLOSED = "undisclosed-recipient-in-headers@libsisimai.org.invalid"


def parse_dsn(mail: ReportContent) -> tuple[BouncedRecipient, ...] | None:
    blocks = [b for b in mail.status_blocks
              if any(k in ("final-recipient", "original-recipient", "x-actual-recipient") for k, _ in b)]
    if not blocks:
        blocks = _inline_status_blocks(mail.text)
        if not blocks:
            return None
    blocks = blocks[:MAX_RECIPIENTS]
    out: list[BouncedRecipient] = []
    text_diag = vendors.text_diagnostics(mail)
    applicable = providers.vendors_of(mail)
    failed = ADDRESS_RE.findall(mail.header("X-Failed-Recipients"))
    for index, block in enumerate(blocks):
        fields = dict(block)
        final = address_in(fields.get("final-recipient", ""))
        original = address_in(fields.get("original-recipient", ""))
        if final is None or "." not in final.rpartition("@")[2] or ":" in fields.get("final-recipient", ""):
            # No usable final address (a source route, a bare host, "@domain"): fall back.
            final = original or address_in(fields.get("x-actual-recipient", "")) or final
        if final is None and len(failed) == len(blocks):
            final = failed[index].lower()
        if final is None and len(blocks) == 1 and mail.original is not None:
            final = address_in(mail.original.to)
        if not final:
            continue
        action = fields.get("action", "").split()[0].lower() if fields.get("action", "").split() else ""
        diag_field = fields.get("diagnostic-code", "")
        dtype, _, diag = diag_field.partition(";") if ";" in diag_field else ("", "", diag_field)
        # The human-readable part says more when the DSN gives no Diagnostic-Code, and often
        # continues a diagnostic that the DSN field cuts short (the SMTP phase, further reply lines).
        extra = "" if diag.strip() else text_diag.get(final, "")
        diagnostic = " ".join(p for p in (diag.strip(), extra) if p)
        diagnostic = _continued(diagnostic, text_diag.get(final, ""), mail.text)
        status = reasons.find_status(fields.get("status", "")) or None
        generic = status is None or status.endswith(".0.0")
        from_diag = reasons.find_status(diag) or (reasons.find_status(extra) if generic else None)
        if from_diag and from_diag[0] == (status or from_diag)[0] and (generic or not from_diag.endswith(".0.0")):
            status = from_diag
        dtype = dtype.strip().lower()
        if "|" in fields.get("final-recipient", ""):
            dtype = "x-unix"
        said = f"{diagnostic} {text_diag.get(final, '')}".strip()
        if not said and len(blocks) == 1:
            # Nothing about this recipient in particular: a vendor's sentence in the explanation
            # (Gmail: "... because the address couldn't be found") still says what happened.
            said = vendors.regions_of(mail)[0][:4096]
        hint = providers.vendor_verdict(applicable, said, status, fields)
        out.append(make_recipient(final, status, diagnostic, action, hint, original,
                                  temporary=action == "delayed" or is_delay(mail.subject), dtype=dtype,
                                  context=text_diag.get(final, ""), rhost=fields.get("remote-mta", "")))
    return tuple(out) or None


_PHASE = re.compile(r"\(in reply to (?:the )?(?:rcpt to|mail from|end of data|data|helo|ehlo) command\)", re.I)


def _continued(diagnostic: str, context: str, text: str) -> str:
    """The diagnostic with what the report's own text adds to it: the SMTP phase Postfix names
    ("(in reply to RCPT TO command)") and the further lines of a multi-line reply that the DSN field
    cut after its first line (Sendmail's transcript)."""
    head = " ".join(diagnostic.split())
    if not head:
        return diagnostic
    m = re.match(r"([245]\d\d)-", head)
    if m is not None:
        joined = _reply_lines(text, head, m.group(1))
        if joined:
            head = joined
    if _PHASE.search(head) is None and (pm := _PHASE.search(" ".join(context.split()))) is not None:
        head = f"{head} {pm.group(0)}"
    return head


def _reply_lines(text: str, first: str, reply: str) -> str:
    """The whole multi-line reply whose first line is ``first``, from a session transcript."""
    lines = text[:vendors.MAX_REGION].split("\n")
    for i, line in enumerate(lines):
        if " ".join(line.split()).endswith(first):
            out = [first]
            for nxt in lines[i + 1:i + 40]:
                body = nxt.strip().removeprefix("<<<").strip()
                if not body.startswith((f"{reply}-", f"{reply} ")):
                    break
                out.append(body)
                if body.startswith(f"{reply} "):
                    break
            return reasons.clean_reply("\n".join(out)) if len(out) > 1 else ""
    return ""


def _inline_status_blocks(text: str) -> list[list[tuple[str, str]]]:
    if "final-recipient:" not in text.lower():
        return []
    return [b for b in split_blocks(text) if any(k == "final-recipient" for k, _ in b)]


def parse_feedback(mail: ReportContent) -> tuple[BouncedRecipient, ...] | None:
    if mail.feedback is None:
        return _complaint_without_report(mail)
    fields = mail.feedback
    addrs = [a for k, v in fields if k in ("original-rcpt-to", "removal-recipient")
             if (a := address_in(v))]
    if not addrs and mail.original is not None:
        addrs = [a.lower() for a in ADDRESS_RE.findall(mail.original.to)]
    if not addrs:
        addrs = [UNDISCLOSED]
    ftype = next((v for k, v in fields if k == "feedback-type"), "")
    return tuple(BouncedRecipient(address=a, reason="feedback", status="", diagnostic=ftype,
                                  action="") for a in dict.fromkeys(addrs))


def _complaint_without_report(mail: ReportContent) -> tuple[BouncedRecipient, ...] | None:
    """A complaint loop that forwards the message as multipart/mixed, without a feedback-report part,
    or an unsubscribe request a mail client sends for the recipient."""
    if any(mail.header(h).strip().lower() == "true" for h in markers().unsubscribe_headers):
        # A mail client's one-click unsubscribe sent on the recipient's behalf (Apple Mail).
        addr = address_in(mail.from_)
        return (BouncedRecipient(address=addr, reason="feedback", status="", diagnostic="opt-out",
                                 action=""),) if addr else None
    subject = mail.subject.lower()
    if mail.original is None or not any(s in subject for s in markers().complaint_subjects):
        return None
    addr = address_in(mail.original.reported_recipient) or address_in(mail.original.to) or UNDISCLOSED
    return (BouncedRecipient(address=addr, reason="feedback", status="", diagnostic="abuse", action=""),)


def _ses_payload(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0 or ('"notificationType"' not in text and '"eventType"' not in text
                     and '\\"notificationType\\"' not in text):
        return None
    end = text.rfind("}")
    blob = text[start:end + 1].replace("!\n ", "").replace("\n", "")
    try:
        data = json.loads(blob)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("Message"), str):
        try:
            data = json.loads(data["Message"])
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def parse_ses_json(mail: ReportContent) -> tuple[BouncedRecipient, ...] | None:
    data = _ses_payload(mail.text)
    if data is None:
        return None
    kind = str(data.get("notificationType") or data.get("eventType") or "")
    out: list[BouncedRecipient] = []
    if kind == "Bounce":
        bounce = data.get("bounce") or {}
        sub = str(bounce.get("bounceSubType", ""))
        hint = SES_SUBTYPES.get(sub)
        temporary = bounce.get("bounceType") == "Transient"
        for r in bounce.get("bouncedRecipients") or []:
            addr = address_in(str(r.get("emailAddress", "")))
            if addr:
                diag = str(r.get("diagnosticCode", ""))
                status = reasons.find_status(str(r.get("status", ""))) or reasons.find_status(diag)
                text_reason = reasons.reason_from_text(diag)
                out.append(make_recipient(addr, status, diag, str(r.get("action", "failed")),
                                          None if text_reason else hint, temporary=temporary))
    elif kind == "Complaint":
        complaint = data.get("complaint") or {}
        for r in complaint.get("complainedRecipients") or []:
            addr = address_in(str(r.get("emailAddress", "")))
            if addr:
                out.append(BouncedRecipient(address=addr, reason="feedback", status="",
                                            diagnostic=str(complaint.get("complaintFeedbackType", "")),
                                            action=""))
    elif kind == "Delivery":
        delivery = data.get("delivery") or {}
        resp = str(delivery.get("smtpResponse", ""))
        for r in delivery.get("recipients") or []:
            addr = address_in(str(r))
            if addr:
                out.append(BouncedRecipient(address=addr, reason="delivered",
                                            status=reasons.find_status(resp) or "2.0.0", diagnostic=resp,
                                            action="delivered"))
    return tuple(out) or None


_AUTOREPLY_SUBJECT = re.compile(
    r"^(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|away|vacation|abwesend|"
    r"absence|r[ée]ponse automatique|respuesta autom|risposta autom|自動応答|不在)", re.I)


def parse_autoreply(mail: ReportContent) -> tuple[BouncedRecipient, ...] | None:
    auto = (mail.header("Auto-Submitted").lower().startswith("auto-replied")
            or mail.header("X-Autoreply") or mail.header("X-Autorespond")
            or mail.header("Precedence").lower() == "auto_reply"
            or _AUTOREPLY_SUBJECT.search(mail.subject.strip()) is not None)
    if not auto or looks_like_report(mail):
        # A non-delivery report we could not read is not the sender's vacation notice.
        return None
    addr = address_in(mail.from_) or address_in(mail.header("Return-Path"))
    if not addr:
        return None
    return (BouncedRecipient(address=addr, reason="vacation", status="", diagnostic=mail.subject,
                             action=""),)
