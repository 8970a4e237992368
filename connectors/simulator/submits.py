"""What a submit carries, as the simulator reads it to judge, record and report on it.

Owns: :data:`SUBMIT_NAMES` (the submit commands), :class:`SubmitContent` and
:func:`read_submit` (the user data, ``sar_*`` values and concatenation info of a
submit_sm, data_sm or submit_multi: what the fault switches look at) and :func:`accepted`
(for an accepted submit, per destination, the :class:`~.stats.ReceivedMessage` to record and
the :class:`~.outbound.SubmittedMessage` a receipt reports on).
Pure functions: no I/O, no clock (times are arguments).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

import attrs

from smppcore.gateway.deliverables import read_concat
from smppcore.protocol.pdu import DataSm, Pdu, SmeAddress, SubmitMulti, SubmitSm
from smppcore.protocol.segment import ConcatInfo

from .outbound import SubmittedMessage
from .stats import ReceivedMessage, make_received

__all__ = ["SUBMIT_NAMES", "AnySubmit", "SubmitContent", "accepted", "read_submit"]

AnySubmit = SubmitSm | DataSm | SubmitMulti

SUBMIT_NAMES: Final[Mapping[type[Pdu], str]] = {
    SubmitSm: "submit_sm",
    DataSm: "data_sm",
    SubmitMulti: "submit_multi",
}
_SAR: Final = ("msg_ref_num", "total_segments", "segment_seqnum")


@attrs.frozen
class SubmitContent:
    """A submit's user data: ``body`` (short_message, else message_payload; UDH included),
    its ``sar_*`` values, its concatenation info and ``payload`` (the body without UDH)."""

    body: bytes
    sar: tuple[int, int, int] | None
    concat: ConcatInfo | None
    payload: bytes


def read_submit(request: AnySubmit) -> SubmitContent:
    body = b"" if isinstance(request, DataSm) else request.short_message
    if not body:
        payload = request.tlvs.get("message_payload")
        body = payload if isinstance(payload, bytes) else b""
    sar: tuple[int, int, int] | None = None
    ref, total, seq = (request.tlvs.get(f"sar_{n}") for n in _SAR)
    if isinstance(ref, int) and isinstance(total, int) and isinstance(seq, int):
        sar = (ref, total, seq)
    concat, without_udh = read_concat(request.esm_class, body, sar or (None, None, None))
    return SubmitContent(body=body, sar=sar, concat=concat, payload=without_udh)


def accepted(
    request: AnySubmit,
    content: SubmitContent,
    *,
    message_id: str,
    system_id: str,
    received_at: float,
    submitted_at: datetime,
) -> list[tuple[ReceivedMessage, SubmittedMessage]]:
    """Per destination (one, or each SME address of a submit_multi): what to record and
    what a receipt for it reports on.  ``received_at`` is monotonic, ``submitted_at`` the
    wall-clock date receipts show."""
    if isinstance(request, SubmitMulti):
        targets = [
            (d.dest_addr_ton, d.dest_addr_npi, d.destination_addr)
            for d in request.dest_addresses
            if isinstance(d, SmeAddress)
        ]
    else:
        targets = [(request.dest_addr_ton, request.dest_addr_npi, request.destination_addr)]
    out: list[tuple[ReceivedMessage, SubmittedMessage]] = []
    for ton, npi, address in targets:
        received = make_received(
            message_id=message_id,
            command=SUBMIT_NAMES[type(request)],
            source_addr=request.source_addr,
            destination_addr=address,
            data_coding=request.data_coding,
            esm_class=request.esm_class,
            body=content.body,
            concat=content.concat,
            payload=content.payload,
            received_at=received_at,
        )
        submitted = SubmittedMessage(
            message_id=message_id,
            system_id=system_id,
            source_addr_ton=request.source_addr_ton,
            source_addr_npi=request.source_addr_npi,
            source_addr=request.source_addr,
            dest_addr_ton=ton,
            dest_addr_npi=npi,
            destination_addr=address,
            registered_delivery=request.registered_delivery,
            text_preview=received.text[:20],
            submitted_at=submitted_at,
        )
        out.append((received, submitted))
    return out
