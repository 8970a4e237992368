"""How many of one connection's requests are being served, up to a limit.

Owns :class:`InFlight`. A handler that serves requests in batches (each batch on a task of
its own, answered when its work is done) takes room for a batch before starting it and gives
it back when the batch is answered; while the limit is reached it waits, and its connection's
reader then stops being read from (the session answers ``ESME_RTHROTTLED`` once its own
inbound limit is reached). A batch larger than the limit is let through alone.
"""

from __future__ import annotations

import trio

__all__ = ["InFlight"]


class InFlight:
    """A counter with a limit; :meth:`take` waits for room, :meth:`give` frees it."""

    __slots__ = ("_room", "limit", "used")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the limit must be at least 1")
        self.limit = limit
        self.used = 0
        self._room = trio.Event()

    async def take(self, n: int) -> None:
        """Room for ``n`` more (waits while that would exceed the limit and some are in use)."""
        while self.used and self.used + n > self.limit:
            self._room = trio.Event()
            await self._room.wait()
        self.used += n

    def give(self, n: int) -> None:
        self.used -= n
        self._room.set()
