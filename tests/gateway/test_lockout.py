"""Failed-bind lock-out: threshold, sliding window, expiry, success reset, memory bound."""

from __future__ import annotations

from smppcore.gateway.lockout import LOCKED, BindLockout
from smppcore.gateway.rejection import Rejection


def fail(lock: BindLockout, n: int, ip: str, sid: str, now: float) -> None:
    for _ in range(n):
        lock.record_failure(ip, sid, now)


def test_locks_after_five_failures_and_expires() -> None:
    lock = BindLockout()
    fail(lock, 4, "10.0.0.1", "acme", now=0.0)
    assert lock.allowed("10.0.0.1", "acme", now=1.0)
    lock.record_failure("10.0.0.1", "acme", now=1.0)
    # Locked: both by IP (any system_id) and by system_id (any IP).
    assert not lock.allowed("10.0.0.1", "acme", now=1.0)
    assert not lock.allowed("10.0.0.1", "other", now=2.0)
    assert not lock.allowed("10.9.9.9", "acme", now=2.0)
    assert lock.allowed("10.9.9.9", "other", now=2.0)
    # A correct password does not help while locked (the caller asks allowed() first).
    lock.record_success("10.0.0.1", "acme", now=2.0)
    assert not lock.allowed("10.0.0.1", "acme", now=300.9)
    assert lock.allowed("10.0.0.1", "acme", now=301.0)


def test_sliding_window_forgets_old_failures() -> None:
    lock = BindLockout(max_failures=3, window=60, lock_seconds=10)
    for t in (0.0, 50.0, 100.0, 150.0):  # never 3 within 60 s
        lock.record_failure("ip", "sid", now=t)
    assert lock.allowed("ip", "sid", now=150.0)
    lock.record_failure("ip", "sid", now=155.0)  # 100, 150, 155 within 60 s
    assert not lock.allowed("ip", "sid", now=155.0)
    assert lock.allowed("ip", "sid", now=165.0)


def test_success_resets_system_id_but_not_ip() -> None:
    lock = BindLockout(max_failures=3)
    fail(lock, 2, "ip", "sid", now=0.0)
    lock.record_success("ip", "sid", now=1.0)
    lock.record_failure("ip2", "sid", now=2.0)
    assert lock.allowed("ip2", "sid", now=2.0)  # sid count restarted: 1 failure
    lock.record_failure("ip", "sid2", now=3.0)  # ip: 3rd failure → locked
    assert not lock.allowed("ip", "anything", now=3.0)


def test_memory_is_bounded() -> None:
    lock = BindLockout(max_keys=100)
    for i in range(10_000):
        lock.record_failure(f"10.0.{i // 256}.{i % 256}", f"sid{i}", now=float(i))
    assert lock.tracked() <= 100


def test_hot_key_survives_a_flood_of_new_keys() -> None:
    lock = BindLockout(max_failures=5, max_keys=50)
    now = 0.0
    for i in range(200):
        now += 0.01
        lock.record_failure(f"spray{i}", "victim", now=now)  # victim refreshed each time
    assert not lock.allowed("fresh-ip", "victim", now=now)


def test_locked_answer_is_plain_bind_fail() -> None:
    assert Rejection(0x0D, "bind_locked") == LOCKED
