"""From a queued message to the submit_sm PDUs that carry it.

Owns :func:`build_submits`. The payload in the store is the whole user data, already encoded
for its ``data_coding``: GSM 03.38 septets one per octet (unpacked) for 0, UCS2 for 8,
Latin-1 for 3, anything else is treated as 8-bit data. A message longer than one part is
split with :mod:`smppcore.protocol.segment` (8-bit concatenation UDH by default; 16-bit UDH,
SAR TLVs or one ``message_payload`` by option) - never inside a GSM escape pair or a UTF-16
surrogate pair. The concatenation reference is derived from our message id, so a message
that is submitted again after a retry carries the same reference.

A message whose ``esm_class`` already has UDHI set is sent as given, in one part.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from smppcore.protocol.pdu import SubmitSm
from smppcore.protocol.segment import SplitMode, split_binary, split_encoded
from smppcore.protocol.text import EncodedText, TextEncoding
from smppcore.protocol.tlv import EMPTY_TLVS, Tlvs, decode_tlvs
from smppcore.store.base import MtMessage

__all__ = ["build_submits", "concat_reference", "validity_period"]

_UDHI = 0x40
_TEXT_ENCODINGS = {0: TextEncoding.GSM7, 3: TextEncoding.LATIN1, 8: TextEncoding.UCS2}


def concat_reference(message_id: str) -> int:
    """A stable 16-bit reference for one message (reduced to 8 bits for UDH8)."""
    return int.from_bytes(hashlib.blake2s(message_id.encode(), digest_size=2).digest(), "big")


def validity_period(validity_until: float) -> str:
    """Absolute SMPP time in UTC (``YYMMDDhhmmss000+``), or "" for no limit."""
    if validity_until <= 0:
        return ""
    return time.strftime("%y%m%d%H%M%S", time.gmtime(validity_until)) + "000+"


def build_submits(message: MtMessage, mode: SplitMode = SplitMode.UDH8) -> list[SubmitSm]:
    """The submit_sm PDUs for ``message``, in order (segment 1 first)."""
    extra = decode_tlvs(message.tlvs, 0, len(message.tlvs)) if message.tlvs else EMPTY_TLVS
    common: dict[str, Any] = {
        "service_type": message.service_type,
        "source_addr_ton": message.source_addr_ton,
        "source_addr_npi": message.source_addr_npi,
        "source_addr": message.source_addr,
        "dest_addr_ton": message.dest_addr_ton,
        "dest_addr_npi": message.dest_addr_npi,
        "destination_addr": message.destination_addr,
        "protocol_id": message.protocol_id,
        "priority_flag": message.priority,
        "validity_period": validity_period(message.validity_until),
        "registered_delivery": message.registered_delivery,
        "data_coding": message.data_coding,
    }
    if (
        message.esm_class & _UDHI
        or extra.get("message_payload") is not None
        or len(message.payload) <= _single_limit(message.data_coding)
    ):
        # Sent as given. For a payload that fits one part this is exactly what the split
        # below returns (one segment, no UDH, no SAR, in every mode), without its cost.
        return [SubmitSm(esm_class=message.esm_class, short_message=message.payload,
                         tlvs=extra, **common)]  # fmt: skip
    return split_submits(message, mode, extra, common)


def _single_limit(data_coding: int) -> int:
    """Octets of stored payload that fit one part: 160 unpacked GSM septets for 0, 140
    octets otherwise (Latin-1, UCS2, 8-bit data)."""
    return 160 if data_coding == 0 else 140


def split_submits(
    message: MtMessage, mode: SplitMode, extra: Tlvs, common: dict[str, Any]
) -> list[SubmitSm]:
    """The general case of :func:`build_submits`: segmentation by the protocol splitter."""
    reference = concat_reference(message.id)
    encoding = _TEXT_ENCODINGS.get(message.data_coding)
    if encoding is not None:
        split = split_encoded(
            EncodedText(encoding, message.payload), mode=mode, reference=reference,
            data_coding=message.data_coding,
        )  # fmt: skip
    else:
        split = split_binary(
            message.payload, mode=mode, reference=reference, data_coding=message.data_coding
        )
    out: list[SubmitSm] = []
    for seg in split.segments:
        tlvs: Tlvs = extra
        if seg.sar is not None:
            tlvs = tlvs.with_(
                sar_msg_ref_num=seg.sar.msg_ref_num,
                sar_total_segments=seg.sar.total_segments,
                sar_segment_seqnum=seg.sar.segment_seqnum,
            )
        if seg.message_payload is not None:
            tlvs = tlvs.with_(message_payload=seg.message_payload)
        esm = message.esm_class | (_UDHI if seg.esm_class_udhi else 0)
        out.append(SubmitSm(esm_class=esm, short_message=seg.short_message, tlvs=tlvs, **common))
    return out
