"""Token bucket: the burst + rate*t bound over every window, and the wait helper."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.gateway.ratelimit import TokenBucket


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(0.5, 1000),
    burst=st.integers(1, 50),
    steps=st.lists(
        st.tuples(st.floats(0, 2, allow_nan=False), st.integers(1, 5)), min_size=1, max_size=60
    ),
)
def test_never_more_than_burst_plus_rate_times_t(
    rate: float, burst: int, steps: list[tuple[float, int]]
) -> None:
    bucket = TokenBucket(rate, burst, now=0.0)
    now = 0.0
    grants: list[tuple[float, int]] = []
    for dt, n in steps:
        now += dt
        if bucket.try_acquire(n, now=now):
            grants.append((now, n))
    for i, (t0, _) in enumerate(grants):
        total = 0
        for t1, n in grants[i:]:
            total += n
            assert total <= burst + rate * (t1 - t0) + 1e-6


def test_refill_and_delay() -> None:
    bucket = TokenBucket(rate=10, burst=5, now=100.0)
    assert all(bucket.try_acquire(now=100.0) for _ in range(5))
    assert not bucket.try_acquire(now=100.0)
    assert bucket.delay_until_available(1, now=100.0) == pytest.approx(0.1)
    assert bucket.delay_until_available(3, now=100.0) == pytest.approx(0.3)
    assert not bucket.try_acquire(now=100.05)
    assert bucket.try_acquire(now=100.1 + 1e-9)
    assert bucket.delay_until_available(6, now=101.0) == math.inf
    assert bucket.delay_until_available(5, now=200.0) == 0.0
    assert bucket.tokens(now=200.0) == 5.0


def test_all_or_nothing_and_backwards_clock() -> None:
    bucket = TokenBucket(rate=1, burst=3, now=10.0)
    assert not bucket.try_acquire(4, now=10.0)
    assert bucket.tokens(now=10.0) == 3.0
    assert bucket.try_acquire(3, now=10.0)
    assert not bucket.try_acquire(now=5.0)  # clock stepped back: no refill
    assert bucket.try_acquire(now=11.0)


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=0, now=0)
