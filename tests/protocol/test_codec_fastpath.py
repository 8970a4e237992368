"""Differential tests: the generated fast paths agree with the generic codec byte for byte
and error for error, and they really are taken for the common PDUs."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.protocol import PDU_CLASSES, DeliverSm, Pdu, SmppError, SubmitSm, Tlvs, codec

from .test_codec_roundtrip import any_pdu


def _outcome(fn: Any, arg: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(arg)
    except SmppError as exc:
        status = getattr(exc, "command_status", None)
        cid = getattr(exc, "command_id", None)
        seq = getattr(exc, "sequence_number", None)
        return "err", (type(exc), status, cid, seq)


def test_fast_paths_exist_and_are_taken() -> None:
    assert SubmitSm in codec._FAST_ENCODE and DeliverSm in codec._FAST_ENCODE
    sm = SubmitSm(sequence_number=7, source_addr="a", destination_addr="b", short_message=b"x")
    wire = codec._FAST_ENCODE[SubmitSm](sm)
    assert wire is not None and wire == codec._encode_generic(sm)
    receipt = DeliverSm(esm_class=4, tlvs=Tlvs.of(receipted_message_id="1", message_state=2))
    wire = codec._FAST_ENCODE[DeliverSm](receipt)
    assert wire is not None
    back = codec._FAST_DECODE[int(DeliverSm.command_id)](wire, len(wire), 0, 0)
    assert back == receipt and type(back) is DeliverSm


# Field values that break limits, so the fast encoder must step aside or agree on the error.
_odd_str = st.one_of(
    st.text(max_size=70), st.just("a\0b"), st.just("x" * 16), st.integers(0, 3), st.none()
)
_odd_int = st.one_of(st.integers(-2, 300), st.integers(0, 2**33), st.just("1"))


@st.composite
def _odd_pdus(draw: st.DrawFn) -> Pdu:
    pdu = draw(any_pdu)
    changes: dict[str, Any] = {}
    for f in attrs.fields(type(pdu)):
        if draw(st.integers(0, 9)):
            continue
        if f.name == "short_message":
            changes[f.name] = draw(st.one_of(st.binary(max_size=300), st.text(max_size=3)))
        elif f.type in (int, "int"):
            changes[f.name] = draw(_odd_int)
        elif f.type in (str, "str"):
            changes[f.name] = draw(_odd_str)
    d = dict(pdu.__dict__)
    d.update(changes)
    out = object.__new__(type(pdu))
    object.__setattr__(out, "__dict__", d)  # bypass nothing but attrs' (absent) validators
    return out


@settings(max_examples=300, deadline=None)
@given(st.one_of(any_pdu, _odd_pdus()))
def test_encode_agrees_with_generic(pdu: Pdu) -> None:
    assert _outcome(codec.encode, pdu) == _outcome(codec._encode_generic, pdu)


@settings(max_examples=300, deadline=None)
@given(any_pdu, st.data())
def test_decode_agrees_with_generic_on_mutations(pdu: Pdu, data: st.DataObject) -> None:
    wire = bytearray(codec.encode(pdu))
    for _ in range(data.draw(st.integers(0, 4))):
        at = data.draw(st.integers(16, max(16, len(wire))))
        op = data.draw(st.integers(0, 3))
        octet = data.draw(st.sampled_from([0, 1, 16, 0x41, 0xFF]))
        nuls = [i for i in range(16, len(wire)) if wire[i] == 0]
        if op == 3 and nuls:  # lengthen a C-string: hits the exact field limits
            at = data.draw(st.sampled_from(nuls))
            wire[at:at] = b"A" * data.draw(st.integers(1, 2))
        elif op == 0 and at < len(wire):
            wire[at] = octet
        elif op == 1:
            wire.insert(at, octet)
        elif at < len(wire):
            del wire[at]
    wire[0:4] = len(wire).to_bytes(4, "big")
    raw = bytes(wire)
    assert _outcome(codec.decode, raw) == _outcome(codec._decode_generic, raw)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(PDU_CLASSES)), st.binary(max_size=120))
def test_decode_agrees_with_generic_on_arbitrary_bodies(cid: int, body: bytes) -> None:
    raw = (16 + len(body)).to_bytes(4, "big") + cid.to_bytes(4, "big") + bytes(8) + body
    assert _outcome(codec.decode, raw) == _outcome(codec._decode_generic, raw)


def test_decode_agrees_at_every_string_limit() -> None:
    """Every C-string/time field at its limit and one octet over, for every fast class."""
    for cid, cls in PDU_CLASSES.items():
        if cid not in codec._FAST_DECODE:
            continue
        for item in codec._LAYOUTS[cls.__name__]:
            if item[0] not in ("c", "t"):
                continue
            sizes = (item[2] - 2, item[2] - 1) if item[0] == "c" else (0, 16)
            for size in sizes:
                wire = bytearray(codec.encode(cls(**{item[1]: "A" * size})))  # type: ignore[arg-type]
                at = wire.index(b"A" * size) if size else None
                for extra in (0, 1):
                    raw = bytearray(wire)
                    if at is not None and extra:
                        raw[at:at] = b"A"
                    raw[0:4] = len(raw).to_bytes(4, "big")
                    got = _outcome(codec.decode, bytes(raw))
                    assert got == _outcome(codec._decode_generic, bytes(raw)), (cls, item, size)
