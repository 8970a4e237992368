"""Property tests: decode(encode(pdu)) == pdu for generated instances of every PDU type
with random known and unknown TLVs; arbitrary bytes only ever raise our own errors."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.protocol import (
    PDU_CLASSES,
    TLV_SPECS,
    DistributionList,
    Pdu,
    SmeAddress,
    SmppError,
    Tlv,
    Tlvs,
    UnsuccessSme,
    decode,
    encode,
)
from smppcore.protocol.tlv import TlvKind

u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFFFFFF)
latin1 = st.characters(min_codepoint=1, max_codepoint=0xFF)


def cstr(max_octets: int) -> st.SearchStrategy[str]:
    return st.text(latin1, max_size=max_octets - 1)


times = st.one_of(st.just(""), st.text(latin1, min_size=16, max_size=16))

_LIMITS = {
    "system_id": 16, "password": 9, "system_type": 13, "address_range": 41,
    "service_type": 6, "message_id": 65, "dl_name": 21, "esme_addr": 65,
}  # fmt: skip


def _tlv_value(tag: int) -> st.SearchStrategy[Any]:
    spec = TLV_SPECS.get(tag)
    if spec is None:
        return st.binary(max_size=40)
    if spec.kind == TlvKind.INT:
        return st.integers(0, (1 << (8 * spec.size)) - 1)
    if spec.kind == TlvKind.CSTR:
        return cstr(spec.size)
    return st.binary(max_size=spec.size or 300)


known_tags = st.sampled_from(sorted(TLV_SPECS))
unknown_tags = st.integers(0, 0xFFFF).filter(lambda t: t not in TLV_SPECS)
tlv = st.one_of(known_tags, unknown_tags).flatmap(lambda t: _tlv_value(t).map(lambda v: Tlv(t, v)))
tlvs = st.lists(tlv, max_size=5).map(Tlvs)

dest = st.one_of(
    st.builds(SmeAddress, dest_addr_ton=u8, dest_addr_npi=u8, destination_addr=cstr(21)),
    st.builds(DistributionList, dl_name=cstr(21)),
)
unsuccess = st.builds(
    UnsuccessSme,
    dest_addr_ton=u8,
    dest_addr_npi=u8,
    destination_addr=cstr(21),
    error_status_code=u32,
)


def _field_strategy(cls: type[Pdu], field: attrs.Attribute[Any]) -> st.SearchStrategy[Any]:
    name = field.name
    if name in ("sequence_number", "command_status"):
        return u32
    if name == "tlvs":
        return tlvs
    if name == "short_message":
        return st.binary(max_size=254)
    if name == "dest_addresses":
        return st.lists(dest, min_size=1, max_size=5).map(tuple)
    if name == "unsuccess_smes":
        return st.lists(unsuccess, max_size=4).map(tuple)
    if name in ("schedule_delivery_time", "validity_period", "final_date"):
        return times
    if name in ("source_addr", "destination_addr"):
        return cstr(65 if cls.__name__ in ("DataSm", "AlertNotification") else 21)
    if field.type in (int, "int"):
        return u8
    return cstr(_LIMITS[name])


def pdus(cls: type[Pdu]) -> st.SearchStrategy[Pdu]:
    return st.builds(cls, **{f.name: _field_strategy(cls, f) for f in attrs.fields(cls)})


any_pdu = st.sampled_from(list(PDU_CLASSES.values())).flatmap(pdus)


@settings(max_examples=500, deadline=None)
@given(any_pdu)
def test_round_trip_every_pdu_type(pdu: Pdu) -> None:
    data = encode(pdu)
    assert len(data) == int.from_bytes(data[:4], "big")
    assert decode(data) == pdu


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bodies_raise_only_smpp_errors(body: bytes) -> None:
    for cid in PDU_CLASSES:
        data = (16 + len(body)).to_bytes(4, "big") + cid.to_bytes(4, "big") + bytes(8) + body
        try:
            pdu = decode(data)
        except SmppError:
            continue
        assert isinstance(pdu, Pdu)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_smpp_errors(data: bytes) -> None:
    try:
        decode(data)
    except SmppError:
        pass


@settings(max_examples=200, deadline=None)
@given(any_pdu, st.data())
def test_truncated_pdus_raise_only_smpp_errors(pdu: Pdu, data: st.DataObject) -> None:
    wire = encode(pdu)
    cut = data.draw(st.integers(16, len(wire)))
    short = cut.to_bytes(4, "big") + wire[4:cut]
    try:
        decode(short)
    except SmppError:
        pass
