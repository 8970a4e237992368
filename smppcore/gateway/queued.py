"""Per-account cap on queued messages without a store query per submit.

Owns: :class:`QueuedCounters`. For each account it keeps the store's count of QUEUED/LEASED
messages as of the last refresh (``base``), the messages this daemon enqueued since then
(``added``) and reservations of submits that are still being written (``in_flight``). Their
sum is an upper bound of the real queue length *for this daemon's writes*: connectors only
ever shrink the queue between refreshes, so the estimate errs on the side of refusing.

Refresh: at most every ``refresh_seconds`` (default 1 s) on the submit path, and at once
(but at most every ``full_recheck_seconds``) when the estimate says "full", so a queue that
drained is noticed quickly. One refresh per account at a time; while it waits for the store
the old estimate stands, and when the answer comes only the enqueues ``added`` *before* the
question are taken off (the store counted them), so an enqueue finishing during the query
is counted twice at worst (conservative), never zero times.

With several daemons on one Redis store each daemon's estimate misses the others' enqueues
until its next refresh; the cap then holds to within one refresh interval of their rate.
"""

from __future__ import annotations

from typing import Final

import attrs

from smppcore.store.base import Store

__all__ = ["QueuedCounters"]

_REFRESH: Final = 1.0
_FULL_RECHECK: Final = 0.1


@attrs.define(slots=True)
class _Count:
    base: int = 0
    added: int = 0
    in_flight: int = 0
    refreshed_at: float = float("-inf")
    refreshing: bool = False

    @property
    def estimate(self) -> int:
        return self.base + self.added + self.in_flight


class QueuedCounters:
    """Accurate-enough queued counts per account (see module docstring)."""

    __slots__ = ("_counts", "full_recheck_seconds", "refresh_seconds")

    def __init__(
        self, refresh_seconds: float = _REFRESH, full_recheck_seconds: float = _FULL_RECHECK
    ) -> None:
        self._counts: dict[str, _Count] = {}
        self.refresh_seconds = refresh_seconds
        self.full_recheck_seconds = full_recheck_seconds

    async def _refresh(self, count: _Count, store: Store, account: str, now: float) -> None:
        if count.refreshing:
            return  # another submit is asking the store; its answer will do
        count.refreshing = True
        count.refreshed_at = now
        seen = count.added
        try:
            base = await store.count_queued(account)
        finally:
            count.refreshing = False
        count.base = base
        count.added -= seen

    async def reserve(self, store: Store, account: str, limit: int, now: float, n: int = 1) -> bool:
        """Reserve room for ``n`` messages; False if that would exceed ``limit``.

        A True must be followed by :meth:`commit` (enqueued) or :meth:`release` (not)."""
        count = self._counts.get(account)
        if count is None:
            count = self._counts[account] = _Count()
        if now - count.refreshed_at >= self.refresh_seconds:
            await self._refresh(count, store, account, now)
        if count.estimate + n > limit:
            if now - count.refreshed_at < self.full_recheck_seconds:
                return False
            await self._refresh(count, store, account, now)
            if count.estimate + n > limit:
                return False
        count.in_flight += n
        return True

    def commit(self, account: str, n: int = 1) -> None:
        """``n`` reserved messages are now durable in the queue."""
        count = self._counts[account]
        count.in_flight -= n
        count.added += n

    def release(self, account: str, n: int = 1) -> None:
        """``n`` reserved messages were not enqueued after all."""
        self._counts[account].in_flight -= n

    def estimate(self, account: str) -> int:
        count = self._counts.get(account)
        return 0 if count is None else count.estimate
