# ruff: noqa: E501  (golden vectors read best one per line)
"""Golden hex vectors for every PDU type (encode and decode) and the lenient/strict
decode rules of reference §1.1, §3, §7.1 and §10.6."""

from __future__ import annotations

import pytest

from smppcore.protocol import (
    PDU_CLASSES,
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    CommandId,
    CommandStatus,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    DistributionList,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    InvalidCommandId,
    InvalidCommandLength,
    InvalidDestFlag,
    InvalidField,
    InvalidMessageLength,
    InvalidTlvStream,
    LocalProtocolError,
    Outbind,
    Pdu,
    QuerySm,
    QuerySmResp,
    RemoteProtocolError,
    ReplaceSm,
    ReplaceSmResp,
    SmeAddress,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Tlvs,
    Unbind,
    UnbindResp,
    UnsuccessSme,
    decode,
    encode,
)


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def wire(command_id: int, status: int, seq: int, body: str = "") -> str:
    """Header (with the right command_length) + body, as hex."""
    raw = h(body)
    return f"{16 + len(raw):08X} {command_id:08X} {status:08X} {seq:08X} {raw.hex()}"


GOLDEN: list[tuple[Pdu, str]] = [
    # reference §1.6 worked examples
    (EnquireLink(sequence_number=7), "00000010 00000015 00000000 00000007"),
    (EnquireLinkResp(sequence_number=7), "00000010 80000015 00000000 00000007"),
    (GenericNack(sequence_number=42, command_status=3), "00000010 80000000 00000003 0000002A"),
    (
        BindTransceiver(sequence_number=1, system_id="esme1", password="pw"),
        "0000001E 00000009 00000000 00000001 65736D653100 707700 00 34 00 00 00",
    ),
    (
        SubmitSm(
            sequence_number=2, source_addr_ton=5, source_addr="Acme", dest_addr_ton=1,
            dest_addr_npi=1, destination_addr="447700900123", registered_delivery=1,
            short_message=b"Hi",
        ),
        "00000033 00000004 00000000 00000002 00 05 00 41636D6500"
        " 01 01 34343737303039303031323300 00 00 00 00 00 01 00 00 00 02 4869",
    ),
    (
        SubmitSm(
            sequence_number=2,
            tlvs=Tlvs.of(sar_msg_ref_num=0x1234, sar_total_segments=3, sar_segment_seqnum=1),
        ),
        wire(4, 0, 2, "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
        " 020C00021234 020E000103 020F000101"),
    ),
    # every other PDU type
    (
        BindReceiver(
            sequence_number=1, system_id="esme1", password="pw", system_type="VMS",
            addr_ton=1, addr_npi=1, address_range="44",
        ),
        "00000023 00000001 00000000 00000001 65736d653100 707700 564d5300 34 01 01 343400",
    ),
    (
        BindTransmitter(sequence_number=1, system_id="esme1", password="pw"),
        "0000001e 00000002 00000000 00000001 65736d653100 707700 00 34 00 00 00",
    ),
    (BindReceiverResp(sequence_number=1, system_id="smsc"), "00000015 80000001 00000000 00000001 736d736300"),
    (
        BindTransmitterResp(sequence_number=1, system_id="smsc", tlvs=Tlvs.of(sc_interface_version=0x34)),
        "0000001a 80000002 00000000 00000001 736d736300 0210000134",
    ),
    (BindTransceiverResp(sequence_number=1, system_id="smsc"), "00000015 80000009 00000000 00000001 736d736300"),
    (BindTransceiverResp(sequence_number=1, command_status=0x0D), "00000010 80000009 0000000D 00000001"),
    (Outbind(sequence_number=5, system_id="smsc", password="pw"), "00000018 0000000b 00000000 00000005 736d736300 707700"),
    (Unbind(sequence_number=9), "00000010 00000006 00000000 00000009"),
    (UnbindResp(sequence_number=9), "00000010 80000006 00000000 00000009"),
    (SubmitSmResp(sequence_number=2, message_id="abc123"), "00000017 80000004 00000000 00000002 61626331323300"),
    (SubmitSmResp(sequence_number=2, command_status=0x58), "00000010 80000004 00000058 00000002"),
    (
        DeliverSm(
            sequence_number=3, source_addr_ton=1, source_addr_npi=1, source_addr="447700900123",
            esm_class=4, short_message=b"id:1 stat:DELIVRD",
            tlvs=Tlvs.of(receipted_message_id="1", message_state=2),
        ),
        "00000049 00000005 00000000 00000003 00 01 01 34343737303039303031323300 00 00 00"
        " 04 00 00 00 00 00 00 00 00 11 69643a3120737461743a44454c49565244"
        " 001e00023100 0427000102",
    ),
    (DeliverSmResp(sequence_number=3), "00000011 80000005 00000000 00000003 00"),
    (
        DataSm(
            sequence_number=4, source_addr="a", destination_addr="b", registered_delivery=1,
            data_coding=8, tlvs=Tlvs.of(message_payload=b"\x00H"),
        ),
        "00000022 00000103 00000000 00000004 00 00 00 6100 00 00 6200 00 01 08 042400020048",
    ),
    (DataSmResp(sequence_number=4, message_id="m1"), "00000013 80000103 00000000 00000004 6d3100"),
    (
        SubmitMulti(
            sequence_number=6, source_addr="S",
            dest_addresses=(
                SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="4477"),
                DistributionList(dl_name="dl"),
            ),
            short_message=b"x",
        ),
        "0000002d 00000021 00000000 00000006 00 00 00 5300 02 01 01 01 3434373700 02 646c00"
        " 00 00 00 00 00 00 00 00 00 01 78",
    ),
    (
        SubmitMultiResp(
            sequence_number=6, message_id="m2",
            unsuccess_smes=(
                UnsuccessSme(dest_addr_ton=1, dest_addr_npi=1, destination_addr="4477", error_status_code=0xB),
            ),
        ),
        "0000001f 80000021 00000000 00000006 6d3200 01 01 01 3434373700 0000000b",
    ),
    (
        QuerySm(sequence_number=7, message_id="m1", source_addr_ton=1, source_addr_npi=1, source_addr="44"),
        "00000018 00000003 00000000 00000007 6d3100 01 01 343400",
    ),
    (
        QuerySmResp(sequence_number=7, message_id="m1", final_date="250630143000004+", message_state=2),
        "00000026 80000003 00000000 00000007 6d3100 3235303633303134333030303030342b00 02 00",
    ),
    (
        CancelSm(sequence_number=8, message_id="m1", source_addr="44", destination_addr="55"),
        "0000001e 00000008 00000000 00000008 00 6d3100 00 00 343400 00 00 353500",
    ),
    (CancelSmResp(sequence_number=8), "00000010 80000008 00000000 00000008"),
    (
        ReplaceSm(
            sequence_number=10, message_id="m1", source_addr="44", validity_period="000001000000000R",
            registered_delivery=1, short_message=b"new",
        ),
        "00000030 00000007 00000000 0000000a 6d3100 00 00 343400 00"
        " 30303030303130303030303030303052 00 01 00 03 6e6577",
    ),
    (ReplaceSmResp(sequence_number=10), "00000010 80000007 00000000 0000000a"),
    (
        AlertNotification(
            sequence_number=11, source_addr_ton=1, source_addr_npi=1, source_addr="4477", esme_addr="e"
        ),
        "0000001b 00000102 00000000 0000000b 01 01 3434373700 00 00 6500",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pdu", "wire"), GOLDEN, ids=lambda v: type(v).__name__ if isinstance(v, Pdu) else ""
)
def test_golden_encode(pdu: Pdu, wire: str) -> None:
    assert encode(pdu) == h(wire)


