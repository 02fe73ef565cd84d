"""DSN building: whatever the upstream said, the report parses back with the stdlib parser."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import Message

from hypothesis import given
from hypothesis import strategies as st

from gateway.dsn_report import FailedRecipient, build_dsn, original_headers, status_from_reply
from gateway.spool import _check_data

ORIGINAL = b"From: a@shop.example\r\nSubject: Hi\r\nX-Long: " + b"v" * 200 + b"\r\n\r\nbody\r\n"
_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def test_status_from_reply() -> None:
    assert status_from_reply(550, "5.1.1 no such user") == "5.1.1"
    assert status_from_reply(451, "4.7.1 greylisted, come back later") == "4.7.1"
    assert status_from_reply(554, "no enhanced code") == "5.0.0"
    assert status_from_reply(None, None) == "5.0.0"
    assert status_from_reply(550, "5.1.1") == "5.1.1"


def test_original_headers_stops_at_the_body() -> None:
    assert original_headers(ORIGINAL).endswith(b"X-Long: " + b"v" * 200 + b"\r\n")
    assert b"body" not in original_headers(ORIGINAL)


reply_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=80)
local_part = st.from_regex(r"[a-z0-9._+-]{1,20}", fullmatch=True)


@given(replies=st.lists(st.tuples(local_part, st.integers(500, 599), reply_text), min_size=1,
                        max_size=4))
def test_dsn_parses_back_for_any_reply_text(replies: list[tuple[str, int, str]]) -> None:
    failed = [FailedRecipient(f"{lp}@marketplace.example", status_from_reply(code, text),
                              f"{code} {text}", "upstream.example") for lp, code, text in replies]
    data, message_id = build_dsn(reporting_mta="gw.test", original_sender="a@shop.example",
                                 queue_id="Q1", arrival=1_700_000_000.0, failed=failed,
                                 original=ORIGINAL)
    _check_data(data)  # CRLF only: it can be spooled and relayed unchanged
    report = message_from_bytes(data)
    assert report["Message-ID"] == message_id
    parts = report.get_payload()
    assert isinstance(parts, list)
    assert isinstance(parts[1], Message)
    status = parts[1].get_payload()
    assert isinstance(status, list)
    groups = [g for g in status if isinstance(g, Message)]
    assert len(groups) == 1 + len(failed)
    for group, rcpt in zip(groups[1:], failed, strict=True):
        assert group["Final-Recipient"] == f"rfc822; {rcpt.address}"
        assert group["Status"] == rcpt.status
        assert group["Action"] == "failed"


@given(st.binary(max_size=200) | st.lists(st.sampled_from([b"a", b"\r", b"\n", b"\r\n"])).map(b"".join))
def test_check_data_matches_the_definition_of_bare_cr_lf(data: bytes) -> None:
    try:
        _check_data(data)
        refused = False
    except ValueError:
        refused = True
    assert refused == bool(_BARE.search(data))
