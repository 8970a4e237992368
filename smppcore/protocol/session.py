"""The sans-I/O SMPP session (h11 style) for both roles, ESME and SMSC.

Owns: bind-state enforcement from :data:`~smppcore.protocol.states.TRANSITIONS`, sequence
numbers for our requests (1..0x7FFFFFFF, wrapping to 1, never reusing one in flight), the
window of outstanding requests with per-request deadlines, the automatic answers
(enquire_link_resp, unbind_resp, generic_nack and error ``_resp`` for bad input, wrong
bind state, already bound, inbound overload, and every new request once
:meth:`Session.refuse_requests` was called) and the timers, with time always an input.

Use: feed bytes with :meth:`Session.receive_data`, pull events with :meth:`next_event`
until it returns None, queue PDUs with :meth:`send_request` / :meth:`send_response`, write
whatever :meth:`data_to_send` returns.  Call :meth:`handle_timer` when
:meth:`next_deadline` has passed and :meth:`connection_lost` once the transport is gone;
both *return* the events they cause (they never interleave with the input events).

Observability: ``on_pdu(direction, command_id, command_status)`` (a :data:`PduHook`, optional)
is called for every PDU that decoded (``"in"``) and every PDU queued for the peer (``"out"``),
the automatic answers included - the place to count PDUs.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Final

import attrs

from .codec import encode
from .enums import CommandId, CommandStatus
from .errors import LocalProtocolError
from .framer import DecodeFailure, Framer
from .pdu import PDU_CLASSES, EnquireLink, GenericNack, Pdu, Unbind
from .session_events import (
    BadPdu,
    EndReason,
    Event,
    FailureReason,
    RequestFailed,
    RequestReceived,
    RequestRejected,
    ResponseReceived,
    SessionConfig,
    SessionEnded,
    SessionStatistics,
    StateChanged,
    UnexpectedResponse,
)
from .states import BIND_COMMANDS, BOUND_STATES, Role, SessionState, next_state

__all__ = [
    "MAX_SEQUENCE_NUMBER",
    "PduHook",
    "Session",
    "SessionStateError",
    "WindowFullError",
]

MAX_SEQUENCE_NUMBER: Final = 0x7FFFFFFF
#: ``on_pdu(direction, command_id, command_status)``; ``direction`` is ``"in"`` or ``"out"``.
PduHook = Callable[[str, int, int], None]
_RESPONSE_BIT: Final = 0x80000000
_NO_ACTIVITY_COMMANDS: Final = frozenset(
    {CommandId.ENQUIRE_LINK, CommandId.ENQUIRE_LINK_RESP, CommandId.GENERIC_NACK}
)
#: Requests of the peer still served while we refuse the rest (refuse_requests, unbinding).
_SERVED_WHILE_CLOSING: Final = frozenset({CommandId.ENQUIRE_LINK, CommandId.UNBIND})


class SessionStateError(LocalProtocolError):
    """We tried to send something the session's state does not allow."""

    command_status = CommandStatus.ESME_RINVBNDSTS


class WindowFullError(LocalProtocolError):
    """Every window slot holds an outstanding request; wait for a response first."""

    command_status = CommandStatus.ESME_RTHROTTLED


@attrs.define
class _InFlight:
    request: Pdu
    deadline: float
    internal: bool  # sent by the session itself (keep-alive, unbind): no events for it
    windowed: bool  # counts against the window (enquire_link and unbind never do)


_new = object.__new__
_setattr = object.__setattr__


def _with_sequence(pdu: Pdu, seq: int) -> Pdu:
    """``attrs.evolve(pdu, sequence_number=seq)`` without re-running validators: the PDU
    was valid already and this is the hot path.

    PDUs are frozen attrs classes with an instance ``__dict__`` (``slots=False``) and no
    per-instance state besides their fields, so a copy of that dict with the new sequence
    number is the whole clone (what ``copy.copy`` does too, at ~5x the cost)."""
    if pdu.sequence_number == seq:
        return pdu
    clone = _new(type(pdu))
    values = pdu.__dict__.copy()
    values["sequence_number"] = seq
    _setattr(clone, "__dict__", values)
    return clone


def _response_id(command_id: int) -> int:
    return command_id | _RESPONSE_BIT


