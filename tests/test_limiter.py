"""gateway/limiter.py: failed logins per (peer, user), per peer and in total."""

from __future__ import annotations

import pytest

from gateway.limiter import FailureLimiter, FailureLimits, peer_key

NAT = "203.0.113.7"


def fail(lim: FailureLimiter, peer: str, user: str, times: int, at: float = 0.0) -> None:
    for i in range(times):
        lim.record_failure(peer, user, now=at + i * 0.01)


def test_stale_password_locks_only_its_own_user_behind_a_nat() -> None:
    lim = FailureLimiter(FailureLimits(per_user=5, per_peer=20, total=1000, window=300))
    fail(lim, NAT, "outlook", 5)
    assert lim.blocked(NAT, "outlook", now=1.0) == "user"
    # Another user at the same address (the ERP) may still log in, and so may the peer as such.
    assert lim.blocked(NAT, "erp", now=1.0) is None
    assert lim.blocked(NAT, now=1.0) is None
    # The same user from another address is not locked either.
    assert lim.blocked("198.51.100.1", "outlook", now=1.0) is None


def test_lock_lifts_when_the_failures_age_out() -> None:
    lim = FailureLimiter(FailureLimits(per_user=3, per_peer=20, total=1000, window=10))
    fail(lim, NAT, "a", 3, at=0.0)
    assert lim.blocked(NAT, "a", now=9.0) == "user"
    assert lim.blocked(NAT, "a", now=10.5) is None


def test_success_clears_only_its_own_count() -> None:
    lim = FailureLimiter(FailureLimits(per_user=3, per_peer=7, total=1000, window=300))
    fail(lim, NAT, "a", 2)
    fail(lim, NAT, "b", 2)
    lim.record_success(NAT, "a")
    fail(lim, NAT, "a", 2, at=1.0)
    assert lim.blocked(NAT, "a", now=2.0) is None  # 2 since the success, not 4
    # The peer count still holds all six failures; a seventh reaches its ceiling.
    lim.record_failure(NAT, "c", now=2.0)
    assert lim.blocked(NAT, "a", now=2.5) == "peer"


def test_many_user_names_from_one_peer_reach_the_peer_ceiling() -> None:
    lim = FailureLimiter(FailureLimits(per_user=5, per_peer=20, total=1000, window=300))
    for i in range(19):
        lim.record_failure(NAT, f"guess{i}", now=float(i))
        assert lim.blocked(NAT, "erp", now=float(i)) is None
    lim.record_failure(NAT, "guess19", now=19.0)
    assert lim.blocked(NAT, "erp", now=19.5) == "peer"
    assert lim.blocked(NAT, now=19.5) == "peer"
    assert lim.blocked("198.51.100.1", "erp", now=19.5) is None


def test_total_ceiling_spans_peers() -> None:
    lim = FailureLimiter(FailureLimits(per_user=5, per_peer=20, total=50, window=300))
    for i in range(50):
        assert lim.blocked(f"198.51.100.{i}", "erp", now=float(i)) is None
        lim.record_failure(f"198.51.100.{i}", "erp", now=float(i))
    assert lim.blocked("192.0.2.1", "other", now=60.0) == "total"
    assert lim.blocked("192.0.2.1", "other", now=301.0) is None  # the first failure aged out


def test_ipv6_counts_by_its_64() -> None:
    assert peer_key("2001:db8:1:2:aaaa::1") == peer_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert peer_key("::ffff:192.0.2.5") == "192.0.2.5"
    assert peer_key("unix-socket") == "unix-socket"
    lim = FailureLimiter(FailureLimits(per_user=2, per_peer=20, total=1000, window=300))
    lim.record_failure("2001:db8:1:2::1", "a", now=0.0)
    lim.record_failure("2001:db8:1:2::99", "a", now=0.1)
    assert lim.blocked("2001:db8:1:2:ffff::5", "a", now=0.2) == "user"


def test_memory_stays_bounded_by_the_total_ceiling() -> None:
    lim = FailureLimiter(FailureLimits(per_user=5, per_peer=20, total=100, window=10))
    now = 0.0
    for i in range(5000):
        now = i * 0.05  # 200 failures per window offered; at most 100 are taken
        peer, user = f"10.0.{i // 250}.{i % 250}", f"u{i}"
        if lim.blocked(peer, user, now=now) is None:
            lim.record_failure(peer, user, now=now)
    assert lim.tracked() <= 4 * 100


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        FailureLimits(per_user=0)