@pytest.mark.parametrize(
    ("pdu", "wire"), GOLDEN, ids=lambda v: type(v).__name__ if isinstance(v, Pdu) else ""
)
def test_golden_decode(pdu: Pdu, wire: str) -> None:
    assert decode(h(wire)) == pdu


def test_golden_vectors_cover_every_pdu_class() -> None:
    assert {type(p) for p, _ in GOLDEN} == set(PDU_CLASSES.values())


def test_response_pairs_sequence_and_status() -> None:
    req = SubmitSm(sequence_number=77, destination_addr="1")
    resp = req.response(message_id="x")
    assert resp == SubmitSmResp(sequence_number=77, message_id="x")
    assert EnquireLink(sequence_number=3).response(8) == EnquireLinkResp(
        sequence_number=3, command_status=8
    )
    with pytest.raises(TypeError):
        Outbind().response()
    for cid, cls in PDU_CLASSES.items():
        assert cls.command_id == cid
        if cls.response_class is not None:
            assert cls.response_class.command_id == cid | 0x80000000


# --- lenient decode ---------------------------------------------------------------------------


def test_deliver_sm_resp_of_16_octets() -> None:
    assert decode(h("00000010 80000005 00000000 00000003")) == DeliverSmResp(sequence_number=3)


def test_error_response_with_or_without_body() -> None:
    bare = decode(h("00000010 80000004 00000045 00000002"))
    assert bare == SubmitSmResp(sequence_number=2, command_status=0x45)
    with_body = decode(h("00000011 80000004 00000045 00000002 00"))
    assert with_body == bare
    # an undecodable body of an error response is ignored
    garbage = decode(h(wire(0x80000004, 0x45, 2, "00 41")))
    assert garbage == bare


def test_missing_final_nul_at_end_of_body() -> None:
    assert decode(h("00000013 80000004 00000000 00000002 616263")) == SubmitSmResp(
        sequence_number=2, message_id="abc"
    )


def test_unknown_and_vendor_tlvs_are_kept_byte_for_byte() -> None:
    data = h(wire(0x80000004, 0, 2, "6100 1400 0003 010203 8081 0000 0428 0001 50"))
    pdu = decode(data)
    assert pdu.tlvs.get(0x1400) == b"\x01\x02\x03"
    assert pdu.tlvs.get(0x8081) == b""
    assert pdu.tlvs.congestion_state == 80
    assert encode(pdu) == data


