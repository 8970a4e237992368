"""Failed-bind lock-out: too many wrong passwords lock an IP and a system_id for a while.

Owns: :class:`BindLockout`. Failures are counted separately per source IP and per
system_id in a sliding window (default 5 failures in 300 s); reaching the limit locks that
key for ``lock_seconds`` (default 300 s). While *either* the IP or the system_id is
locked, :meth:`BindLockout.allowed` is False and the caller answers ``ESME_RBINDFAIL``
(0x0D) without checking the password — even the right one fails — and without saying
which part was wrong. Clock injected (``now``, monotonic seconds).

A success clears the system_id's failure history only, not the IP's: otherwise an
attacker with one valid account could interleave good binds to reset the counter of the
IP it guesses other accounts' passwords from.

Memory is bounded: at most ``max_keys`` keys are tracked (LRU; every failure refreshes
its keys), and each key keeps at most ``max_failures`` timestamps. Under a flood of new
keys the least recently failing ones are forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Final

import attrs

from smppcore.gateway.rejection import ESME_RBINDFAIL, Rejection

__all__ = ["LOCKED", "BindLockout"]

#: What the caller answers a bind refused because of a lock: the generic bind failure,
#: whatever the password was, so a locked-out guesser learns nothing about it (the reason
#: is for metrics only).
LOCKED: Final = Rejection(ESME_RBINDFAIL, "bind_locked")


@attrs.define(slots=True)
class _KeyState:
    failures: deque[float]
    locked_until: float = 0.0


class BindLockout:
    """Per-IP and per-system_id failure counting with timed locks."""

    __slots__ = ("_keys", "lock_seconds", "max_failures", "max_keys", "window")

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 300.0,
        lock_seconds: float = 300.0,
        max_keys: int = 100_000,
    ) -> None:
        if max_failures < 1 or window <= 0 or lock_seconds < 0 or max_keys < 2:
            raise ValueError("bad lock-out settings")
        self.max_failures = max_failures
        self.window = window
        self.lock_seconds = lock_seconds
        self.max_keys = max_keys
        self._keys: OrderedDict[tuple[str, str], _KeyState] = OrderedDict()

    def _locked(self, key: tuple[str, str], now: float) -> bool:
        state = self._keys.get(key)
        return state is not None and now < state.locked_until

    def allowed(self, ip: str, system_id: str, now: float) -> bool:
        """False while the IP or the system_id is locked: refuse without checking."""
        return not (self._locked(("ip", ip), now) or self._locked(("sid", system_id), now))

    def _fail(self, key: tuple[str, str], now: float) -> None:
        state = self._keys.get(key)
        if state is None:
            state = _KeyState(deque(maxlen=self.max_failures))
            self._keys[key] = state
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        if now < state.locked_until:
            return  # already locked; failures while locked do not extend the lock
        state.failures.append(now)
        if len(state.failures) == self.max_failures and now - state.failures[0] < self.window:
            state.locked_until = now + self.lock_seconds
            state.failures.clear()

    def record_failure(self, ip: str, system_id: str, now: float) -> None:
        """A bind failed (bad credentials, or refused because locked)."""
        self._fail(("ip", ip), now)
        self._fail(("sid", system_id), now)

    def record_success(self, ip: str, system_id: str, now: float) -> None:
        """A bind succeeded: forget the system_id's failures (not the IP's)."""
        state = self._keys.get(("sid", system_id))
        if state is not None and now >= state.locked_until:
            del self._keys[("sid", system_id)]

    def tracked(self) -> int:
        """Number of keys held (for statistics and the memory bound test)."""
        return len(self._keys)
