"""The connector's send rate: a token bucket under the contract, adapted to the operator.

Owns :class:`Throttle`. Every submit_sm (every segment of a long message, every resend)
takes one token from one bucket shared by all binds of the connector, so the operator never
sees more than ``burst + rate x t`` submits in any ``t`` seconds, and ``rate`` never exceeds
the configured ``throughput`` (the contract, the ceiling).

When the operator answers ``ESME_RTHROTTLED`` / ``ESME_RMSGQFUL`` nothing stops: the refused
segment is sent again in place (so per-handset order holds) with the next token, and the
rate adapts, decided once per window of answers (from its first answer, at least
``interval`` seconds and ``min_answers`` answers, or ``max_window`` seconds with any; such a
short window can raise the rate, never cut it):

* **increase** (additive): the window's throttled share is no higher than the operator's
  usual share (``noise``, see below) plus a tolerance (5 points, plus two standard
  deviations of the noise over that many answers): the rate grows by 5 % of itself (at
  least 1 % of the ceiling) per window, up to the ceiling;
* **cut** (multiplicative): the share is higher: the rate becomes 90 % of what the operator
  accepted in that window (never above the rate before, never below ``floor``). An SMSC that
  limits by rate settles just under its limit this way;
* **not about us**: if the window after a cut is throttled about as much as the one that
  caused it (at least half its share, that one under 90 %), cutting did not help: that
  share is the operator's ``noise`` (a random refusal that does not depend on our rate), the cut is
  undone and only throttling above it cuts again. A share that falls below the noise lowers
  it. A share of 90 % or more always cuts (down to the floor): an operator refusing nearly
  everything is never pushed at full rate.

Counted once per cut (:attr:`cuts`), logged at each cut, never per refused submit.
"""

from __future__ import annotations

import math

import structlog
import trio

from smppcore.gateway.ratelimit import TokenBucket

__all__ = ["Throttle"]

log = structlog.get_logger(__name__)

#: Throttled share above the noise that still counts as noise (sampling jitter).
_TOLERANCE = 0.05
#: A share at or above this always cuts: it cannot be taken for noise.
_REFUSING = 0.9


class Throttle:
    """Owned by one connector; all its worker tasks call :meth:`acquire` before a submit and
    :meth:`observe` with each answer."""

    def __init__(
        self,
        name: str,
        rate: float,
        burst: int,
        *,
        interval: float = 1.0,
        min_answers: int = 20,
        max_window: float = 5.0,
    ) -> None:
        self.name = name
        self.ceiling = float(rate)
        self.rate = float(rate)
        self.floor = min(self.ceiling, max(0.5, self.ceiling / 100))
        self._burst = max(1, int(burst))
        now = trio.current_time()
        self._bucket = TokenBucket(rate, self._burst, now)
        self._lock = trio.StrictFIFOLock()  # waiters take tokens in arrival order
        self._interval = interval
        self._min_answers = min_answers
        self._max_window = max_window
        self._window_start = now
        self._answers = 0
        self._throttled = 0
        self.noise = 0.0  #: throttled share the operator shows whatever our rate
        #: (share that caused the last cut, rate before it) until the next window judges it
        self._last_cut: tuple[float, float] | None = None
        self.cuts = 0

    @property
    def reduced(self) -> bool:
        """True while the rate is below the ceiling (the connector's health says so)."""
        return self.rate < self.ceiling * 0.99

    async def acquire(self) -> None:
        """Wait until a token is there; take it. (When one is there and nobody waits, this
        returns without a checkpoint: the submit that follows is one.)"""
        # nobody queued: take a token without the lock
        if not self._lock.locked() and self._bucket.try_acquire(1, now=trio.current_time()):
            return
        async with self._lock:
            while True:
                now = trio.current_time()
                if self._bucket.try_acquire(1, now=now):
                    return
                # At least 1 ms: a float-sized remainder must not become a zero-progress spin.
                await trio.sleep(max(self._bucket.delay_until_available(1, now), 0.001))

    def observe(self, throttled: bool) -> bool:
        """One submit was answered, ``throttled`` if with ESME_RTHROTTLED/ESME_RMSGQFUL.
        True when this answer closed a window that cut the rate (the caller counts it)."""
        now = trio.current_time()
        if self._answers == 0:
            # The window runs from its first answer: a silence before it (an idle or frozen
            # operator) is not a low accepted rate.
            self._window_start = now
        self._answers += 1
        if throttled:
            self._throttled += 1
        elapsed = now - self._window_start
        if elapsed < self._interval:
            return False
        if self._answers < self._min_answers and elapsed < self._max_window:
            return False
        return self._adapt(now, elapsed)

    def _adapt(self, now: float, elapsed: float) -> bool:
        answers = self._answers
        share = self._throttled / answers
        accepted_rate = (answers - self._throttled) / elapsed
        self._window_start, self._answers, self._throttled = now, 0, 0
        last_cut, self._last_cut = self._last_cut, None
        if last_cut is not None and share >= last_cut[0] * 0.5 and last_cut[0] < _REFUSING:
            # Cutting did not lower it: this share is not about our rate.
            self.noise = share
            self._set_rate(last_cut[1], now)
            log.info("connector.throttling_not_rate_bound", connector=self.name,
                     share=round(share, 3), rate=round(self.rate, 1))  # fmt: skip
            return False
        # A share within sampling jitter of the noise is the noise (two standard deviations
        # of a window of this many answers, and the fixed tolerance).
        tolerance = _TOLERANCE + 2 * math.sqrt(self.noise * (1 - self.noise) / answers)
        if share < self.noise - tolerance:
            self.noise = share
        if share <= self.noise + tolerance:
            if self.rate < self.ceiling:
                step = max(self.rate * 0.05, self.ceiling * 0.01)
                self._set_rate(min(self.ceiling, self.rate + step), now)
            return False
        if answers < self._min_answers:
            return False  # too few answers to cut on (a window closed by max_window)
        self._last_cut = (share, self.rate)
        self._set_rate(max(self.floor, min(self.rate, accepted_rate) * 0.9), now)
        self.cuts += 1
        log.warning("connector.rate_cut", connector=self.name, share=round(share, 3),
                    rate=round(self.rate, 1))  # fmt: skip
        return True

    def _set_rate(self, rate: float, now: float) -> None:
        """The bucket refills at ``rate`` from ``now``; its burst shrinks with it, so a cut
        rate cannot be overrun by a burst sized for the ceiling."""
        self.rate = rate
        burst = max(1.0, self._burst * rate / self.ceiling)
        self._bucket.reset_rate(rate, burst, now)
