"""Getting receipts and handset replies to bound receivers.

Owns: :class:`Delivery` (one deliver_sm waiting to go out) and :class:`Deliverer`: a timer
heap for receipts due later, a bounded queue per account for deliveries waiting for a
receiver (``None`` = any account), the registry of bound receiver/transceiver sessions and
the worker tasks that send deliver_sm and wait for deliver_sm_resp.  Idle workers park; a
new delivery wakes one of them, a new receiver all.  A delivery whose receiver went away,
or which the ESME answered with an error status, goes back to the queue; beyond
``max_pending`` new deliveries are discarded and counted.  While the ``freeze`` fault is on
the workers take nothing (deliveries keep queueing) and resume at the thaw.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from typing import Final, Literal

import attrs
import structlog
import trio

from smppcore.net.connection import SmppConnection
from smppcore.net.errors import NetError
from smppcore.protocol.pdu import DeliverSm

from .freeze import FreezeGate
from .stats import Recorder

__all__ = ["Deliverer", "Delivery"]

log = structlog.get_logger(__name__)

_RETRY_PAUSE: Final = 0.2


@attrs.frozen(kw_only=True)
class Delivery:
    pdu: DeliverSm
    kind: Literal["receipt", "mo"]
    system_id: str | None  #: the account to deliver to; None: any bound receiver
    stat: str = ""  #: the receipt stat word, for the counters


class Deliverer:
    def __init__(
        self,
        recorder: Recorder,
        *,
        max_pending: int = 100_000,
        workers: int = 8,
        gate: FreezeGate | None = None,
    ) -> None:
        self._recorder = recorder
        self._gate = gate or FreezeGate()
        self._max_pending = max_pending
        self._workers = workers
        self._queues: dict[str | None, deque[Delivery]] = {}
        self._pending = 0
        self._timers: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._receivers: dict[str, list[SmppConnection]] = {}
        self._rr = itertools.count()
        self._idle = trio.lowlevel.ParkingLot()  # workers with nothing to send
        self._timer_changed = trio.Event()

    # --- receivers
    def add_receiver(self, system_id: str, conn: SmppConnection) -> None:
        self._receivers.setdefault(system_id, []).append(conn)
        self._idle.unpark_all()  # whatever waited for a receiver may go now

    def remove_receiver(self, system_id: str, conn: SmppConnection) -> None:
        conns = self._receivers.get(system_id, [])
        if conn in conns:
            conns.remove(conn)

    @property
    def receivers(self) -> int:
        return sum(len(c) for c in self._receivers.values())

    # --- queueing
    @property
    def max_pending(self) -> int:
        return self._max_pending

    @property
    def pending(self) -> int:
        return self._pending

    def schedule(self, delivery: Delivery, delay: float) -> bool:
        """Queue ``delivery`` after ``delay`` seconds; False when the queue is full."""
        if self._pending >= self._max_pending:
            self._recorder.deliveries_discarded += 1
            return False
        self._pending += 1
        if delay <= 0:
            self._queues.setdefault(delivery.system_id, deque()).append(delivery)
            self._idle.unpark()
        else:
            due = trio.current_time() + delay
            heapq.heappush(self._timers, (due, next(self._seq), delivery))
            if self._timers[0][2] is delivery:
                self._timer_changed.set()
        return True

    def _take(self) -> tuple[Delivery, SmppConnection] | None:
        for key, queue in self._queues.items():
            if not queue:
                continue
            conn = self._pick(key)
            if conn is not None:
                return queue.popleft(), conn
        return None

    def _pick(self, system_id: str | None) -> SmppConnection | None:
        if system_id is None:
            conns = [c for group in self._receivers.values() for c in group]
        else:
            conns = self._receivers.get(system_id, [])
        live = [c for c in conns if not c.is_closed]
        if not live:
            return None
        return live[next(self._rr) % len(live)]

    def _requeue(self, delivery: Delivery) -> None:
        self._queues.setdefault(delivery.system_id, deque()).appendleft(delivery)

    # --- tasks
    async def run(self) -> None:
        """Run the timer and the workers until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._timer)
            for _ in range(self._workers):
                nursery.start_soon(self._worker)

    async def _timer(self) -> None:
        while True:
            now = trio.current_time()
            moved = 0
            while self._timers and self._timers[0][0] <= now:
                _, _, delivery = heapq.heappop(self._timers)
                self._queues.setdefault(delivery.system_id, deque()).append(delivery)
                moved += 1
            if moved:
                self._idle.unpark(count=moved)
            deadline = self._timers[0][0] if self._timers else float("inf")
            self._timer_changed = trio.Event()
            with trio.move_on_at(deadline):
                await self._timer_changed.wait()

    async def _worker(self) -> None:
        while True:
            if self._gate.frozen:
                await self._gate.wait_thawed()
                continue
            taken = self._take()
            if taken is None:
                await self._idle.park()
                continue
            delivery, conn = taken
            try:
                response = await conn.request(delivery.pdu)
            except NetError:
                self._requeue(delivery)
                # A dead receiver is dropped by its handler shortly; a live one that timed out
                # gets a pause. Either way no busy loop while the receiver list catches up.
                await trio.sleep(0.01 if conn.is_closed else _RETRY_PAUSE)
                continue
            if response.command_status != 0:
                log.debug("simulator.delivery_refused", status=response.command_status)
                self._requeue(delivery)
                await trio.sleep(_RETRY_PAUSE)
                continue
            self._pending -= 1
            if delivery.kind == "receipt":
                self._recorder.receipts_sent[delivery.stat] += 1
            else:
                self._recorder.replies_sent += 1
            self._recorder.changed()
