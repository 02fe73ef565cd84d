from __future__ import annotations

import pytest

from gateway.replies import with_enhanced_code


@pytest.mark.parametrize(("line", "expected"), [
    ("552 Error: Too much mail data", "552 5.3.4 Message too big for system"),
    ("503 Error: need RCPT command", "503 5.5.1 Error: need RCPT command"),
    ("501 Syntax: MAIL FROM: <address>", "501 5.5.4 Syntax: MAIL FROM: <address>"),
    ("550 5.7.1 already coded", "550 5.7.1 already coded"),
    ("250 OK", "250 OK"),
    ("220 host ESMTP", "220 host ESMTP"),
    ("550-first line", "550-5.0.0 first line"),
])
def test_enhanced_codes_added(line: str, expected: str) -> None:
    assert with_enhanced_code(line) == expected
