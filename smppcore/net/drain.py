"""The graceful stop of SMPP servers: stop accepting, answer what was read, unbind, close.

Owns :class:`ServerDrain` (handed to :func:`~smppcore.net.server.serve_smpp`; one drain may
serve several listeners) and :class:`DrainedConnection`, what one connection's drain came to.

Once :meth:`ServerDrain.begin` is called (with an absolute ``deadline``, trio clock), for
every listener and connection that drain serves:

1. the listeners close, so a new connection is refused by the operating system (nothing
   accepts it any more); a connection accepted just before is drained like the others;
2. every connection stops taking requests (:meth:`SmppConnection.stop_requests
   <smppcore.net.connection.SmppConnection.stop_requests>`): from then on its session
   answers each request that arrives with :data:`DRAIN_STATUS` at once, so it is never
   worked on and never left unanswered; enquire_link and unbind are served as always.
   Reading goes on: that is how those answers are given, and how the unbind_resp arrives;
3. the connection's handler answers the requests it had already received and returns
   (``async for`` over the connection ends once they are taken); it has until the deadline;
4. the connection unbinds, waiting for unbind_resp up to its ``unbind_timeout`` but never
   past the deadline, and closes. Everything it answered was queued before the unbind, so
   on the wire every answer precedes it;
5. ``serve_smpp`` returns once the last of its connections has closed.

At the deadline a handler still running is cancelled: the connection is *cut*. Requests
still waiting in the connection's queue (never taken) are answered :data:`DRAIN_STATUS`
here; what the handler had taken is its own to answer or refuse as it is cancelled (the
gateway's rule: :func:`smppcore.gateway.server.handle_client`); the unbind is queued but
not waited for, and the connection closes after its final flush.

``DRAIN_STATUS`` is ``ESME_RTHROTTLED``: "not now", the status clients resubmit after a
pause, on this bind's successor or another node. A request refused so was never worked on,
so resubmitting it cannot make a duplicate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, Literal

import attrs
import trio

from ..protocol.enums import CommandStatus
from ..protocol.session_events import EndReason
from .connection import SmppConnection

__all__ = ["DRAIN_STATUS", "DrainHook", "DrainStatistics", "DrainedConnection", "ServerDrain"]

#: What a draining server answers every request that arrives after the drain began.
DRAIN_STATUS: Final = int(CommandStatus.ESME_RTHROTTLED)

DrainResult = Literal["unbound", "closed", "cut"]


@attrs.frozen
class DrainedConnection:
    """One connection's drain.

    ``answered``: requests received before the drain began and answered during it;
    ``refused``: requests that arrived during it, answered :data:`DRAIN_STATUS` at once;
    ``unanswered``: requests received before it and left without an answer when the
    connection closed (the deadline cut it, or the peer went away first).
    ``result``: ``"unbound"`` (the unbind handshake completed, by either side),
    ``"closed"`` (closed without it: never bound, peer gone, no unbind_resp in time) or
    ``"cut"`` (the deadline came while its handler was still answering)."""

    answered: int
    refused: int
    unanswered: int
    result: DrainResult


@attrs.frozen
class DrainStatistics:
    """Totals over the connections a drain has finished so far."""

    connections: int = 0
    unbound: int = 0
    closed: int = 0
    cut: int = 0
    answered: int = 0
    refused: int = 0
    unanswered: int = 0

    def plus(self, one: DrainedConnection) -> DrainStatistics:
        return DrainStatistics(
            connections=self.connections + 1,
            unbound=self.unbound + (one.result == "unbound"),
            closed=self.closed + (one.result == "closed"),
            cut=self.cut + (one.result == "cut"),
            answered=self.answered + one.answered,
            refused=self.refused + one.refused,
            unanswered=self.unanswered + one.unanswered,
        )


#: Called once per drained connection, as it closes (count it; must not block).
DrainHook = Callable[[DrainedConnection], None]
Handler = Callable[[SmppConnection], Awaitable[None]]


@attrs.define(eq=False)
class _Served:
    """A connection being served, and what it stood at when the drain reached it."""

    conn: SmppConnection
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    stopped: bool = False
    pending: int = 0  # received, not yet answered, when it stopped taking requests
    refused: int = 0  # the session's refusal count then (it refuses nothing before)


class ServerDrain:
    """The stop signal and bookkeeping of a graceful drain; see the module docstring."""

    def __init__(self, on_drained: DrainHook | None = None, *, status: int = DRAIN_STATUS) -> None:
        self._on_drained = on_drained
        self._status = status
        self._begun = trio.Event()
        self._deadline = float("inf")
        self._served: set[_Served] = set()
        self._statistics = DrainStatistics()

    @property
    def began(self) -> bool:
        return self._begun.is_set()

    @property
    def deadline(self) -> float:
        """When connections still being answered are cut (``inf`` before :meth:`begin`)."""
        return self._deadline

    def begin(self, deadline: float) -> None:
        """Start draining: listeners close, connections stop taking requests, handlers have
        until ``deadline`` (trio clock). Calling it again changes nothing."""
        if self.began:
            return
        self._deadline = deadline
        self._begun.set()
        for served in list(self._served):
            self._stop(served)

    async def wait_begun(self) -> None:
        await self._begun.wait()

    def statistics(self) -> DrainStatistics:
        return self._statistics

    async def serve(self, conn: SmppConnection, handler: Handler) -> None:
        """Run ``handler(conn)``; if the drain begins meanwhile (or had begun), finish the
        connection's drain: refuse what it never took, unbind, close, and count it."""
        served = _Served(conn)
        self._served.add(served)
        try:
            with served.scope:
                if self.began:  # accepted just as the drain began
                    self._stop(served)
                await handler(conn)
        except BaseException:
            if served.stopped:
                self._record(served, "closed")
            raise
        finally:
            self._served.discard(served)
        if served.stopped:
            await self._finish(served)

    def _stop(self, served: _Served) -> None:
        stats = served.conn.statistics()
        served.pending, served.refused = stats.inbound_pending, stats.refused_requests
        served.stopped = True
        served.conn.stop_requests(self._status)
        served.scope.deadline = self._deadline

    async def _finish(self, served: _Served) -> None:
        conn = served.conn
        cut = served.scope.cancelled_caught
        conn.refuse_unserved(self._status)
        # Past the deadline (cut) this only queues the unbind for the final flush.
        await conn.unbind(deadline=self._deadline)
        if cut:
            result: DrainResult = "cut"
        elif conn.end_reason is EndReason.UNBOUND:
            result = "unbound"
        else:
            result = "closed"
        self._record(served, result)

    def _record(self, served: _Served, result: DrainResult) -> None:
        conn = served.conn
        unanswered = min(conn.unanswered_requests, served.pending)
        drained = DrainedConnection(
            answered=served.pending - unanswered,
            refused=conn.statistics().refused_requests - served.refused,
            unanswered=unanswered,
            result=result,
        )
        self._statistics = self._statistics.plus(drained)
        if self._on_drained is not None:
            self._on_drained(drained)
