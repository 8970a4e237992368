"""The session's cheap re-numbering of a PDU is ``attrs.evolve(pdu, sequence_number=...)``:
same type, fields, equality, hash, repr and wire bytes; the original untouched; still frozen."""

from __future__ import annotations

import attrs
import pytest

from smppcore.protocol.codec import decode, encode
from smppcore.protocol.pdu import PDU_CLASSES, Pdu, SmeAddress, SubmitMulti, SubmitSm
from smppcore.protocol.session import _with_sequence
from smppcore.protocol.tlv import Tlvs


def _check(pdu: Pdu, seq: int) -> None:
    before = encode(pdu)
    clone = _with_sequence(pdu, seq)
    expected = attrs.evolve(pdu, sequence_number=seq)
    assert type(clone) is type(expected)
    assert clone == expected and hash(clone) == hash(expected)
    assert repr(clone) == repr(expected)
    assert encode(clone) == encode(expected)
    assert clone.sequence_number == seq
    assert encode(pdu) == before  # the original is unchanged
    if pdu.sequence_number != seq:
        assert clone is not pdu and clone != pdu
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        clone.sequence_number = 1  # type: ignore[misc]


@pytest.mark.parametrize("cls", sorted(PDU_CLASSES.values(), key=lambda c: int(c.command_id)))
def test_every_pdu_class(cls: type[Pdu]) -> None:
    pdu = cls(sequence_number=5)
    if isinstance(pdu, SubmitMulti):  # one destination at least, or it cannot be encoded
        pdu = attrs.evolve(pdu, dest_addresses=(SmeAddress(destination_addr="447700900001"),))
    _check(pdu, 9)
    _check(pdu, 5)  # same number: the PDU itself
    assert _with_sequence(pdu, 5) is pdu
    decoded = decode(encode(pdu))  # the codec installs the instance dict itself
    _check(decoded, 0x7FFFFFFF)


def test_a_submit_with_fields_and_tlvs() -> None:
    pdu = SubmitSm(
        sequence_number=3,
        source_addr="12345",
        destination_addr="447700900001",
        short_message=b"hi",
        tlvs=Tlvs.of(user_message_reference=7),
    )
    _check(pdu, 4)
    _check(decode(encode(pdu)), 4)
