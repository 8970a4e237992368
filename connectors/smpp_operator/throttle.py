"""The connector's contract limits in time: a shared token bucket and operator pauses.

Owns :class:`Throttle`. Every submit_sm (every segment of a long message, every resend)
takes one token from one bucket shared by all binds of the connector, so the operator never
sees more than ``burst + rate x t`` submits in any ``t`` seconds. When the operator answers
``ESME_RTHROTTLED`` / ``ESME_RMSGQFUL`` the whole connector pauses: nothing is sent until
the pause ends, the pause doubles (with jitter) while the operator keeps refusing and resets
after a submit succeeds. A pause is logged once and counted once, however many in-flight
submits report it.
"""

from __future__ import annotations

import random

import structlog
import trio

from smppcore.gateway.ratelimit import TokenBucket
from smppcore.net.client import Backoff

__all__ = ["Throttle"]

log = structlog.get_logger(__name__)


class Throttle:
    """Owned by one connector; all its worker tasks call :meth:`acquire` before a submit."""

    def __init__(
        self,
        name: str,
        rate: float,
        burst: int,
        *,
        pause_initial: float,
        pause_max: float,
        rng: random.Random,
    ) -> None:
        self.name = name
        self._bucket = TokenBucket(rate, burst, trio.current_time())
        # The pause grows like a reconnect backoff: equal jitter, capped at pause_max.
        self._backoff = Backoff(initial=min(pause_initial, pause_max), maximum=pause_max)
        self._rng = rng
        self._lock = trio.StrictFIFOLock()  # waiters take tokens in arrival order
        self.paused_until = 0.0  # trio clock
        self._consecutive = 0
        self.pauses = 0

    def is_paused(self) -> bool:
        return trio.current_time() < self.paused_until

    async def wait_unpaused(self) -> None:
        # A pause only ever moves forward in time, so sleeping to its end and re-checking
        # is exact; an Event would need a timer task per pause for nothing.
        while trio.current_time() < self.paused_until:  # noqa: ASYNC110
            await trio.sleep_until(self.paused_until)

    async def acquire(self) -> None:
        """Wait until no pause is active and one token is there; take it. (When a token is
        there and nobody waits, this returns without a checkpoint: the submit that follows
        is one.)"""
        if not self._lock.locked():  # nobody queued: take a token without the lock
            now = trio.current_time()
            if now >= self.paused_until and self._bucket.try_acquire(1, now=now):
                return
        async with self._lock:
            while True:
                await self.wait_unpaused()
                now = trio.current_time()
                if self._bucket.try_acquire(1, now=now):
                    if now >= self.paused_until:
                        return
                    continue  # a pause began while we slept; the token is spent, fine
                # At least 1 ms: a float-sized remainder must not become a zero-progress spin.
                await trio.sleep(max(self._bucket.delay_until_available(1, now), 0.001))

    def pause(self) -> bool:
        """The operator refused for load. Starts a pause unless one is running; True if it
        started one (the caller counts it)."""
        now = trio.current_time()
        if now < self.paused_until:
            return False
        delay = self._backoff.delay(self._consecutive, self._rng)
        self._consecutive += 1
        self.paused_until = now + delay
        self.pauses += 1
        log.warning("connector.paused", connector=self.name, seconds=round(delay, 3),
                    consecutive=self._consecutive)  # fmt: skip
        return True

    def succeeded(self) -> None:
        """A submit went through: the next pause starts small again."""
        if self._consecutive and trio.current_time() >= self.paused_until:
            self._consecutive = 0
