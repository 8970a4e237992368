"""The queue worker of one operator connector: lease, segment, submit, map, ack.

Owns :class:`QueueWorker`. One dispatcher task leases ready messages of the connector
(``lease_mt``, priority then oldest first), polling every ``poll_interval`` seconds and at
once after :meth:`QueueWorker.wake`. It never holds more than ``max_leased`` messages; once
it holds that many it leases again when a quarter of them are done (batches, not one lease
per finished message).

Per-destination order. Messages for one destination address go one at a time: while one is
being submitted, later ones to the same destination wait in a local FIFO behind it. When a
message fails transiently it is nacked to ``retry_at`` and the destination is blocked until
then: the waiting messages, and any later-leased ones, are nacked to the same ``retry_at``,
so when they become ready together the store hands out the oldest first. A throttled
answer (``ESME_RTHROTTLED``/``ESME_RMSGQFUL``, which also adapts the connector's send rate,
see :mod:`.throttle`) or a lost response resends the same segment in place with the next
token, holding the destination, so nothing overtakes it. (A higher ``priority`` may overtake: that
is the client's explicit request.)

Ordering of the id map, per-part progress. The upstream id is only known from
``submit_sm_resp``. As soon as a segment's response arrives the worker writes its map entry
(key ``normalise_message_id(upstream id)``) together with the message's progress
(``accept_part``: ``parts_accepted`` = that segment) and waits for it to be durable before it
submits the next segment; a receipt that overtakes this write on another task is held and
retried by the return path. A retry (after a nack, a restart, a lease taken over) starts
after the accepted parts, so the operator never gets an accepted part twice from a retry. A
resent segment (after a lost response) maps the id of the response that finally arrived.
The LAST segment's map goes with the message's ack, and acks are written in batches by one
task (``_write_acks``: every ack that came while the previous batch was being written, maps
and acks in one SQLite transaction, or maps acknowledged before the acks on Redis), so a
message costs no store round trip of its own once submitted. An ack lost in a crash leaves
its message leased: its last part is sent again (a duplicate, never a loss).

Once every segment is accepted the sink hears of it (``sink.submitted``): the return
path keeps the maps in memory for a while, so the receipts that follow are matched without
a store read.

Liveness. A submit whose answer does not come within the response timeout is resent in
place, but only on a bind heard from since (``pool.pick(alive_since=...)``), so a frozen SMSC
gets each in-flight message at most once more, after it answers again. If the bind's SMSC
sent nothing at all for that whole timeout, the bind is closed as frozen
(``connector.bind_unresponsive``): the pool shows it down and reconnects, and the other
submits in flight on it fail over at once.

Attempts. An attempt is a submit that reached the operator and failed (a transient status,
or no answer after the in-place resends): it is what ``nack_mt`` counts, and its retry delay
grows with the message's own attempts only. A lease is not an attempt, and a message given
back unsent because it waited behind a failed one to the same number is not attempted.

Outcomes: all segments accepted → ``ack_mt`` (ENROUTE); transient status or repeated lost
responses → ``nack_mt`` with exponential backoff and jitter, or, at the ``max_attempts``-th
failed attempt, UNDELIVERABLE; permanent status or expiry (``validity_until`` passed) →
final too. Every final goes through ``sink.mt_final``, which makes the message
final and queues the client's failure receipt in one store request (a crash leaves both or
neither; the lease ends with the final state).
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from typing import Any

import structlog
import trio

from smppcore.connector_api import ConnectorContext
from smppcore.metrics import ConnectorMetrics
from smppcore.net.client import Backoff
from smppcore.net.connection import SmppConnection
from smppcore.net.errors import NetError, RequestTimeout, WindowTimeout
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.errors import SmppError
from smppcore.protocol.pdu import SubmitSm
from smppcore.protocol.receipt import normalise_message_id
from smppcore.store.base import IdMapEntry, MtAck, MtMessage, MtState

from .classify import Classifier, Outcome
from .options import OperatorOptions
from .pool import BindPool, BindSlot
from .segments import build_submits
from .throttle import Throttle

__all__ = ["QueueWorker", "WorkerStats"]

log = structlog.get_logger(__name__)

#: Stop resending a segment in place this long (seconds) before the message's lease ends.
_LEASE_MARGIN = 5.0
#: How often a resend waiting for a bind that answers looks again (seconds).
_ALIVE_POLL = 0.1
#: Bound on writing the last acks when the connector stops.
_ACK_FLUSH_TIMEOUT = 5.0


class WorkerStats:
    """Plain counters (read by health/status and the benchmark)."""

    __slots__ = ("acked", "by_status", "expired", "failed", "nacked", "resends", "submits")

    def __init__(self) -> None:
        self.submits = 0  # submit_sm PDUs answered by the operator
        self.by_status: dict[int, int] = {}
        self.resends = 0  # segments sent again after a lost response or a throttled answer
        self.acked = 0
        self.nacked = 0
        self.failed = 0
        self.expired = 0


class QueueWorker:
    def __init__(
        self,
        name: str,
        ctx: ConnectorContext,
        pool: BindPool,
        throttle: Throttle,
        classifier: Classifier,
        options: OperatorOptions,
        metrics: ConnectorMetrics,
        *,
        window: int,
        id_map_seconds: float,
        rng: random.Random,
    ) -> None:
        self.name = name
        self._store = ctx.store
        self._sink = ctx.sink
        self._pool = pool
        self._throttle = throttle
        self._classifier = classifier
        self._options = options
        self._retry_backoff = Backoff(
            initial=min(options.retry_initial, options.retry_max), maximum=options.retry_max
        )
        self._metrics = metrics
        self._id_map_seconds = id_map_seconds
        self._rng = rng
        self._max_leased = options.max_leased or max(64, 2 * window * len(pool.submit_slots))
        self._leased = 0
        self._lease_min = max(1, self._max_leased // 4)
        self._room = trio.Event()
        self._wake = trio.Event()
        self._active: dict[str, deque[MtMessage]] = {}
        self._blocked: dict[str, float] = {}
        self._held: set[str] = set()  # ids leased and not yet finished here
        #: leased here and no part submitted yet under this lease (given back on stop)
        self._unsent: dict[str, MtMessage] = {}
        self._nursery: trio.Nursery | None = None
        self._acks: list[MtAck] = []  # written by _write_acks, in batches
        self._acks_waiting = trio.Event()
        self.stats = WorkerStats()

    @property
    def in_flight(self) -> int:
        return sum(slot.in_flight for slot in self._pool.submit_slots)

    @property
    def leased(self) -> int:
        return self._leased

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ dispatcher
    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._write_acks)
                await self._lease_loop()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(_ACK_FLUSH_TIMEOUT):
                await self._flush_acks()
                await self._give_back_unsent()

    async def _write_acks(self) -> None:
        while True:
            await self._acks_waiting.wait()
            self._acks_waiting = trio.Event()
            await self._flush_acks()

    async def _flush_acks(self) -> None:
        """Write the acks gathered so far in one store request. One that fails leaves its
        messages leased: they are sent again when the lease ends (duplicates, not losses)."""
        acks, self._acks = self._acks, []
        if not acks:
            return
        try:
            await self._store.ack_mt(acks)
        except Exception as exc:
            log.error("connector.ack_failed", connector=self.name, messages=len(acks),
                      error=type(exc).__name__)  # fmt: skip

    async def _give_back_unsent(self) -> None:
        """On stop: messages leased here that never left (no part submitted under this
        lease) go back to the queue at once, unattempted, instead of waiting out their
        lease. Those with a submit on its way stay leased: their outcome is unknown."""
        unsent, self._unsent = list(self._unsent.values()), {}
        now = time.time()
        for message in unsent:
            try:
                await self._store.nack_mt(message.id, now, message.error_code, attempted=False)
            except Exception as exc:  # left leased: it comes back when its lease ends
                log.error("connector.give_back_failed", connector=self.name,
                          error=type(exc).__name__)  # fmt: skip
                return
        if unsent:
            log.info("connector.gave_back", connector=self.name, messages=len(unsent))

    async def _lease_loop(self) -> None:
        while True:
            await self._pool.wait_up()
            room = self._max_leased - self._leased
            if room <= 0 or (room < self._lease_min and self._leased >= self._lease_min):
                # Full (or nearly): wait until a quarter of the room is free, so a busy
                # connector leases in batches, not one message per finished one (each
                # lease is a store write). What stays leased keeps the window full.
                self._room = trio.Event()
                await self._room.wait()
                continue
            self._wake = trio.Event()
            now = time.time()
            try:
                batch = await self._store.lease_mt(
                    self.name, room, self._options.lease_seconds, now
                )
            except Exception as exc:  # the store is unwell: try again at the next poll
                log.error("connector.lease_failed", connector=self.name,
                          error=type(exc).__name__)  # fmt: skip
                await trio.sleep(max(self._options.poll_interval, 1.0))
                continue
            for message in batch:
                self._dispatch(message, now)
            if len(batch) < room:
                with trio.move_on_after(self._options.poll_interval):
                    await self._wake.wait()

    def _dispatch(self, message: MtMessage, now: float) -> None:
        assert self._nursery is not None
        if message.id in self._held:
            # Its lease ran out while it waited here and we leased it again: it is already
            # on its way, so it must not be sent twice. (The newer lease is the one we ack.)
            return
        self._held.add(message.id)
        self._unsent[message.id] = message
        self._leased += 1
        dest = message.destination_addr
        blocked = self._blocked.get(dest)
        if blocked is not None:
            if blocked > now:
                self._nursery.start_soon(self._nack_behind, message, blocked)
                return
            del self._blocked[dest]
        waiting = self._active.get(dest)
        if waiting is not None:
            waiting.append(message)
            return
        self._active[dest] = deque()
        self._nursery.start_soon(self._run_destination, dest, message)

    def _release(self, message: MtMessage) -> None:
        self._held.discard(message.id)
        self._unsent.pop(message.id, None)
        self._leased -= 1
        self._room.set()

    async def _nack_behind(self, message: MtMessage, retry_at: float) -> None:
        """Give back a message queued behind a failed one to the same destination."""
        try:
            await self._store.nack_mt(message.id, retry_at, message.error_code, attempted=False)
        except Exception as exc:  # left leased: it comes back when its lease ends
            log.error("connector.nack_failed", connector=self.name, error=type(exc).__name__)
        finally:
            self._release(message)

    async def _run_destination(self, dest: str, message: MtMessage) -> None:
        current: MtMessage | None = message
        try:
            while current is not None:
                try:
                    done = await self._process(current)
                except Exception as exc:  # a store failure must not end the connector
                    log.error("connector.message_failed", connector=self.name,
                              error=type(exc).__name__)  # fmt: skip
                    # Left leased: it comes back when the lease ends; hold its destination
                    # until then so nothing overtakes it.
                    self._blocked[dest] = max(self._blocked.get(dest, 0.0), current.lease_until)
                    done = False
                self._release(current)
                current = None
                waiting = self._active[dest]
                if not done:
                    # The dispatcher drops a block whose time has passed (here: while the nack
                    # was being written), so it may be gone: the failed one is ready by now.
                    retry_at = self._blocked.get(dest, time.time())
                    while waiting:
                        await self._nack_behind(waiting.popleft(), retry_at)
                elif waiting:
                    current = waiting.popleft()
        finally:
            self._active.pop(dest, None)
            if len(self._blocked) > 10_000:
                now = time.time()
                self._blocked = {d: t for d, t in self._blocked.items() if t > now}

    # ------------------------------------------------------------------ one message
    async def _process(self, message: MtMessage) -> bool:
        """Submit every segment. True when the message is done with (acked or final),
        False when it was nacked for a later retry."""
        now = time.time()
        if message.validity_until and now >= message.validity_until:
            self.stats.expired += 1
            await self._final(message, MtState.EXPIRED, 0)
            return True
        try:
            pdus = build_submits(message, self._options.split_mode)
        except (ValueError, SmppError) as exc:
            log.warning("connector.unsendable", connector=self.name, error=type(exc).__name__)
            await self._final(message, MtState.REJECTED, int(CommandStatus.ESME_RSUBMITFAIL))
            return True
        total = len(pdus)
        done = message.parts_accepted
        if done >= total:  # the split changed since (another split_mode): start again
            log.warning("connector.parts_changed", connector=self.name, parts=total)
            done = 0
        resend_until = message.lease_until - _LEASE_MARGIN
        maps: list[IdMapEntry] = []
        for index in range(done + 1, total + 1):
            outcome, status, upstream_id = await self._submit(
                pdus[index - 1], resend_until, message.id
            )
            if outcome is Outcome.OK:
                entry = IdMapEntry(
                    connector=self.name, upstream_id=normalise_message_id(upstream_id),
                    message_id=message.id, account=message.account, segment=index,
                    total_segments=total, expires_at=time.time() + self._id_map_seconds,
                )  # fmt: skip
                maps.append(entry)
                if index < total:
                    # durable (map and progress) before the next segment: a retry starts
                    # after this part
                    await self._store.accept_part(entry)
                # the last one is written with the ack, in the same store request
                continue
            if outcome is Outcome.PERMANENT:
                await self._final(message, MtState.REJECTED, status)
                return True
            attempts = message.attempts + 1
            if attempts >= self._options.max_attempts:
                await self._final(message, MtState.UNDELIVERABLE, status or message.error_code)
                return True
            retry_at = time.time() + self._retry_delay(attempts)
            self._blocked[message.destination_addr] = retry_at
            self.stats.nacked += 1
            await self._store.nack_mt(message.id, retry_at, status)
            return False
        self._acks.append(MtAck(message.id, maps[-1:]))  # written by _write_acks, batched
        self._acks_waiting.set()
        self._sink.submitted(message, maps)
        self.stats.acked += 1
        return True

    def _close_if_silent(self, slot: BindSlot, conn: SmppConnection) -> None:
        """A submit on ``conn`` got no answer: if its SMSC sent nothing at all for a whole
        response timeout, the bind is frozen (TCP open, nobody answering). Close it: the
        pool shows it down and reconnects, and the submits in flight on it fail at once
        (each is resent once, on a bind that answers) instead of each waiting out its own
        timeout there."""
        silent = trio.current_time() - conn.last_received
        if conn.is_closed or silent < conn.config.response_timeout:
            return
        log.warning("connector.bind_unresponsive", connector=self.name, bind=slot.label,
                    silent_seconds=round(silent, 1))  # fmt: skip
        conn.abort("no answer within the response timeout")

    def _retry_delay(self, attempts: int) -> float:
        return self._retry_backoff.delay(max(attempts - 1, 0), self._rng)

    async def _final(self, message: MtMessage, state: MtState, error_code: int) -> None:
        if state is not MtState.EXPIRED:
            self.stats.failed += 1
        await self._sink.mt_final(message, state, error_code)

    async def _submit(
        self, pdu: SubmitSm, resend_until: float, message_id: str
    ) -> tuple[Outcome, int, str]:
        """Send one segment until the operator answers it (throttled answers and lost
        responses resend it in place). Returns the outcome, the status and the upstream
        message id."""
        lost = 0
        have_token = False
        # After a lost answer: resend only on a bind heard from since the loss was seen, or
        # bound since the lost submit went out.
        alive_since = bound_since = -math.inf
        while True:
            if not have_token:
                await self._throttle.acquire()
                have_token = True
            slot = self._pool.pick(alive_since, bound_since)
            if slot is None or slot.conn is None:
                if alive_since == -math.inf:
                    await self._pool.wait_up()
                    continue
                # Ask idle binds for a sign of life; hearing from one is no event of its
                # own: look again shortly.
                self._pool.probe(alive_since)
                with trio.move_on_after(_ALIVE_POLL):
                    await self._pool.wait_change()
                if time.time() >= resend_until:
                    return Outcome.TRANSIENT, 0, ""
                continue
            conn = slot.conn
            slot.in_flight += 1
            window = self._metrics.window(slot.label)
            window.set(slot.in_flight)
            started = trio.current_time()
            try:
                self._unsent.pop(message_id, None)  # from here it may have left
                response = await conn.request(pdu)
            except WindowTimeout:
                continue  # never sent: keep the token, try again
            except NetError as exc:
                have_token = False
                lost += 1
                alive_since, bound_since = trio.current_time(), started
                if isinstance(exc, RequestTimeout):
                    self._close_if_silent(slot, conn)
                self._metrics.submit_unanswered(
                    "timeout" if isinstance(exc, RequestTimeout) else "lost"
                ).inc()
                self.stats.resends += 1
                if lost > self._options.resend_limit or time.time() >= resend_until:
                    log.info("connector.no_response", connector=self.name,
                             error=type(exc).__name__)  # fmt: skip
                    return Outcome.TRANSIENT, 0, ""
                continue
            finally:
                slot.in_flight -= 1
                window.set(slot.in_flight)
            have_token = False
            self._metrics.submit_response_seconds.observe(trio.current_time() - started)
            status = response.command_status
            stats = self.stats
            stats.submits += 1
            stats.by_status[status] = stats.by_status.get(status, 0) + 1
            self._metrics.submit_status(status).inc()
            outcome = self._classifier.classify(status)
            throttled = outcome is Outcome.THROTTLED
            if self._throttle.observe(throttled):
                self._metrics.rate_cuts.inc()
            if throttled:
                self._metrics.throttled.inc()
                if time.time() >= resend_until:
                    return Outcome.TRANSIENT, status, ""
                stats.resends += 1
                continue
            if outcome is Outcome.REBIND:
                lost += 1
                stats.resends += 1
                if lost > self._options.resend_limit or time.time() >= resend_until:
                    return Outcome.TRANSIENT, status, ""
                # A bind answering this is on its way out: give it time to go (bounded).
                with trio.move_on_after(conn.config.response_timeout):
                    await conn.wait_closed()
                continue
            if outcome is Outcome.OK:
                message_id: Any = getattr(response, "message_id", "")
                return outcome, 0, str(message_id)
            return outcome, status, ""
