"""Framer: whole PDUs out of arbitrary chunkings, bounded buffering, fatal framing errors."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.protocol import (
    CommandId,
    CommandStatus,
    DecodeFailure,
    DeliverSm,
    EnquireLink,
    Framer,
    Pdu,
    SmppError,
    SubmitSm,
    SubmitSmResp,
    Tlvs,
    encode,
)

PDUS: list[Pdu] = [
    EnquireLink(sequence_number=1),
    SubmitSm(sequence_number=2, destination_addr="447700900123", short_message=b"hello"),
    SubmitSmResp(sequence_number=2, message_id="abc"),
    DeliverSm(
        sequence_number=3, esm_class=4, tlvs=Tlvs.of(receipted_message_id="abc", message_state=2)
    ),
]
STREAM = b"".join(encode(p) for p in PDUS)


def drain(framer: Framer) -> list[Pdu | DecodeFailure]:
    events: list[Pdu | DecodeFailure] = []
    while (event := framer.next_event()) is not None:
        events.append(event)
        assert len(events) < 10_000
    return events


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=30))
def test_any_chunking_yields_the_same_pdus(cuts: list[int]) -> None:
    framer = Framer()
    events: list[Pdu | DecodeFailure] = []
    for chunk in chunked(STREAM, cuts):
        framer.receive_data(chunk)
        events += drain(framer)
    assert events == PDUS
    assert framer.buffered == 0


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=20), st.integers(16, 400))
def test_garbage_never_raises_hangs_or_overbuffers(chunks: list[bytes], max_len: int) -> None:
    framer = Framer(max_command_length=max_len)
    fatal_seen = False
    for chunk in chunks:
        framer.receive_data(chunk)
        for event in drain(framer):
            assert not fatal_seen, "no events after a fatal failure"
            if isinstance(event, DecodeFailure):
                assert isinstance(event.error, SmppError)
                fatal_seen = fatal_seen or event.fatal
        assert framer.buffered <= max_len


def test_bad_length_is_fatal_before_the_body_arrives() -> None:
    framer = Framer(max_command_length=1000)
    framer.receive_data((5000).to_bytes(4, "big"))
    failure = framer.next_event()
    assert isinstance(failure, DecodeFailure) and failure.fatal
    assert failure.command_status == CommandStatus.ESME_RINVCMDLEN
    assert failure.sequence_number == 0 and failure.command_id is None
    framer.receive_data(encode(EnquireLink(sequence_number=5)))
    assert framer.next_event() is None
    assert framer.buffered == 0


def test_too_short_length_reports_readable_header() -> None:
    framer = Framer()
    framer.receive_data(bytes.fromhex("0000000c 00000004 00000000 00000009"))
    failure = framer.next_event()
    assert isinstance(failure, DecodeFailure) and failure.fatal
    assert (failure.command_id, failure.sequence_number) == (CommandId.SUBMIT_SM, 9)


def test_http_on_the_smpp_port() -> None:
    framer = Framer()
    framer.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    failure = framer.next_event()
    assert isinstance(failure, DecodeFailure) and failure.fatal


def test_non_fatal_failures_keep_the_stream() -> None:
    framer = Framer()
    unknown = bytes.fromhex("00000010 00000077 00000000 0000000b")
    broken_tlv = bytes.fromhex("00000013 00000015 00000000 0000000c 020c00")
    framer.receive_data(unknown + broken_tlv + encode(EnquireLink(sequence_number=13)))
    first, second, third = drain(framer)
    assert isinstance(first, DecodeFailure) and not first.fatal
    assert (first.command_id, first.sequence_number, first.command_status) == (0x77, 11, 3)
    assert isinstance(second, DecodeFailure) and not second.fatal
    assert second.command_status == CommandStatus.ESME_RINVOPTPARSTREAM
    assert (second.command_id, second.sequence_number) == (CommandId.ENQUIRE_LINK, 12)
    assert third == EnquireLink(sequence_number=13)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, len(STREAM)), max_size=30),
    st.lists(st.booleans(), min_size=31, max_size=31),
    st.lists(st.sampled_from([bytes, bytearray]), min_size=31, max_size=31),
)
def test_chunks_fed_without_draining_and_as_bytearray(
    cuts: list[int], drain_after: list[bool], kinds: list[type]
) -> None:
    """Feeding several reads before draining, partly consumed buffers and bytearray input
    (the framer keeps a received bytes object as its buffer until a partial PDU is left)."""
    framer = Framer()
    events: list[Pdu | DecodeFailure] = []
    for chunk, flush, kind in zip(chunked(STREAM, cuts), drain_after, kinds, strict=False):
        framer.receive_data(kind(chunk))
        if flush and (event := framer.next_event()) is not None:  # one event, leave the rest
            events.append(event)
    events += drain(framer)
    assert events == PDUS
    assert framer.buffered == 0
    assert all(type(getattr(e, "short_message", b"")) is bytes for e in events)