def test_int_tlv_decoded_by_received_length() -> None:
    # source_telematics_id is Int 1 in the spec; some peers send 2 octets
    data = h(wire(0x80000004, 0, 2, "00 0010 0002 0001 0427 0001 02"))
    assert decode(data).tlvs.source_telematics_id == 1
    assert decode(data).tlvs.message_state == 2
    # a known Int TLV with an impossible length is an error with ESME_RINVPARLEN
    bad = _err(wire(0x80000004, 0, 2, "00 0427 0005 0102030405"))
    assert bad.command_status == CommandStatus.ESME_RINVPARLEN


# --- decode errors carry status, command_id, sequence_number ---------------------------------


def _err(wire: str) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        decode(h(wire))
    return info.value


def test_unknown_command_id() -> None:
    err = _err("00000010 00000077 00000000 00000005")
    assert isinstance(err, InvalidCommandId)
    assert (err.command_status, err.command_id, err.sequence_number) == (3, 0x77, 5)


def test_length_mismatch_and_short_pdu() -> None:
    assert isinstance(_err("00000011 00000015 00000000 00000001"), InvalidCommandLength)
    with pytest.raises(InvalidCommandLength):
        decode(b"\x00\x00\x00\x0c" + bytes(8))


def test_tlv_stream_errors() -> None:
    stray = _err(wire(0x15, 0, 9, "020C00"))  # 3 stray octets
    assert isinstance(stray, InvalidTlvStream)
    overrun = _err(wire(0x80000004, 0, 2, "00 020C 0009 12"))
    assert isinstance(overrun, InvalidTlvStream)
    assert overrun.command_status == CommandStatus.ESME_RINVOPTPARSTREAM
    assert overrun.command_id == CommandId.SUBMIT_SM_RESP and overrun.sequence_number == 2


def test_over_long_received_fields_get_field_status() -> None:
    src21 = "31" * 21
    err = _err(wire(4, 0, 0x11, f"00 01 01 {src21}00 01 01 3100 00 00 00 00 00 00 00 00 00 00"))
    assert isinstance(err, InvalidField)
    assert err.command_status == CommandStatus.ESME_RINVSRCADR
    assert (err.command_id, err.sequence_number) == (CommandId.SUBMIT_SM, 0x11)
    sched = _err(
        wire(4, 0, 0x12, "00 00 00 00 00 00 00 00 00 00 3235303633303134333000 00 00 00 00 00 00")
    )
    assert sched.command_status == CommandStatus.ESME_RINVSCHED
    sysid = _err(wire(9, 0, 1, "41" * 16 + "00 00 00 34 00 00 00"))
    assert sysid.command_status == CommandStatus.ESME_RINVSYSID


def test_truncated_request_body() -> None:
    err = _err(wire(4, 0, 3, "00 01 01 4142"))  # source_addr runs off the end
    assert err.command_status == CommandStatus.ESME_RINVSRCADR
    sm = _err(wire(4, 0, 3, "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 05 4869"))
    assert isinstance(sm, InvalidMessageLength)
    assert sm.command_id == CommandId.SUBMIT_SM and sm.sequence_number == 3


def test_submit_multi_bad_dest_flag() -> None:
    err = _err(wire(0x21, 0, 4, "00 00 00 00 01 07 00 00 00"))
    assert isinstance(err, InvalidDestFlag)
    assert err.command_status == CommandStatus.ESME_RINVDESTFLAG


# --- encode limits: never truncate -------------------------------------------------------------


@pytest.mark.parametrize(
    "pdu",
    [
        SubmitSm(source_addr="1" * 21),
        SubmitSm(destination_addr="1" * 21),
        SubmitSm(service_type="ABCDEF"),
        SubmitSm(schedule_delivery_time="2506301430"),
        SubmitSm(validity_period="000001000000000R0"),
        SubmitSm(short_message=b"x" * 255),
        SubmitSm(esm_class=256),
        SubmitSm(source_addr="caf\u00e9\u20ac"),
        SubmitSm(source_addr="a\0b"),
        BindTransmitter(system_id="x" * 16),
        BindTransmitter(password="x" * 9),
        SubmitSmResp(message_id="m" * 65),
        SubmitMulti(dest_addresses=()),
        SubmitSm(sequence_number=1 << 32),
        SubmitSm(tlvs=Tlvs.of(sar_total_segments=256)),
        SubmitSm(tlvs=Tlvs.of(receipted_message_id="r" * 65)),
    ],
    ids=repr,
)
def test_encode_rejects_invalid_values(pdu: Pdu) -> None:
    with pytest.raises(LocalProtocolError):
        encode(pdu)


def test_encode_accepts_field_maxima() -> None:
    pdu = SubmitSm(
        service_type="ABCDE", source_addr="1" * 20, destination_addr="2" * 20,
        schedule_delivery_time="250630143000004+", short_message=b"x" * 254,
    )  # fmt: skip
    assert decode(encode(pdu)) == pdu
