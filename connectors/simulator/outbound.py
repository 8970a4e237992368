"""The PDUs the simulator sends to ESMEs: delivery receipts and handset replies (MO).

Owns: :class:`Outcomes` (weighted choice of the receipt ``stat``), :func:`wants_receipt`
(the registered_delivery rule), :func:`build_receipt` (text form, TLV form or both, as a
deliver_sm with esm_class 0x04 and swapped addresses, built by the same
:func:`~smppcore.gateway.deliverables.receipt_deliver_sm` as the gateway's own receipts)
and :func:`build_mo` (a handset reply as one deliver_sm, or several with a concatenation
UDH when the text is long).
Pure functions: no I/O, no clock (dates are arguments).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import attrs

from smppcore.gateway.deliverables import ESM_UDHI, receipt_deliver_sm
from smppcore.protocol.enums import MessageState
from smppcore.protocol.pdu import DeliverSm
from smppcore.protocol.receipt import format_receipt
from smppcore.protocol.segment import SplitMode, split_text
from smppcore.protocol.tlv import Tlvs

__all__ = [
    "FAILURE_STATES",
    "STAT_STATES",
    "Outcomes",
    "ReceiptForm",
    "SubmittedMessage",
    "build_mo",
    "build_receipt",
    "wants_receipt",
]

ReceiptForm = Literal["text", "tlv", "both"]

#: The receipt ``stat:`` words the config may name, and their message_state.
STAT_STATES: Mapping[str, MessageState] = {
    "DELIVRD": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN,
    "REJECTD": MessageState.REJECTED,
    "ENROUTE": MessageState.ENROUTE,
}

#: Outcomes that count as a failure for registered_delivery 0x02 ("on failure only").
FAILURE_STATES = frozenset(
    {
        MessageState.EXPIRED,
        MessageState.DELETED,
        MessageState.UNDELIVERABLE,
        MessageState.UNKNOWN,
        MessageState.REJECTED,
    }
)


class Outcomes:
    """Draws a receipt outcome with the configured weights."""

    def __init__(self, weights: Mapping[str, float], rng: random.Random) -> None:
        items = [(STAT_STATES[stat], float(w)) for stat, w in weights.items() if w > 0]
        if not items:
            raise ValueError("at least one outcome needs a weight greater than 0")
        self._states = [state for state, _ in items]
        self._weights = [weight for _, weight in items]
        self._rng = rng

    def draw(self) -> MessageState:
        if len(self._states) == 1:
            return self._states[0]
        return self._rng.choices(self._states, self._weights)[0]


def wants_receipt(registered_delivery: int, state: MessageState) -> bool:
    """Bits 0-1 of registered_delivery: 1 always, 2 on failure only (reference §5.2.17)."""
    bits = registered_delivery & 0x03
    return bits == 1 or (bits == 2 and state in FAILURE_STATES)


@attrs.frozen(kw_only=True)
class SubmittedMessage:
    """What a receipt needs to know about the message it reports on."""

    message_id: str
    system_id: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    registered_delivery: int
    text_preview: str
    submitted_at: datetime


def build_receipt(
    message: SubmittedMessage, state: MessageState, *, form: ReceiptForm, done_at: datetime
) -> DeliverSm:
    """The receipt deliver_sm: from the handset (original destination) to the original source."""
    short_message = b""
    if form in ("text", "both"):
        text = format_receipt(
            message.message_id,
            state=state,
            submit_date=message.submitted_at,
            done_date=done_at,
            err="000" if state is MessageState.DELIVERED else "001",
            text=message.text_preview,
        )
        short_message = text.encode("ascii", errors="replace")
    tlvs = Tlvs()
    if form in ("tlv", "both"):
        tlvs = Tlvs.of(receipted_message_id=message.message_id, message_state=int(state))
    return receipt_deliver_sm(
        original_source=(message.source_addr, message.source_addr_ton, message.source_addr_npi),
        original_destination=(
            message.destination_addr,
            message.dest_addr_ton,
            message.dest_addr_npi,
        ),
        short_message=short_message,
        tlvs=tlvs,
    )


def build_mo(
    source_addr: str,
    destination_addr: str,
    text: str,
    *,
    reference: int,
    source_ton: int = 1,
    source_npi: int = 1,
    dest_ton: int = 1,
    dest_npi: int = 1,
) -> list[DeliverSm]:
    """A handset reply: one deliver_sm (esm_class 0), or one per part with a concatenation
    UDH (8-bit ``reference``, esm_class 0x40) when the text does not fit one message."""
    split = split_text(text, mode=SplitMode.UDH8, reference=reference & 0xFF)
    return [
        DeliverSm(
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            source_addr=source_addr,
            dest_addr_ton=dest_ton,
            dest_addr_npi=dest_npi,
            destination_addr=destination_addr,
            esm_class=ESM_UDHI if segment.esm_class_udhi else 0,
            data_coding=segment.data_coding,
            short_message=segment.short_message,
        )
        for segment in split.segments
    ]
