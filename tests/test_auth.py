from __future__ import annotations

from pathlib import Path

import pytest

from gateway.auth import Credentials, CredentialsError, FailureLimiter, hash_password


def test_credentials_verify(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text(f"# comment\n\nerp:{hash_password('s3cret')}\n")
    creds = Credentials.load(path)
    assert creds.verify_sync("erp", "s3cret")
    assert not creds.verify_sync("erp", "wrong")
    assert not creds.verify_sync("nobody", "s3cret")


def test_credentials_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text("erp:plaintext\n")
    with pytest.raises(CredentialsError, match=r"users:1"):
        Credentials.load(path)


def test_failure_limiter_window() -> None:
    lim = FailureLimiter(max_failures=3, window=10)
    for t in (0.0, 1.0, 2.0):
        assert not lim.locked("1.2.3.4", now=t)
        lim.record_failure("1.2.3.4", now=t)
    assert lim.locked("1.2.3.4", now=3.0)
    assert not lim.locked("5.6.7.8", now=3.0)
    assert not lim.locked("1.2.3.4", now=20.0)  # the window slid past the failures
    lim.record_failure("1.2.3.4", now=21.0)
    lim.record_success("1.2.3.4")
    assert not lim.locked("1.2.3.4", now=21.5)
