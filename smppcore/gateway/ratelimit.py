"""A token bucket for throughput limits (per account, per connector), clock injected.

Owns: :class:`TokenBucket`. ``rate`` tokens per second refill up to ``burst``; a bucket
starts full. ``try_acquire`` is for the server side (reject with ``ESME_RTHROTTLED`` when
it says no); ``delay_until_available`` is for connectors that must wait instead. Both take
a monotonic ``now`` in seconds. Plain floats in ``__slots__``: no allocation per call.

Guarantee (tested): over any interval of length ``t`` the bucket grants at most
``burst + rate * t`` tokens. Time going backwards is treated as no time passing.
"""

from __future__ import annotations

import math

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens/s, at most ``burst`` stored; not thread-safe (one trio task owns it)."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = self.burst
        self._last = now

    def _refill(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._last = now

    def reset_rate(self, rate: float, burst: float, now: float) -> None:
        """From ``now`` on, refill at ``rate`` up to ``burst`` (tokens above the new burst
        are dropped): for a sender that adapts its rate (the operator connector)."""
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._refill(now)
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = min(self._tokens, self.burst)

    def tokens(self, now: float) -> float:
        """Tokens available at ``now`` (for statistics)."""
        self._refill(now)
        return self._tokens

    def try_acquire(self, n: float = 1, *, now: float) -> bool:
        """Take ``n`` tokens if they are all there; never partially."""
        self._refill(now)
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def delay_until_available(self, n: float, now: float) -> float:
        """Seconds from ``now`` until ``n`` tokens will be there (0.0 if they are now).

        Does not take them: wait, then call :meth:`try_acquire`. ``inf`` if ``n`` exceeds
        ``burst`` (it would never fit).
        """
        if n > self.burst:
            return math.inf
        self._refill(now)
        missing = n - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate
