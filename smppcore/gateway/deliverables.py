"""The return path's value conversions: deliver_sm PDUs <-> queued :class:`DeliveryItem`s.

Owns the one place each of these is done:

* :func:`tlv_bytes` / :func:`item_tlvs`: the TLVs as a :class:`DeliveryItem` stores them
  (wire bytes) and back;
* :func:`item_from_pdu`: a deliver_sm (or data_sm) as a queue item, its addresses, flags,
  user data and TLVs copied as they are;
* :func:`to_deliver_sm`: the deliver_sm that carries a queue item to a client (or that a
  stored reply part came as);
* :func:`as_deliver_sm`: a data_sm from an operator as the equivalent deliver_sm;
* :func:`receipt_deliver_sm`: a receipt's deliver_sm (esm_class 0x04, from the original
  destination back to the original source), used for the gateway's receipts to its clients
  and for the SMSC simulator's receipts alike;
* :func:`user_data`: ``message_payload`` if present, else ``short_message``;
* :func:`read_concat`: the concatenation information of received user data (UDH when UDHI is
  set, else the ``sar_*`` values), as :class:`~smppcore.protocol.segment.ConcatInfo`.

Pure functions over frozen values: no I/O, no clock.
"""

from __future__ import annotations

from typing import Final

from smppcore.protocol.pdu import DataSm, DeliverSm
from smppcore.protocol.segment import ConcatInfo, UdhError, parse_udh
from smppcore.protocol.tlv import EMPTY_TLVS, Tlvs, decode_tlvs, encode_tlvs
from smppcore.store.base import DeliveryItem, DeliveryKind, ReplyPart

__all__ = [
    "ESM_RECEIPT",
    "ESM_UDHI",
    "Party",
    "as_deliver_sm",
    "item_from_pdu",
    "item_tlvs",
    "read_concat",
    "receipt_deliver_sm",
    "tlv_bytes",
    "to_deliver_sm",
    "user_data",
]

#: esm_class of an SMSC delivery receipt (message type bits 2-5 = 0001).
ESM_RECEIPT: Final = 0x04
#: esm_class UDH indicator.
ESM_UDHI: Final = 0x40

#: An SMPP address as ``(addr, ton, npi)``.
Party = tuple[str, int, int]


def tlv_bytes(tlvs: Tlvs) -> bytes:
    """The wire form of ``tlvs`` (what :attr:`DeliveryItem.tlvs` holds)."""
    out: list[bytes] = []
    encode_tlvs(tlvs, out)
    return b"".join(out)


def item_tlvs(item: DeliveryItem | ReplyPart) -> Tlvs:
    """The TLVs a queue item (or a stored reply part) holds, decoded."""
    return decode_tlvs(item.tlvs, 0, len(item.tlvs)) if item.tlvs else EMPTY_TLVS


def user_data(pdu: DeliverSm | DataSm) -> bytes:
    """``message_payload`` when present, else ``short_message`` (a data_sm has none)."""
    payload = pdu.tlvs.message_payload
    if payload is not None:
        return payload
    return pdu.short_message if isinstance(pdu, DeliverSm) else b""


def to_deliver_sm(item: DeliveryItem | ReplyPart) -> DeliverSm:
    """The deliver_sm that carries ``item`` to the client (for a stored reply part: the
    deliver_sm the operator sent)."""
    return DeliverSm(
        source_addr_ton=item.source_addr_ton,
        source_addr_npi=item.source_addr_npi,
        source_addr=item.source_addr,
        dest_addr_ton=item.dest_addr_ton,
        dest_addr_npi=item.dest_addr_npi,
        destination_addr=item.destination_addr,
        esm_class=item.esm_class,
        protocol_id=item.protocol_id,
        data_coding=item.data_coding,
        short_message=item.short_message,
        tlvs=item_tlvs(item),
    )


