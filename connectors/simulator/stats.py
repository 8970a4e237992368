"""What the simulator received and sent: live counters, snapshots and waits.

Owns: :class:`ReceivedMessage` (one submitted segment as the SMSC saw it),
:class:`SimulatorStats` (a frozen snapshot for tests and ``GET /stats``) and
:class:`Recorder`, the mutable counters the SMSC updates plus ``wait_for`` helpers.
Per destination the recorder keeps the ordered bodies it received, bounded both in
destinations and in messages per destination (oldest dropped first).
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio

from smppcore.protocol.segment import ConcatInfo
from smppcore.protocol.text import decode_text

__all__ = ["ReceivedMessage", "Recorder", "SimulatorStats"]


@attrs.frozen(kw_only=True)
class ReceivedMessage:
    """One submitted message (or segment) for one destination, in arrival order."""

    message_id: str
    command: str  #: "submit_sm", "data_sm" or "submit_multi"
    source_addr: str
    destination_addr: str
    data_coding: int
    esm_class: int
    body: bytes  #: short_message (or message_payload) as received, UDH included
    concat: ConcatInfo | None  #: from the UDH, or from the sar_* TLVs (ref_bits 16)
    text: str  #: the body without UDH, decoded by data_coding
    received_at: float  #: ``trio.current_time()`` when the submit arrived (monotonic)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready: the body as hex, the concatenation info as an object (or None)."""
        return {
            "message_id": self.message_id,
            "command": self.command,
            "source_addr": self.source_addr,
            "destination_addr": self.destination_addr,
            "data_coding": self.data_coding,
            "esm_class": self.esm_class,
            "body_hex": self.body.hex(),
            "concat": attrs.asdict(self.concat) if self.concat is not None else None,
            "text": self.text,
            "received_at": self.received_at,
        }


def make_received(
    *,
    message_id: str,
    command: str,
    source_addr: str,
    destination_addr: str,
    data_coding: int,
    esm_class: int,
    body: bytes,
    concat: ConcatInfo | None,
    payload: bytes,
    received_at: float,
) -> ReceivedMessage:
    """``payload`` is ``body`` without its UDH (see ``deliverables.read_concat``)."""
    return ReceivedMessage(
        message_id=message_id,
        command=command,
        source_addr=source_addr,
        destination_addr=destination_addr,
        data_coding=data_coding,
        esm_class=esm_class,
        body=body,
        concat=concat,
        text=decode_text(payload, data_coding),
        received_at=received_at,
    )


@attrs.frozen(kw_only=True)
class SimulatorStats:
    """A snapshot. Status and stat names are the SMPP names (``ESME_ROK``, ``DELIVRD``)."""

    binds: Mapping[str, int]  #: accepted binds by type: transmitter/receiver/transceiver
    bind_failures: int
    sessions_bound: int
    submits: Mapping[str, int]  #: answered submits by command_status name
    submits_dropped: int  #: submits that got no response (fault)
    submits_received: int  #: every submit seen, answered or not
    receipts_sent: Mapping[str, int]  #: acknowledged receipts by stat
    replies_sent: int  #: acknowledged MO messages (handset replies)
    deliveries_pending: int  #: receipts and replies waiting for a receiver
    deliveries_discarded: int  #: receipts and replies lost to a full queue
    disconnects_injected: int
    max_outstanding: int  #: the most requests any one session had unanswered at once
    max_outstanding_by_session: Mapping[int, int]

    @property
    def receipts_total(self) -> int:
        return sum(self.receipts_sent.values())

    def as_json(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["max_outstanding_by_session"] = {
            str(k): v for k, v in self.max_outstanding_by_session.items()
        }
        out["receipts_total"] = self.receipts_total
        return out


class Recorder:
    """Mutable counters; ``snapshot()`` freezes them into :class:`SimulatorStats`."""

    def __init__(self, *, max_destinations: int = 10_000, max_per_destination: int = 1_000) -> None:
        self.binds: Counter[str] = Counter()
        self.bind_failures = 0
        self.submits: Counter[str] = Counter()
        self.submits_dropped = 0
        self.submits_received = 0
        self.receipts_sent: Counter[str] = Counter()
        self.replies_sent = 0
        self.deliveries_discarded = 0
        self.disconnects_injected = 0
        self.max_outstanding: dict[int, int] = {}
        self._messages: OrderedDict[str, deque[ReceivedMessage]] = OrderedDict()
        self._max_destinations = max_destinations
        self._max_per_destination = max_per_destination
        self._waiters: list[tuple[Callable[[], bool], trio.Event]] = []

    # --- recording
    def record_message(self, message: ReceivedMessage) -> None:
        key = message.destination_addr
        bodies = self._messages.get(key)
        if bodies is None:
            if len(self._messages) >= self._max_destinations:
                self._messages.popitem(last=False)
            bodies = self._messages[key] = deque(maxlen=self._max_per_destination)
        else:
            self._messages.move_to_end(key)
        bodies.append(message)

    def note_outstanding(self, session_id: int, outstanding: int) -> None:
        if outstanding > self.max_outstanding.get(session_id, 0):
            self.max_outstanding[session_id] = outstanding

    def changed(self) -> None:
        """Wake the waiters whose condition now holds (call after every update)."""
        if not self._waiters:
            return
        still: list[tuple[Callable[[], bool], trio.Event]] = []
        for condition, event in self._waiters:
            if condition():
                event.set()
            else:
                still.append((condition, event))
        self._waiters = still

    # --- reading
    def messages(self, destination: str) -> tuple[ReceivedMessage, ...]:
        return tuple(self._messages.get(destination, ()))

    def destinations(self) -> tuple[str, ...]:
        return tuple(self._messages)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        if condition():
            return
        event = trio.Event()
        entry = (condition, event)
        self._waiters.append(entry)
        try:
            await event.wait()
        finally:
            if not event.is_set():  # cancelled: changed() still holds it, drop it
                self._waiters.remove(entry)

    def snapshot(self, *, sessions_bound: int, deliveries_pending: int) -> SimulatorStats:
        return SimulatorStats(
            binds=dict(self.binds),
            bind_failures=self.bind_failures,
            sessions_bound=sessions_bound,
            submits=dict(self.submits),
            submits_dropped=self.submits_dropped,
            submits_received=self.submits_received,
            receipts_sent=dict(self.receipts_sent),
            replies_sent=self.replies_sent,
            deliveries_pending=deliveries_pending,
            deliveries_discarded=self.deliveries_discarded,
            disconnects_injected=self.disconnects_injected,
            max_outstanding=max(self.max_outstanding.values(), default=0),
            max_outstanding_by_session=dict(self.max_outstanding),
        )