class Session:
    """One SMPP session; ``role`` is the side we play."""

    def __init__(
        self,
        role: Role,
        config: SessionConfig | None = None,
        *,
        now: float,
        on_pdu: PduHook | None = None,
    ) -> None:
        self.role: Final = role
        self._on_pdu_hook = on_pdu
        self.config: Final = config or SessionConfig()
        self._framer = Framer(self.config.max_command_length)
        self._state = SessionState.OPEN
        self._outbox = bytearray()
        self._events: collections.deque[Event] = collections.deque()
        self._in_flight: dict[int, _InFlight] = {}
        self._window_used = 0
        self._next_seq = self.config.first_sequence_number
        self._inbound: collections.Counter[int] = collections.Counter()
        self._inbound_total = 0  # == self._inbound.total(), kept (checked per request)
        self._inbound_bind: int | None = None  # SMSC role: seq of the bind awaiting our answer
        self._bind_sent = False  # ESME role: a bind of ours is outstanding
        self._unbinding = False
        self._refusal: int | None = None  # refuse_requests(): the status new requests get
        self._ended: EndReason | None = None
        self._enquire_outstanding = False
        self._created = now
        self._rx_now = now
        self._last_rx = now
        self._last_activity = now
        self._pdus_in = self._pdus_out = self._bytes_in = self._bytes_out = 0
        self._bad_pdus = self._rejected = self._unexpected = self._refused = 0

    # ------------------------------------------------------------------ properties
    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def ended(self) -> EndReason | None:
        """Why the session ended, once :class:`SessionEnded` was reported."""
        return self._ended

    @property
    def unbinding(self) -> bool:
        """True once our unbind is sent: no new requests until the session ends."""
        return self._unbinding

    @property
    def refusing(self) -> bool:
        """True once :meth:`refuse_requests` was called."""
        return self._refusal is not None

    @property
    def last_received(self) -> float:
        """When the peer last sent anything (a PDU, or bytes that failed to decode); the
        session's creation time before that. The clock of the ``now`` values given."""
        return self._last_rx

    @property
    def window_available(self) -> int:
        return self.config.window - self._window_used

    def statistics(self) -> SessionStatistics:
        return SessionStatistics(
            role=self.role,
            state=self._state,
            window_size=self.config.window,
            window_used=self._window_used,
            requests_in_flight=len(self._in_flight),
            inbound_pending=self._inbound_total,
            pdus_in=self._pdus_in,
            pdus_out=self._pdus_out,
            bytes_in=self._bytes_in,
            bytes_out=self._bytes_out,
            bad_pdus=self._bad_pdus,
            rejected_requests=self._rejected,
            refused_requests=self._refused,
            unexpected_responses=self._unexpected,
            last_activity=self._last_activity,
        )

    # ------------------------------------------------------------------ input
    def receive_data(self, data: bytes, now: float) -> None:
        """Buffer bytes from the peer; ``now`` is when they arrived."""
        if self._state is SessionState.CLOSED:
            return
        self._rx_now = now
        self._bytes_in += len(data)
        self._framer.receive_data(data)

    def next_event(self) -> Event | None:
        """The next event caused by received bytes, or None when more bytes are needed."""
        while True:
            if self._events:
                return self._events.popleft()
            if self._state is SessionState.CLOSED:
                return None
            item = self._framer.next_event()
            if item is None:
                return None
            if isinstance(item, DecodeFailure):
                self._on_decode_failure(item)
            else:
                self._on_pdu(item)

    def _on_pdu(self, pdu: Pdu) -> None:
        self._pdus_in += 1
        if self._on_pdu_hook is not None:
            self._on_pdu_hook("in", pdu.command_id, pdu.command_status)
        self._last_rx = self._rx_now
        if pdu.command_id not in _NO_ACTIVITY_COMMANDS:
            self._last_activity = self._rx_now
        if pdu.command_id & _RESPONSE_BIT:
            self._on_response(pdu)
        else:
            self._on_request(pdu)

    def _on_response(self, pdu: Pdu) -> None:
        entry = self._in_flight.get(pdu.sequence_number)
        if entry is None or pdu.command_id not in (
            _response_id(entry.request.command_id),
            CommandId.GENERIC_NACK,
        ):
            self._unexpected += 1
            self._events.append(UnexpectedResponse(pdu))
            return
        self._answered(pdu.sequence_number, entry)
        request = entry.request
        if (
            request.command_id in BIND_COMMANDS
            and pdu.command_status == CommandStatus.ESME_ROK
            and pdu.command_id != CommandId.GENERIC_NACK
        ):
            self._set_state(BIND_COMMANDS[CommandId(request.command_id)])
        if not entry.internal:
            self._events.append(ResponseReceived(request, pdu))
        if request.command_id == CommandId.UNBIND:
            self._unbound()

    def _answered(self, seq: int, entry: _InFlight) -> None:
        """Settle a request the peer answered (a response, a nack, or one that did not
        decode) and clear the flag its kind keeps while outstanding."""
        self._settle(seq)
        command = entry.request.command_id
        if command in BIND_COMMANDS:
            self._bind_sent = False
        elif command == CommandId.ENQUIRE_LINK:
            self._enquire_outstanding = False

    def _unbound(self) -> None:
        self._set_state(SessionState.UNBOUND)
        self._end(EndReason.UNBOUND)

    def _on_request(self, pdu: Pdu) -> None:
        command = pdu.command_id
        if self._refusal is not None and command not in _SERVED_WHILE_CLOSING:
            self._refused += 1
            self._reject(pdu, self._refusal)
            return
        sender = self.role.peer
        # While our unbind is outstanding only enquire_link and the peer's own unbind pass.
        after = (
            next_state(self._state, command, sender)
            if not self._unbinding or command in _SERVED_WHILE_CLOSING
            else None
        )
        if after is None:
            if (
                command in BIND_COMMANDS
                and sender is Role.ESME
                and (self._state in BOUND_STATES or self._inbound_bind is not None)
            ):
                self._reject(pdu, CommandStatus.ESME_RALYBND)
            else:
                self._reject(pdu, CommandStatus.ESME_RINVBNDSTS)
            return
        if command == CommandId.ENQUIRE_LINK:
            self._queue(pdu.response())
            return
        if command == CommandId.UNBIND:
            self._queue(pdu.response())
            self._set_state(SessionState.UNBOUND)
            self._end(EndReason.UNBOUND, "peer sent unbind")
            return
        if command in BIND_COMMANDS:
            if self._inbound_bind is not None:
                self._reject(pdu, CommandStatus.ESME_RALYBND)
                return
            self._inbound_bind = pdu.sequence_number
        elif command == CommandId.OUTBIND:
            self._set_state(after)
            self._events.append(RequestReceived(pdu))
            return
        has_response = type(pdu).response_class is not None
        if has_response:
            if self._inbound_total >= self.config.max_inbound_pending:
                if command in BIND_COMMANDS:
                    self._inbound_bind = None
                self._reject(pdu, CommandStatus.ESME_RTHROTTLED)
                return
            self._inbound[pdu.sequence_number] += 1
            self._inbound_total += 1
        self._events.append(RequestReceived(pdu))

    def _reject(self, pdu: Pdu, status: int) -> None:
        self._rejected += 1
        if type(pdu).response_class is not None:
            self._queue(pdu.response(command_status=status))
        self._events.append(RequestRejected(pdu, status))

    def _on_decode_failure(self, failure: DecodeFailure) -> None:
        self._bad_pdus += 1
        self._last_rx = self._rx_now
        seq = failure.sequence_number
        cid = failure.command_id
        answered = True
        if failure.fatal:
            self._queue(GenericNack(sequence_number=seq, command_status=failure.command_status))
        elif cid is None or not cid & _RESPONSE_BIT:
            cls = PDU_CLASSES.get(cid) if cid is not None else None
            response_class = getattr(cls, "response_class", None) if cls is not None else None
            if cls is None:
                self._queue(
                    GenericNack(sequence_number=seq, command_status=CommandStatus.ESME_RINVCMDID)
                )
            elif response_class is not None:
                status = failure.command_status
                self._queue(response_class(sequence_number=seq, command_status=status))
            else:
                answered = False  # outbind / alert_notification: no response exists
        else:
            answered = False  # never answer a response; fail the request it settles
            entry = self._in_flight.get(seq)
            if entry is not None and cid in (
                _response_id(entry.request.command_id),
                CommandId.GENERIC_NACK,
            ):
                self._answered(seq, entry)
                if not entry.internal:
                    detail = f"status {failure.command_status:#x}: {failure.error}"
                    self._events.append(
                        RequestFailed(entry.request, FailureReason.BAD_RESPONSE, detail)
                    )
                if entry.request.command_id == CommandId.UNBIND:
                    self._unbound()  # answered all the same: the handshake is over
        self._events.append(BadPdu(failure, answered))
        if failure.fatal:
            self._end(EndReason.FRAMING_LOST, str(failure.error))

    # ------------------------------------------------------------------ output
    def send_request(self, pdu: Pdu, now: float, *, timeout: float | None = None) -> Pdu:
        """Queue a request of ours; returns it with its sequence number set.

        Its outcome arrives as :class:`ResponseReceived` or :class:`RequestFailed`, also for
        an ``enquire_link`` or ``unbind`` the application sends itself.

        Raises :class:`SessionStateError` if the state forbids it, :class:`WindowFullError`
        when the window is full, :class:`LocalProtocolError` if it cannot be encoded.
        """
        return self._send_request(pdu, now, timeout=timeout, internal=False)

    def _send_request(self, pdu: Pdu, now: float, *, timeout: float | None, internal: bool) -> Pdu:
        command = pdu.command_id
        if self._state is SessionState.CLOSED or (
            self._ended is not None and self._state is not SessionState.UNBOUND
        ):
            raise SessionStateError(f"session ended ({self._ended or 'closed'})")
        if self._unbinding:
            raise SessionStateError("unbinding: no new requests")
        after = next_state(self._state, command, self.role)
        if after is None:
            raise SessionStateError(f"{CommandId(command).name} not allowed in {self._state.name}")
        if command in BIND_COMMANDS and self._bind_sent:
            raise SessionStateError("a bind is already outstanding")
        windowed = command not in (CommandId.ENQUIRE_LINK, CommandId.UNBIND)
        has_response = type(pdu).response_class is not None
        if has_response and windowed and self._window_used >= self.config.window:
            raise WindowFullError(f"window of {self.config.window} is full")
        seq = self._allocate_sequence()
        pdu = _with_sequence(pdu, seq)
        self._queue(pdu)  # encodes first: an invalid PDU raises before any bookkeeping
        if command not in _NO_ACTIVITY_COMMANDS:
            self._last_activity = now
        if not has_response:  # outbind / alert_notification
            if command == CommandId.OUTBIND:
                self._set_state(after)
            return pdu
        deadline = now + (timeout if timeout is not None else self.config.response_timeout)
        self._in_flight[seq] = _InFlight(pdu, deadline, internal, windowed)
        if windowed:
            self._window_used += 1
        if command in BIND_COMMANDS:
            self._bind_sent = True
        elif command == CommandId.UNBIND:
            self._unbinding = True
        elif command == CommandId.ENQUIRE_LINK:
            self._enquire_outstanding = True
        return pdu

    def refuse_requests(self, status: int) -> None:
        """Take no more requests: from now on every request the peer sends, whatever it is,
        is answered at once with ``status`` (and reported as :class:`RequestRejected`), except
        enquire_link and unbind, which are served as always. What a server that is stopping
        calls before it answers the requests it has already taken and unbinds: each request
        still gets an answer, none becomes new work. Requests received before the call stay
        the application's to answer. It lasts until the session ends (calling it again only
        changes the status)."""
        self._refusal = status

    def send_unbind(self, now: float) -> Pdu:
        """Start the unbind handshake (the session ends when unbind_resp arrives)."""
        return self._send_request(Unbind(), now, timeout=None, internal=True)

    def send_response(self, pdu: Pdu, now: float) -> None:
        """Queue our response to a request the peer sent (echoing its sequence number)."""
        if self._state is SessionState.CLOSED:
            raise SessionStateError("session closed")
        seq = pdu.sequence_number
        if not pdu.command_id & _RESPONSE_BIT or self._inbound[seq] <= 0:
            raise SessionStateError(f"no pending request with sequence_number {seq}")
        self._queue(pdu)
        self._inbound[seq] -= 1
        self._inbound_total -= 1
        if self._inbound[seq] <= 0:
            del self._inbound[seq]
        if pdu.command_id != CommandId.GENERIC_NACK:
            self._last_activity = now
        request_id = pdu.command_id & ~_RESPONSE_BIT
        if self._inbound_bind == seq and (
            request_id in BIND_COMMANDS or pdu.command_id == CommandId.GENERIC_NACK
        ):
            self._inbound_bind = None
            if pdu.command_status == CommandStatus.ESME_ROK and request_id in BIND_COMMANDS:
                self._set_state(BIND_COMMANDS[CommandId(request_id)])

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call (may be empty)."""
        data = bytes(self._outbox)
        self._outbox.clear()
        self._bytes_out += len(data)
        return data

    def _queue(self, pdu: Pdu) -> None:
        self._outbox += encode(pdu)
        self._pdus_out += 1
        if self._on_pdu_hook is not None:
            self._on_pdu_hook("out", pdu.command_id, pdu.command_status)

    def _allocate_sequence(self) -> int:
        seq = self._next_seq
        for _ in range(len(self._in_flight) + 1):
            if seq not in self._in_flight:
                break
            seq = seq + 1 if seq < MAX_SEQUENCE_NUMBER else 1
        self._next_seq = seq + 1 if seq < MAX_SEQUENCE_NUMBER else 1
        return seq

    def _settle(self, seq: int) -> None:
        entry = self._in_flight.pop(seq)
        if entry.windowed:
            self._window_used -= 1

    # ------------------------------------------------------------------ state
    def _set_state(self, new: SessionState) -> None:
        if new is not self._state:
            old, self._state = self._state, new
            self._events.append(StateChanged(old, new))

    def _end(self, reason: EndReason, detail: str = "") -> None:
        if self._ended is None:
            self._ended = reason
            self._events.append(SessionEnded(reason, detail))

    def connection_lost(self, reason: EndReason, detail: str = "") -> list[Event]:
        """The transport is gone: every request still in flight fails; state → CLOSED."""
        mark = len(self._events)
        self._end(reason, detail)
        events = self._take_events_since(mark)
        why = detail or (self._ended or reason).value
        for entry in self._in_flight.values():
            if not entry.internal:
                events.append(RequestFailed(entry.request, FailureReason.SESSION_CLOSED, why))
        self._in_flight.clear()
        self._window_used = 0
        self._inbound.clear()
        self._inbound_total = 0
        if self._state is not SessionState.CLOSED:
            events.append(StateChanged(self._state, SessionState.CLOSED))
            self._state = SessionState.CLOSED
        return events

    # ------------------------------------------------------------------ timers
    def next_deadline(self) -> float | None:
        """The earliest time :meth:`handle_timer` has something to do, or None."""
        if self._ended is not None or self._state is SessionState.CLOSED:
            return None
        candidates = [entry.deadline for entry in self._in_flight.values()]
        cfg = self.config
        in_init = self._state in (SessionState.OPEN, SessionState.OUTBOUND)
        if in_init and cfg.session_init_timeout is not None:
            candidates.append(self._created + cfg.session_init_timeout)
        may_enquire = (
            self._state in BOUND_STATES or cfg.enquire_link_before_bind
        ) and not self._unbinding  # handle_timer sends none while unbinding
        if cfg.enquire_link_interval is not None and not self._enquire_outstanding and may_enquire:
            candidates.append(self._last_rx + cfg.enquire_link_interval)
        if (
            cfg.inactivity_timeout is not None
            and self._state in BOUND_STATES
            and not self._unbinding
        ):
            candidates.append(self._last_activity + cfg.inactivity_timeout)
        return min(candidates, default=None)

    def handle_timer(self, now: float) -> list[Event]:
        """Act on every deadline that has passed by ``now``; returns the events caused."""
        if self._ended is not None or self._state is SessionState.CLOSED:
            return []
        mark = len(self._events)
        events: list[Event] = []
        for seq, entry in sorted(self._in_flight.items(), key=lambda kv: kv[1].deadline):
            if entry.deadline > now:
                continue
            self._settle(seq)
            command = entry.request.command_id
            if command == CommandId.ENQUIRE_LINK:
                self._enquire_outstanding = False
                self._end(EndReason.ENQUIRE_LINK_TIMEOUT)
            elif command == CommandId.UNBIND:
                self._end(EndReason.UNBIND_TIMEOUT)
            elif command in BIND_COMMANDS:
                self._bind_sent = False
            if not entry.internal:
                events.append(RequestFailed(entry.request, FailureReason.TIMEOUT, "no response"))
        cfg = self.config
        if (
            self._ended is None
            and self._state in (SessionState.OPEN, SessionState.OUTBOUND)
            and cfg.session_init_timeout is not None
            and now >= self._created + cfg.session_init_timeout
        ):
            self._end(EndReason.SESSION_INIT_TIMEOUT)
        if (
            self._ended is None
            and cfg.inactivity_timeout is not None
            and self._state in BOUND_STATES
            and not self._unbinding
            and now >= self._last_activity + cfg.inactivity_timeout
        ):
            self.send_unbind(now)
        if (
            self._ended is None
            and not self._unbinding
            and cfg.enquire_link_interval is not None
            and not self._enquire_outstanding
            and (self._state in BOUND_STATES or cfg.enquire_link_before_bind)
            and now >= self._last_rx + cfg.enquire_link_interval
        ):
            self._send_request(EnquireLink(), now, timeout=None, internal=True)
        events.extend(self._take_events_since(mark))
        return events

    def _take_events_since(self, mark: int) -> list[Event]:
        # Events queued by input processing (before ``mark``) stay for next_event().
        taken: list[Event] = []
        while len(self._events) > mark:
            taken.append(self._events.pop())
        taken.reverse()
        return taken