def item_from_pdu(
    pdu: DeliverSm | DataSm,
    *,
    id: str,
    account: str,
    kind: DeliveryKind,
    created_at: float,
    expires_at: float,
    message_id: str = "",
    lease_owner: str = "",
    lease_until: float = 0.0,
) -> DeliveryItem:
    """``pdu`` as a queue item of ``account``: addresses, flags, user data and TLVs as they
    are (a data_sm has no ``protocol_id`` or ``short_message``: 0 and empty); leased to
    ``lease_owner`` until ``lease_until`` when given (an item to be pushed)."""
    if isinstance(pdu, DeliverSm):
        protocol_id, short_message = pdu.protocol_id, pdu.short_message
    else:
        protocol_id, short_message = 0, b""
    return DeliveryItem(
        id=id,
        account=account,
        kind=kind,
        source_addr=pdu.source_addr,
        source_addr_ton=pdu.source_addr_ton,
        source_addr_npi=pdu.source_addr_npi,
        destination_addr=pdu.destination_addr,
        dest_addr_ton=pdu.dest_addr_ton,
        dest_addr_npi=pdu.dest_addr_npi,
        esm_class=pdu.esm_class,
        protocol_id=protocol_id,
        data_coding=pdu.data_coding,
        short_message=short_message,
        tlvs=tlv_bytes(pdu.tlvs),
        message_id=message_id,
        created_at=created_at,
        expires_at=expires_at,
        lease_until=lease_until,
        lease_owner=lease_owner,
    )


def as_deliver_sm(pdu: DeliverSm | DataSm) -> DeliverSm:
    """A data_sm as the deliver_sm with the same addresses, flags and TLVs (its user data is
    in ``message_payload``); a deliver_sm as it is."""
    if isinstance(pdu, DeliverSm):
        return pdu
    return DeliverSm(
        service_type=pdu.service_type,
        source_addr_ton=pdu.source_addr_ton,
        source_addr_npi=pdu.source_addr_npi,
        source_addr=pdu.source_addr,
        dest_addr_ton=pdu.dest_addr_ton,
        dest_addr_npi=pdu.dest_addr_npi,
        destination_addr=pdu.destination_addr,
        esm_class=pdu.esm_class,
        data_coding=pdu.data_coding,
        tlvs=pdu.tlvs,
    )


def receipt_deliver_sm(
    *, original_source: Party, original_destination: Party, short_message: bytes, tlvs: Tlvs
) -> DeliverSm:
    """A delivery receipt: from the handset (the message's destination) back to the message's
    source, ``esm_class`` 0x04, with the receipt text and/or TLVs given."""
    src_addr, src_ton, src_npi = original_destination
    dst_addr, dst_ton, dst_npi = original_source
    return DeliverSm(
        source_addr_ton=src_ton,
        source_addr_npi=src_npi,
        source_addr=src_addr,
        dest_addr_ton=dst_ton,
        dest_addr_npi=dst_npi,
        destination_addr=dst_addr,
        esm_class=ESM_RECEIPT,
        short_message=short_message,
        tlvs=tlvs,
    )


def read_concat(
    esm_class: int, body: bytes, sar: tuple[int | None, int | None, int | None]
) -> tuple[ConcatInfo | None, bytes]:
    """The concatenation info of received user data and the data without its UDH.

    With UDHI set in ``esm_class`` (and data present): the UDH's concatenation IE (None
    when it has none, or when the UDH is malformed; then ``body`` comes back whole).
    Otherwise the ``sar`` values ``(sar_msg_ref_num, sar_total_segments,
    sar_segment_seqnum)`` when all three are present, as a ConcatInfo with ``ref_bits`` 16
    (not range-checked: callers decide what a usable part is)."""
    if esm_class & ESM_UDHI and body:
        try:
            return parse_udh(body)
        except UdhError:
            return None, body
    ref, total, seq = sar
    if ref is None or total is None or seq is None:
        return None, body
    return ConcatInfo(reference=ref, total=total, seq=seq, ref_bits=16), body
