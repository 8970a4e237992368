"""The adaptive send rate (AIMD under the contract), driven on trio's mock clock.

Each model SMSC answers the submits the throttle lets through: one that limits by rate
refuses what exceeds its limit, one that refuses at random refuses a share of everything.
The figures asserted are the issue's goals: a rate-limited SMSC is met within 10 % under its
limit; with random refusals the connector keeps at least 80 % of what the SMSC accepts at
the contract rate.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import trio
import trio.lowlevel

from connectors.smpp_operator.throttle import Throttle
from smppcore.gateway.ratelimit import TokenBucket

CEILING = 500.0

#: One answer: (second it is sent in, share of that second already sent) -> throttled?
Refuse = Callable[[float, float], bool]


async def _drive(
    throttle: Throttle, seconds: int, refuse: Callable[[float], bool]
) -> list[tuple[float, int, int]]:
    """Send as fast as the throttle allows for ``seconds``; ``refuse(rate_sent_this_second)``
    answers each submit. Returns per second (rate at its end, sent, accepted)."""
    out: list[tuple[float, int, int]] = []
    for _ in range(seconds):
        end = trio.current_time() + 1.0
        sent = accepted = 0
        while trio.current_time() < end:
            await throttle.acquire()
            sent += 1
            throttled = refuse(sent)
            accepted += not throttled
            throttle.observe(throttled)
            await trio.lowlevel.checkpoint()
        out.append((throttle.rate, sent, accepted))
    return out


async def test_a_rate_limited_smsc_is_met_just_under_its_limit(
    autojump_clock: trio.abc.Clock,
) -> None:
    limit = 150
    throttle = Throttle("t", CEILING, 50)
    with trio.fail_after(1000):
        seconds = await _drive(throttle, 60, lambda sent: sent > limit)
    assert throttle.cuts >= 1
    steady = seconds[20:]
    mean_accepted = sum(a for _, _, a in steady) / len(steady)
    mean_sent = sum(s for _, s, _ in steady) / len(steady)
    assert 0.9 * limit <= mean_accepted <= limit
    assert mean_sent <= 1.1 * limit  # it does not keep pushing far above the limit
    assert throttle.noise == 0.0


async def test_random_refusals_do_not_collapse_the_rate(autojump_clock: trio.abc.Clock) -> None:
    rng = random.Random(5)
    throttle = Throttle("t", CEILING, 50)
    with trio.fail_after(1000):
        seconds = await _drive(throttle, 40, lambda _sent: rng.random() < 0.5)
    accepted = sum(a for _, _, a in seconds) / len(seconds)
    # What the SMSC accepts at the contract rate is half of it.
    assert accepted >= 0.8 * CEILING * 0.5
    assert 0.4 <= throttle.noise <= 0.6
    assert throttle.rate == CEILING


async def test_an_smsc_refusing_everything_gets_the_floor_then_the_rate_recovers(
    autojump_clock: trio.abc.Clock,
) -> None:
    throttle = Throttle("t", CEILING, 50)
    with trio.fail_after(1000):
        await _drive(throttle, 15, lambda _sent: True)
        assert throttle.rate == throttle.floor
        assert throttle.reduced
        await _drive(throttle, 120, lambda _sent: False)
    assert throttle.rate == CEILING
    assert not throttle.reduced


async def test_the_bucket_never_exceeds_burst_plus_rate_across_rate_changes(
    autojump_clock: trio.abc.Clock,
) -> None:
    bucket = TokenBucket(100.0, 20, 0.0)
    granted: list[float] = []
    now = 0.0
    rates = [100.0, 10.0, 50.0, 5.0, 100.0]
    for k, rate in enumerate(rates):
        bucket.reset_rate(rate, max(1.0, 20 * rate / 100), now)
        for _ in range(2000):
            now += 0.001
            if bucket.try_acquire(1, now=now):
                granted.append(now)
        # within this rate's second: at most its burst + rate x t
        mine = [t for t in granted if k * 2.0 <= t < (k + 1) * 2.0]
        assert len(mine) <= max(1.0, 20 * rate / 100) + rate * 2.0 + 1
