"""What the simulator received and sent: live counters, snapshots and waits.

Owns: :class:`ReceivedMessage` (one submitted segment as the SMSC saw it),
:class:`SimulatorStats` (a frozen snapshot for tests and ``GET /stats``) and
:class:`Recorder`, the mutable counters the SMSC updates plus ``wait_for`` helpers.
Per destination the recorder keeps the ordered bodies it received, bounded both in
destinations and in messages per destination (oldest dropped first).

Duplicates: a submit (or one destination of a submit_multi) is an accepted duplicate when
the simulator accepts for the same destination the same user data again (short_message or
message_payload, UDH included) with the same ``sar_*`` values: a part sent twice, or a
message in one piece sent twice with the same text.  The recorder remembers a digest per
accepted (destination, data) pair, the latest ``max_remembered`` of them.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio

from smppcore.protocol.enums import status_name
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
    submits: Mapping[str, int]  #: answered submits by command_status name (``status_name``)
    submits_dropped: int  #: submits that got no response (fault)
    answers_lost: int  #: accepted submits whose response was never sent (fault)
    submits_frozen: int  #: submits read while frozen: not accepted, never answered
    submits_received: int  #: every submit seen, answered or not (frozen ones included)
    accepted_duplicates: int  #: acceptances of data already accepted for that destination
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

    def answered(self, command_status: int) -> int:
        """How many submits were answered with ``command_status`` (0: accepted)."""
        return self.submits.get(status_name(command_status), 0)

    def as_json(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["max_outstanding_by_session"] = {
            str(k): v for k, v in self.max_outstanding_by_session.items()
        }
        out["receipts_total"] = self.receipts_total
        return out


class Recorder:
    """Mutable counters; ``snapshot()`` freezes them into :class:`SimulatorStats`."""

    def __init__(
        self,
        *,
        max_destinations: int = 10_000,
        max_per_destination: int = 1_000,
        max_remembered: int = 100_000,
    ) -> None:
        self.binds: Counter[str] = Counter()
        self.bind_failures = 0
        self.submits: Counter[str] = Counter()
        self.submits_dropped = 0
        self.answers_lost = 0
        self.submits_frozen = 0
        self.submits_received = 0
        self.accepted_duplicates = 0
        self._accepted: OrderedDict[bytes, None] = OrderedDict()  # digests, oldest first
        self._max_remembered = max_remembered
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
        """Keep an accepted message (segment) and count it if it is a duplicate."""
        self._note_accepted(message)
        key = message.destination_addr
        bodies = self._messages.get(key)
        if bodies is None:
            if len(self._messages) >= self._max_destinations:
                self._messages.popitem(last=False)
            bodies = self._messages[key] = deque(maxlen=self._max_per_destination)
        else:
            self._messages.move_to_end(key)
        bodies.append(message)

    def _note_accepted(self, message: ReceivedMessage) -> None:
        digest = hashlib.blake2b(digest_size=16)
        digest.update(message.destination_addr.encode("utf-8", "surrogateescape") + b"\0")
        concat = message.concat
        if concat is not None:  # for a UDH part this repeats the body; for SAR it is not in it
            numbers = (concat.ref_bits, concat.reference, concat.total, concat.seq)
            digest.update(b"%d,%d,%d,%d\0" % numbers)
        digest.update(message.body)
        key = digest.digest()
        if key in self._accepted:
            self.accepted_duplicates += 1
            self._accepted.move_to_end(key)
            return
        if len(self._accepted) >= self._max_remembered:
            self._accepted.popitem(last=False)
        self._accepted[key] = None

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
            answers_lost=self.answers_lost,
            submits_frozen=self.submits_frozen,
            submits_received=self.submits_received,
            accepted_duplicates=self.accepted_duplicates,
            receipts_sent=dict(self.receipts_sent),
            replies_sent=self.replies_sent,
            deliveries_pending=deliveries_pending,
            deliveries_discarded=self.deliveries_discarded,
            disconnects_injected=self.disconnects_injected,
            max_outstanding=max(self.max_outstanding.values(), default=0),
            max_outstanding_by_session=dict(self.max_outstanding),
        )
