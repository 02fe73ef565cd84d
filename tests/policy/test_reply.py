"""The 550 reply text: RFC 5321 multi-line form, within line limits, ASCII."""

from __future__ import annotations

from gateway.policy.reply import MAX_LINE, smtp_reject_reply
from gateway.policy.verdict import Action, Hit, Verdict


def test_multiline_reply_names_rules_and_first_evidence() -> None:
    verdict = Verdict(
        action=Action.REJECT,
        hits=(
            Hit("order-id-missing", Action.QUARANTINE, "no order id", "-"),
            Hit(
                "promotion-discount",
                Action.REJECT,
                "Promotion is not allowed",
                "…gutscheincode spar10 für Käufer…",
            ),
            Hit("emoji", Action.REJECT, "Emoji are not allowed", "U+1F4E6 📦"),
        ),
    )
    reply = smtp_reject_reply(verdict)
    lines = reply.split("\r\n")
    assert all(line.startswith("550-5.7.1 ") for line in lines[:-1])
    assert lines[-1].startswith("550 5.7.1 ")
    assert "promotion-discount, emoji" in lines[0]
    assert "order-id-missing" not in reply  # only the rules that refused the message
    assert any("gutscheincode spar10 fur Kaufer" in line for line in lines)
    assert reply.isascii()
    assert not reply.endswith("\r\n")


def test_long_evidence_is_wrapped_within_512_octets_per_line() -> None:
    verdict = Verdict(
        action=Action.REJECT,
        hits=(Hit("external-link", Action.REJECT, "Link", "https://x.example/" + "a" * 3000),),
    )
    lines = smtp_reject_reply(verdict).split("\r\n")
    assert len(lines) > 1
    assert all(len(line.encode()) + 2 <= MAX_LINE for line in lines)
    assert all("\n" not in line and "\r" not in line for line in lines)


def test_single_line_and_custom_code() -> None:
    verdict = Verdict(
        action=Action.REJECT,
        smtp_code=550,
        enhanced_status="5.1.1",
        hits=(Hit("alias-dead", Action.REJECT, "gone", ""),),
    )
    reply = smtp_reject_reply(verdict)
    assert reply.startswith("550-5.1.1 ")
    assert reply.split("\r\n")[-1].startswith("550 5.1.1 ")
    only = smtp_reject_reply(Verdict(action=Action.REJECT, hits=(Hit("x", Action.REJECT, "r"),)))
    assert only.split("\r\n")[-1].startswith("550 5.7.1 ")
