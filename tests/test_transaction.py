"""gateway/transaction.py: the one envelope address check (RFC 5321 / 6531 syntax, not deliverability)."""

from __future__ import annotations

import pytest

from gateway.transaction import check_address, envelope_sender

ACCEPTED = [
    "postmaster", "Postmaster", '"john doe"@example.com', '"quoted\\"quote"@example.com',
    "user@srv01.firma.local", "seller@example.test", "root@localhost", "user@[192.0.2.1]",
    "user@[IPv6:2001:db8::1]", "käufer@bücher.example", "a" * 70 + "@example.com",
    "taro..@docomo.ne.jp", "o'brien@example.ie", "user+tag@sub.example.co.uk", "x@exa_mple.com",
]
REFUSED = [
    "user", "user@", "@example.com", "a b@example.com", "user@-bad.example", "user@ex..ample",
    "user@[300.1.1.1]", "user@[IPv6:nonsense]", "us\x01er@example.com", "us\udcffer@example.com",
    "user@exa mple.com", '"unterminated@example.com',
]


@pytest.mark.parametrize("address", ACCEPTED)
def test_accepted_as_postfix_accepts(address: str) -> None:
    assert check_address(address, allow_empty=False) is None


@pytest.mark.parametrize("address", REFUSED)
def test_refused_with_a_reason(address: str) -> None:
    reply = check_address(address, allow_empty=True)
    assert reply is not None and reply.startswith("501 5.1.3 ")


@pytest.mark.parametrize("address", ["a\r\nRCPT TO:<x@example.com>@example.com", "a\x00@example.com",
                                     "a\n@example.com"])
def test_cr_lf_nul_refused(address: str) -> None:
    assert check_address(address, allow_empty=True) == "501 5.1.3 Address contains CR, LF or NUL; refused"


def test_null_sender_only_where_allowed() -> None:
    for null in ("", "<>"):
        assert check_address(null, allow_empty=True) is None
        assert check_address(null, allow_empty=False) is not None
    assert envelope_sender("<>") == envelope_sender(None) == ""
    assert envelope_sender("a@example.com") == "a@example.com"
