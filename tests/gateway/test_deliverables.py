"""The return path's conversions: one place each, round trips hold."""

from __future__ import annotations

from smppcore.gateway.deliverables import (
    as_deliver_sm,
    item_from_pdu,
    read_concat,
    receipt_deliver_sm,
    to_deliver_sm,
    user_data,
)
from smppcore.protocol.pdu import DataSm, DeliverSm
from smppcore.protocol.segment import ConcatInfo
from smppcore.protocol.tlv import Tlvs
from smppcore.store.base import DeliveryKind


def test_item_round_trip_keeps_every_carried_field() -> None:
    pdu = DeliverSm(
        source_addr_ton=2, source_addr_npi=9, source_addr="0821234567",
        dest_addr_ton=1, dest_addr_npi=1, destination_addr="27831234567",
        esm_class=0x40, protocol_id=0x7F, data_coding=0x08,
        short_message=b"\x05\x00\x03\x01\x02\x01\x00A",
        tlvs=Tlvs.of(receipted_message_id="abc", message_state=2),
    )  # fmt: skip
    item = item_from_pdu(
        pdu, id="i", account="acme", kind=DeliveryKind.MO, created_at=1.0, expires_at=2.0
    )
    assert (item.id, item.account, item.created_at, item.expires_at) == ("i", "acme", 1.0, 2.0)
    assert to_deliver_sm(item) == pdu


def test_data_sm_becomes_the_equivalent_deliver_sm() -> None:
    data = DataSm(source_addr="1", destination_addr="2", esm_class=0x04,
                  tlvs=Tlvs.of(message_payload=b"hi"))  # fmt: skip
    pdu = as_deliver_sm(data)
    assert (pdu.source_addr, pdu.destination_addr, pdu.esm_class) == ("1", "2", 0x04)
    assert user_data(pdu) == user_data(data) == b"hi"
    assert (
        item_from_pdu(
            data, id="x", account="a", kind=DeliveryKind.RECEIPT, created_at=0, expires_at=0
        ).short_message
        == b""
    )


def test_receipt_swaps_addresses() -> None:
    pdu = receipt_deliver_sm(
        original_source=("100", 1, 1),
        original_destination=("200", 2, 9),
        short_message=b"id:1",
        tlvs=Tlvs(),
    )
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("200", 2, 9)
    assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == ("100", 1, 1)
    assert pdu.esm_class == 0x04


def test_read_concat_udh_sar_and_malformed() -> None:
    udh = b"\x05\x00\x03\x07\x02\x01"
    assert read_concat(0x40, udh + b"A", (None, None, None)) == (ConcatInfo(7, 2, 1, 8), b"A")
    assert read_concat(0x40, b"\x09\x00", (1, 2, 1)) == (None, b"\x09\x00")  # malformed UDH
    assert read_concat(0, b"A", (9, 3, 2)) == (ConcatInfo(9, 3, 2, 16), b"A")
    assert read_concat(0, b"A", (9, None, 2)) == (None, b"A")
