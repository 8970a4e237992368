"""The trio shell around one :class:`~smppcore.protocol.session.Session`.

Owns: :class:`SmppConnection` (one reader task, one writer task, one timer task, the
window as a FIFO semaphore, incoming requests as a bounded channel) and
:func:`open_smpp_connection`, the async context manager that owns those tasks.
Transport errors become :mod:`smppcore.net.errors` here; no exception group leaves
:func:`open_smpp_connection`.

Writes are coalesced: :meth:`~SmppConnection.request`, :meth:`~SmppConnection.respond` and
the reader only queue bytes and wake the writer task, which sends everything pending in
one ``send_all`` (under a ``trio.StrictFIFOLock`` it shares with the final flush).  So N
PDUs produced in one scheduler batch cost one ``send`` syscall, and no caller's
cancellation can interrupt a send half-way.  Should a send be interrupted anyway (the
connection being torn down mid-write), the stream's framing is gone: the session is marked
broken and nothing more is written.

Request flow: ``await conn.request(pdu)`` waits (bounded) for a window slot, queues the
PDU on the session and parks until the reader task hands over the response;
``conn.send_request(pdu, on_response)`` sends only if a slot is free now and calls
``on_response`` from the reader when the response (or failure) comes, for a caller that keeps
many requests in flight without a task each.
Incoming requests: ``async for pdu in conn: await conn.respond(pdu, pdu.response(...))``.
``respond`` returns once the response is queued (it waits only while more than
``_HIGH_WATER`` bytes are pending); a send failure afterwards ends the connection and the
next call raises.  Neither iterating nor responding yields to the scheduler on every PDU
(both are cancellation points, and yield at least every ``_YIELD_EVERY`` calls), so a
handler works through a whole read's worth of requests in one scheduling step.
The session answers enquire_link, unbind and bad input itself, so those answers never
wait behind application work; when the application lags ``max_inbound_pending`` behind,
further requests are answered ``ESME_RTHROTTLED``.  The reader, too, stops reading while
more than ``_HIGH_WATER`` bytes wait for the writer: a peer that does not read cannot make
us buffer answers without limit.

Stopping (a server that drains): :meth:`~SmppConnection.stop_requests` makes the session
answer every later request itself and ends the iteration once the requests already received
are taken; the handler answers those (:meth:`~SmppConnection.respond_now` where no
cancellation may come between a durable write and its answer), and
:meth:`~SmppConnection.refuse_unserved` answers any it never took. Then
:meth:`~SmppConnection.unbind`.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final

import attrs
import structlog
import trio

from ..protocol.enums import CommandStatus
from ..protocol.errors import LocalProtocolError
from ..protocol.pdu import Pdu
from ..protocol.session import PduHook, Session, SessionStateError
from ..protocol.session_events import (
    BadPdu,
    EndReason,
    Event,
    FailureReason,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
    SessionConfig,
    SessionEnded,
    SessionStatistics,
    StateChanged,
)
from ..protocol.states import BOUND_STATES, Role, SessionState
from .errors import (
    ConnectionLost,
    NetError,
    RequestFailedError,
    RequestTimeout,
    SessionClosed,
    WindowTimeout,
)
from .peer import PeerAddress, peer_address

__all__ = [
    "BadPduHook",
    "PduHook",
    "ResponseCallback",
    "SmppConnection",
    "open_smpp_connection",
    "unwrap_exception_group",
]

#: Called with every :class:`BadPdu` event (bytes that did not decode), after the session
#: answered it; must not block (count, don't log per PDU).
BadPduHook = Callable[[BadPdu], None]

log = structlog.get_logger(__name__)

_RECEIVE_SIZE: Final = 65536
# respond()/send() wait for the writer while this many bytes are queued (back-pressure).
_HIGH_WATER: Final = 65536
# Iterating / responding skip the scheduler's yield, but not more often than this in a row
# (shared count: a receive-and-respond loop yields at least every 128 requests, which at
# window sizes up to ~100 means once per read; 64 measured ~10% more CPU at window 100).
_YIELD_EVERY: Final = 256
_FINAL_FLUSH_TIMEOUT: Final = 2.0
TRANSPORT_ERRORS: Final = (
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.BusyResourceError,
    OSError,
    ssl.SSLError,
)


#: Called with the response (or the error) of a request sent by
#: :meth:`SmppConnection.send_request`; runs on the connection's reader (or timer) task, so it
#: must not block.
ResponseCallback = Callable[[Pdu | None, "NetError | None"], None]


class _Waiter:
    """One request's caller, parked until the reader settles it (cheaper than an Event), or
    the callback it gave (:meth:`SmppConnection.send_request`)."""

    __slots__ = ("callback", "error", "response", "task")

    def __init__(
        self, task: trio.lowlevel.Task | None, callback: ResponseCallback | None = None
    ) -> None:
        self.task: trio.lowlevel.Task | None = task  # None: the caller was cancelled
        self.callback = callback
        self.response: Pdu | None = None
        self.error: NetError | None = None

    def abandon(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        self.task = None  # the window slot frees when the response (or failure) arrives
        return trio.lowlevel.Abort.SUCCEEDED


class _IncomingRequests:
    """``async for`` over a connection's requests (see :meth:`SmppConnection.__aiter__`)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: SmppConnection) -> None:
        self._conn = conn

    def __aiter__(self) -> _IncomingRequests:
        return self

    async def __anext__(self) -> Pdu:
        # A request already buffered is returned without a trip through the scheduler
        # (but not more than _YIELD_EVERY times in a row): the handler then answers a
        # whole read's worth of requests before the writer sends them all at once.
        conn = self._conn
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            conn._budget -= 1
            if conn._budget > 0:
                try:
                    return conn._incoming.receive_nowait()
                except trio.WouldBlock:
                    pass
            else:
                conn._budget = _YIELD_EVERY
            return await conn._incoming.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


class SmppConnection:
    """One SMPP session over a trio ``Stream``; create it with :func:`open_smpp_connection`."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        role: Role,
        config: SessionConfig,
        *,
        unbind_timeout: float = 5.0,
        on_bad_pdu: BadPduHook | None = None,
        on_pdu: PduHook | None = None,
    ) -> None:
        self._stream = stream
        self._on_bad_pdu = on_bad_pdu
        # Read once: a socket that has disconnected no longer knows its peer.
        self._peer = peer_address(stream)
        self._session = Session(role, config, now=trio.current_time(), on_pdu=on_pdu)
        # Shielded: cancelling the owner must not kill the reader before the final unbind
        # handshake; open_smpp_connection always ends with aclose(), which is bounded and
        # cancels this scope itself.
        self._tasks_scope = trio.CancelScope(shield=True)
        self._unbind_timeout = unbind_timeout
        self._send_lock = trio.StrictFIFOLock()
        self._outbuf = bytearray()  # encoded PDUs the writer has not taken yet
        self._writer_task: trio.lowlevel.Task | None = None  # set while the writer is parked
        self._drained: trio.Event | None = None  # exists while someone waits on back-pressure
        self._send_broken = False  # a send was interrupted half-way: framing is gone
        self._budget = _YIELD_EVERY
        self._window = trio.Semaphore(config.window)
        self._waiters: dict[int, _Waiter] = {}
        # Capacity: every request with a response is counted by the session, which
        # answers ESME_RTHROTTLED beyond max_inbound_pending; the margin absorbs the
        # few response-less requests (outbind, alert_notification).
        self._incoming_send, self._incoming = trio.open_memory_channel[Pdu](
            config.max_inbound_pending + 16
        )
        self._timer_wakeup = trio.Event()
        self._timer_target = math.inf
        self._terminated = False
        self._closed = trio.Event()
        self._end_reason: EndReason | None = None
        self._end_detail = ""
        self._dropped_requests = 0
        self._unanswered_at_close: int | None = None

    # ------------------------------------------------------------------ info
    @property
    def role(self) -> Role:
        return self._session.role

    @property
    def state(self) -> SessionState:
        return self._session.state

    @property
    def peer(self) -> PeerAddress | None:
        """The remote address (through TLS too); ``None`` for a stream without an IP socket."""
        return self._peer

    @property
    def config(self) -> SessionConfig:
        return self._session.config

    @property
    def end_reason(self) -> EndReason | None:
        return self._end_reason

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    @property
    def last_received(self) -> float:
        """trio time at which the peer last sent anything (liveness: a peer that sends
        nothing at all for a response timeout is not answering)."""
        return self._session.last_received

    def statistics(self) -> SessionStatistics:
        """A frozen snapshot for the metrics layer (window, in flight, PDUs, state)."""
        return self._session.statistics()

    @property
    def unanswered_requests(self) -> int:
        """Requests of the peer we have not answered: those pending now, or, once the
        connection has closed, those it closed without an answer to."""
        if self._unanswered_at_close is not None:
            return self._unanswered_at_close
        return self._session.statistics().inbound_pending

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # ------------------------------------------------------------------ requests
    async def request(
        self,
        pdu: Pdu,
        *,
        timeout: float | None = None,
        window_timeout: float | None = None,
    ) -> Pdu:
        """Send a request and return its response (which may carry an error status, or be
        a generic_nack).  Raises :class:`WindowTimeout` if no window slot frees within
        ``window_timeout`` (default: the response timeout), :class:`RequestTimeout` if no
        response arrives within ``timeout``, :class:`ConnectionLost` /
        :class:`SessionClosed` if the session ends first."""
        if type(pdu).response_class is None:
            raise LocalProtocolError(f"{type(pdu).__name__} has no response; use send()")
        self._check_open()
        wait = window_timeout if window_timeout is not None else self.config.response_timeout
        try:
            self._window.acquire_nowait()  # fast path: a free slot (FIFO: no one waits)
        except trio.WouldBlock:
            with trio.move_on_after(wait) as scope:
                await self._window.acquire()
            if scope.cancelled_caught:  # a cancelled acquire() never holds a slot
                raise WindowTimeout(f"no window slot free within {wait}s") from None
        try:
            self._check_open()
            now = trio.current_time()
            sent = self._session.send_request(pdu, now, timeout=timeout)
        except SessionStateError as exc:
            self._window.release()
            raise self._state_error(exc) from exc
        except BaseException:
            self._window.release()
            raise
        waiter = _Waiter(trio.lowlevel.current_task())
        self._waiters[sent.sequence_number] = waiter
        # The new request's deadline is the only new timer candidate.
        deadline = now + (timeout if timeout is not None else self.config.response_timeout)
        if deadline < self._timer_target:
            self._timer_wakeup.set()
        self._queued()
        await trio.lowlevel.wait_task_rescheduled(waiter.abandon)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.response is not None
        return waiter.response

    def send_request(self, pdu: Pdu, on_response: ResponseCallback) -> bool:
        """Send a request now if a window slot is free, without waiting for its response:
        ``on_response(response, None)`` or ``on_response(None, error)`` is called later, from
        the connection's own tasks (it must not block; an exception it raises is logged and
        dropped). Returns False (nothing sent) when no slot is free or the session cannot
        send requests any more. What a caller with many requests in flight uses instead of
        a task per :meth:`request`."""
        if type(pdu).response_class is None:
            raise LocalProtocolError(f"{type(pdu).__name__} has no response; use send()")
        if self._terminated or self._end_reason is not None or self._session.ended is not None:
            return False
        try:
            self._window.acquire_nowait()
        except trio.WouldBlock:
            return False
        try:
            now = trio.current_time()
            sent = self._session.send_request(pdu, now)
        except SessionStateError:
            self._window.release()
            return False
        self._waiters[sent.sequence_number] = _Waiter(None, on_response)
        if now + self.config.response_timeout < self._timer_target:
            self._timer_wakeup.set()
        self._queued()
        return True

    async def send(self, pdu: Pdu) -> None:
        """Send a response (to a request from :meth:`__aiter__`) or a request that has no
        response (outbind, alert_notification).

        Returns once the PDU is queued for the writer task; waits first (cancellable,
        nothing queued then) while more than ``_HIGH_WATER`` bytes are pending.  A send
        failure after that ends the connection: the next call raises."""
        # (respond() repeats these lines rather than awaiting send(): one coroutine less.)
        await trio.lowlevel.checkpoint_if_cancelled()
        if len(self._outbuf) >= _HIGH_WATER:
            await self._wait_drained()
        self._queue_pdu(pdu)
        self._budget -= 1
        if self._budget <= 0:
            await self._yield_now()

    async def respond(self, request: Pdu, response: Pdu) -> None:
        """Answer ``request``; the response gets the request's sequence number.  Returns
        once the response is queued (see :meth:`send`)."""
        if response.sequence_number != request.sequence_number:
            response = attrs.evolve(response, sequence_number=request.sequence_number)
        await trio.lowlevel.checkpoint_if_cancelled()
        if len(self._outbuf) >= _HIGH_WATER:
            await self._wait_drained()
        self._queue_pdu(response)
        self._budget -= 1
        if self._budget <= 0:
            await self._yield_now()

    def respond_now(self, request: Pdu, response: Pdu) -> None:
        """Answer ``request`` at once: queued for the writer without waiting for back-pressure
        and without a checkpoint, so no cancellation can come between the caller's decision
        and the answer (the answer to a request the store has just made durable must not be
        lost to one). The caller bounds what it queues so: one answer per request it took,
        whose number the session's ``max_inbound_pending`` bounds. Raises like
        :meth:`respond`, before queueing anything."""
        if response.sequence_number != request.sequence_number:
            response = attrs.evolve(response, sequence_number=request.sequence_number)
        self._queue_pdu(response)

    def _queue_pdu(self, pdu: Pdu) -> None:
        """Hand a response or response-less request to the session and the writer."""
        self._check_open()
        session = self._session
        state = session.state
        try:
            if pdu.command_id & 0x80000000:
                session.send_response(pdu, trio.current_time())
            else:
                if type(pdu).response_class is not None:
                    raise LocalProtocolError(f"{type(pdu).__name__} expects a response: request()")
                session.send_request(pdu, trio.current_time())
        except SessionStateError as exc:
            raise self._state_error(exc) from exc
        if session.state is not state:  # a bind answered, an outbind sent: new timers
            self._poke_timer()
        self._queued()

    async def _yield_now(self) -> None:
        self._budget = _YIELD_EVERY
        await trio.lowlevel.cancel_shielded_checkpoint()

    def __aiter__(self) -> AsyncIterator[Pdu]:
        """Incoming requests until the session ends."""
        return _IncomingRequests(self)

    def receive_ready(self, limit: int) -> list[Pdu]:
        """Up to ``limit`` incoming requests that have already arrived, without waiting (an
        empty list when none has): what a handler that serves requests in batches takes
        after the one ``async for`` gave it."""
        out: list[Pdu] = []
        while len(out) < limit:
            try:
                out.append(self._incoming.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        return out

    async def receive_request(self) -> Pdu:
        """The next incoming request; :class:`SessionClosed` once the session is over."""
        try:
            return await _IncomingRequests(self).__anext__()
        except StopAsyncIteration:
            raise SessionClosed(self._describe_end()) from None

    # ------------------------------------------------------------------ stopping
    def stop_requests(self, status: int) -> None:
        """Take no more requests (a server that is stopping): from now on the session answers
        every request that arrives with ``status`` at once (enquire_link and unbind are served
        as always, see :meth:`Session.refuse_requests
        <smppcore.protocol.session.Session.refuse_requests>`), and iterating the incoming
        requests ends once the ones already received are taken. Those stay the handler's to
        answer. Never waits."""
        self._session.refuse_requests(status)
        self._incoming_send.close()

    def refuse_unserved(self, status: int) -> int:
        """Answer ``status`` to every request that was received but never taken from the
        incoming queue (a handler that stopped early); how many were answered. Never waits."""
        answered = 0
        while True:
            try:
                pdu = self._incoming.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return answered
            if type(pdu).response_class is None:
                continue
            try:
                self.respond_now(pdu, pdu.response(command_status=status))
            except (NetError, SessionStateError):
                return answered
            answered += 1

    # ------------------------------------------------------------------ closing
    async def unbind(self, *, deadline: float | None = None) -> None:
        """Unbind gracefully (shielded; the wait for unbind_resp ends after the connection's
        ``unbind_timeout``, or at ``deadline`` if that comes first: a deadline already past
        still queues the unbind for the final flush), then close the transport."""
        until = trio.current_time() + self._unbind_timeout
        if deadline is not None:
            until = min(until, deadline)
        with trio.CancelScope(shield=True), trio.move_on_at(until):
            if self._session.state in BOUND_STATES and self._session.ended is None:
                try:
                    self._session.send_unbind(trio.current_time())
                    self._poke_timer()
                    await self._flush()
                    await self._closed.wait()
                except (NetError, LocalProtocolError):
                    pass
        await self._terminate(EndReason.LOCAL_CLOSE)

    async def aclose(self) -> None:
        """Close: unbind first when bound (bounded by ``unbind_timeout``)."""
        if not self._terminated:
            await self.unbind()

    def abort(self, detail: str = "aborted locally") -> None:
        """Drop the connection now, without an unbind (fault injection, shutting out a peer).

        Requests in flight fail with :class:`ConnectionLost`; the owner's context exits.
        """
        self._note_end(EndReason.LOCAL_CLOSE, detail)
        self._kill()

    # ------------------------------------------------------------------ internals
    def _check_open(self) -> None:
        if self._terminated or self._end_reason is not None or self._session.ended is not None:
            raise self._closed_error()

    def _state_error(self, exc: SessionStateError) -> LocalProtocolError | NetError:
        """A session that is ending refuses everything: say so as SessionClosed (what
        callers handle); otherwise the caller asked for something the state forbids."""
        if self._session.ended is not None or self._session.unbinding:
            return SessionClosed(str(exc))
        return exc

    def _describe_end(self) -> str:
        reason = self._end_reason or self._session.ended
        text = reason.value if reason is not None else "closed"
        return f"{text}: {self._end_detail}" if self._end_detail else text

    def _closed_error(self) -> NetError:
        reason = self._end_reason or self._session.ended
        if reason in (EndReason.PEER_CLOSED, EndReason.TRANSPORT_ERROR):
            return ConnectionLost(self._describe_end())
        return SessionClosed(self._describe_end())

    def _poke_timer(self) -> None:
        deadline = self._session.next_deadline()
        if deadline is not None and deadline < self._timer_target:
            self._timer_wakeup.set()

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, RequestReceived):
            pdu = event.pdu
            try:
                self._incoming_send.send_nowait(pdu)
            except trio.WouldBlock:
                # Only response-less requests (not counted by the session) fill the
                # channel this far; a request that expects a response still gets one.
                self._dropped_requests += 1
                log.warning("smpp.request_dropped", command_id=pdu.command_id)
                if type(pdu).response_class is not None:
                    throttled = pdu.response(command_status=CommandStatus.ESME_RTHROTTLED)
                    self._session.send_response(throttled, trio.current_time())
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self._dropped_requests += 1
        elif isinstance(event, ResponseReceived):
            self._settle(event.request.sequence_number, response=event.response)
        elif isinstance(event, RequestFailed):
            error: NetError
            if event.reason is FailureReason.TIMEOUT:
                error = RequestTimeout(f"no response to {type(event.request).__name__}")
            elif event.reason is FailureReason.BAD_RESPONSE:
                error = RequestFailedError(event.detail)
            else:
                error = self._closed_error()
            self._settle(event.request.sequence_number, error=error)
        elif isinstance(event, SessionEnded):
            if self._end_reason is None:
                self._end_reason, self._end_detail = event.reason, event.detail
        elif isinstance(event, BadPdu):
            if self._on_bad_pdu is not None:
                self._on_bad_pdu(event)
        elif isinstance(event, StateChanged):
            log.debug("smpp.state", old=event.old.name, new=event.new.name)
        else:
            log.debug("smpp.event", kind=type(event).__name__)

    def _settle(
        self, seq: int, *, response: Pdu | None = None, error: NetError | None = None
    ) -> None:
        waiter = self._waiters.pop(seq, None)
        if waiter is None:
            return
        self._window.release()
        if waiter.callback is not None:
            try:
                waiter.callback(response, error)
            except Exception as exc:  # the caller's bug must not end the session
                # The type only: a traceback's values could hold the PDU's numbers.
                log.error("smpp.response_callback_failed", error=type(exc).__name__)
            return
        if waiter.task is not None:
            waiter.response, waiter.error = response, error
            trio.lowlevel.reschedule(waiter.task)
            waiter.task = None

    def _queued(self) -> None:
        """Move what the session encoded to our buffer and wake the writer (no yield)."""
        data = self._session.data_to_send()
        if data:
            self._outbuf += data
            task = self._writer_task
            if task is not None:
                self._writer_task = None
                trio.lowlevel.reschedule(task)

    def _park_abort(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        self._writer_task = None
        return trio.lowlevel.Abort.SUCCEEDED

    async def _wait_drained(self) -> None:
        self._check_open()
        while len(self._outbuf) >= _HIGH_WATER and not self._terminated:
            await self._drain_event().wait()

    def _drain_event(self) -> trio.Event:
        if self._drained is None:
            self._drained = trio.Event()
        return self._drained

    def _wake_drained(self) -> None:
        if self._drained is not None:
            self._drained.set()
            self._drained = None

    async def _writer(self) -> None:
        """Send whatever is queued, in one ``send_all`` per wake-up."""
        try:
            while True:
                if not self._outbuf:
                    self._writer_task = trio.lowlevel.current_task()
                    await trio.lowlevel.wait_task_rescheduled(self._park_abort)
                await self._flush()
        except NetError:
            return

    async def _flush(self) -> None:
        # An uncontended lock is taken without the scheduler trip ``async with`` costs
        # (send_all yields anyway); only the writer and the final flush/unbind contend.
        try:
            self._send_lock.acquire_nowait()
        except trio.WouldBlock:
            await self._send_lock.acquire()
        try:
            # Cancelled before the first byte: the data stays queued for the final flush.
            # (No yield between this check and send_all's first write, so a Cancelled out
            # of send_all means bytes went out: only then is the framing in doubt.)
            await trio.lowlevel.checkpoint_if_cancelled()
            self._queued()
            if not self._outbuf or self._send_broken:
                return
            data, self._outbuf = self._outbuf, bytearray()
            self._wake_drained()
            try:
                await self._stream.send_all(data)
            except TRANSPORT_ERRORS as exc:
                self._send_broken = True
                self._note_end(EndReason.TRANSPORT_ERROR, repr(exc))
                self._kill()
                raise ConnectionLost(f"send failed: {exc!r}") from exc
            except BaseException:
                # Cancelled half-way: the peer may hold a partial PDU, framing is gone.
                self._send_broken = True
                self._note_end(EndReason.TRANSPORT_ERROR, "send interrupted")
                self._kill()
                raise
        finally:
            self._send_lock.release()

    def _note_end(self, reason: EndReason, detail: str) -> None:
        if self._end_reason is None:
            self._end_reason, self._end_detail = reason, detail

    def _kill(self) -> None:
        """Stop the reader, writer and timer; :meth:`_run` then finishes the shutdown."""
        self._tasks_scope.cancel()

    async def _run(self) -> None:
        with self._tasks_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reader)
                nursery.start_soon(self._writer)
                nursery.start_soon(self._timer)
        await self._terminate(self._end_reason or EndReason.TRANSPORT_ERROR)

    async def _terminate(self, reason: EndReason, detail: str = "") -> None:
        if self._terminated:
            await self._closed.wait()
            return
        self._terminated = True
        self._note_end(reason, detail)
        try:
            if self._end_reason is not EndReason.TRANSPORT_ERROR and not self._send_broken:
                with trio.CancelScope(shield=True), trio.move_on_after(_FINAL_FLUSH_TIMEOUT):
                    try:
                        await self._flush()
                    except NetError:
                        pass
        finally:
            end = self._end_reason or reason
            self._unanswered_at_close = self._session.statistics().inbound_pending
            for event in self._session.connection_lost(end, self._end_detail):
                self._dispatch(event)
            self._incoming_send.close()
            self._closed.set()
            self._wake_drained()
            self._tasks_scope.cancel()
            await trio.aclose_forcefully(self._stream)

    async def _reader(self) -> None:
        reason, detail = EndReason.PEER_CLOSED, ""
        try:
            while True:
                data = await self._stream.receive_some(_RECEIVE_SIZE)
                if not data:
                    break
                session = self._session
                session.receive_data(bytes(data), trio.current_time())
                while (event := session.next_event()) is not None:
                    self._dispatch(event)
                    if isinstance(event, StateChanged):
                        self._poke_timer()
                self._queued()
                if session.ended is not None:
                    reason = session.ended
                    break
                # A peer that sends but does not read would otherwise make us buffer its
                # auto-answered enquire_links, nacks and throttles without limit.
                while len(self._outbuf) >= _HIGH_WATER and not self._terminated:
                    await self._drain_event().wait()
        except (*TRANSPORT_ERRORS, NetError) as exc:
            reason, detail = EndReason.TRANSPORT_ERROR, repr(exc)
        await self._terminate(reason, detail)

    async def _timer(self) -> None:
        while True:
            deadline = self._session.next_deadline()
            self._timer_target = deadline if deadline is not None else math.inf
            with trio.move_on_at(self._timer_target):
                await self._timer_wakeup.wait()
            self._timer_wakeup = trio.Event()
            now = trio.current_time()
            if deadline is None or now < deadline:
                continue
            for event in self._session.handle_timer(now):
                self._dispatch(event)
            self._queued()
            ended = self._session.ended
            if ended is not None:
                await self._terminate(ended)
                return


def unwrap_exception_group(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception worth raising from a group a nursery produced: a single leaf
    as is; otherwise the first that is not ``trio.Cancelled``."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for leaf in leaves:
        if not isinstance(leaf, trio.Cancelled):
            return leaf
    return leaves[0] if leaves else group


@asynccontextmanager
async def open_smpp_connection(
    stream: trio.abc.Stream,
    role: Role,
    config: SessionConfig | None = None,
    *,
    unbind_timeout: float = 5.0,
    on_bad_pdu: BadPduHook | None = None,
    on_pdu: PduHook | None = None,
) -> AsyncIterator[SmppConnection]:
    """Run an SMPP session over ``stream`` for the duration of the block.

    ``on_bad_pdu`` is called (synchronously, from the reader) for every PDU that did not
    decode, after the session has answered it: the place to count them. ``on_pdu`` is the
    session's hook for every PDU in and out (see :data:`~smppcore.protocol.session.PduHook`).

    On exit the session unbinds (when bound; shielded, bounded by ``unbind_timeout``) and
    the stream is closed.  Exceptions leave as themselves, never as an exception group.
    """
    try:
        async with trio.open_nursery() as nursery:
            conn = SmppConnection(
                stream,
                role,
                config or SessionConfig(),
                unbind_timeout=unbind_timeout,
                on_bad_pdu=on_bad_pdu,
                on_pdu=on_pdu,
            )
            nursery.start_soon(conn._run)
            try:
                yield conn
            finally:
                await conn.aclose()
    except BaseExceptionGroup as group:
        raise unwrap_exception_group(group) from None
