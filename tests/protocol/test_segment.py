"""Segmentation (reference §9.4-9.7) and UDH parsing."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.protocol.gsm7 import (
    BASIC_TABLE,
    ESC,
    EXTENSION_TABLE,
    decode_gsm7,
    fill_bits_for_udh,
    unpack_septets,
)
from smppcore.protocol.segment import (
    ConcatInfo,
    MessageTooLong,
    SarInfo,
    SplitMessage,
    SplitMode,
    UdhError,
    build_concat_udh,
    iter_udh_elements,
    parse_udh,
    split_binary,
    split_text,
)
from smppcore.protocol.text import TextEncoding, decode_text

GSM_CHARS = "".join(c for i, c in enumerate(BASIC_TABLE) if i != ESC) + "".join(
    EXTENSION_TABLE.values()
)


def join(message: SplitMessage) -> bytes:
    """What a receiver gets back: UDHs and SAR values checked and removed, parts joined."""
    out = []
    for seg in message.segments:
        if seg.message_payload is not None:
            assert seg.short_message == b""
            out.append(seg.message_payload)
        elif seg.esm_class_udhi:
            concat, body = parse_udh(seg.short_message)
            assert concat is not None
            assert (concat.reference, concat.total, concat.seq) == (
                message.reference,
                seg.total,
                seg.index,
            )
            out.append(body)
        else:
            if seg.total > 1:
                assert seg.sar == SarInfo(message.reference or 0, seg.total, seg.index)
            out.append(seg.short_message)
    return b"".join(out)


def reassemble(message: SplitMessage) -> str:
    return decode_text(join(message), message.data_coding)


def test_short_text_is_one_plain_segment_in_every_mode() -> None:
    for mode in SplitMode:
        msg = split_text("a" * 160, mode=mode)
        assert msg.total == 1
        (seg,) = msg.segments
        assert seg.short_message == b"a" * 160
        assert not seg.esm_class_udhi
        assert seg.sar is None
        assert seg.data_coding == 0
        assert msg.reference is None


@pytest.mark.parametrize(
    ("text", "mode", "sizes"),
    [
        ("a" * 161, SplitMode.UDH8, [153, 8]),
        ("a" * 306, SplitMode.UDH8, [153, 153]),
        ("a" * 307, SplitMode.UDH16, [152, 152, 3]),
        ("a" * 161, SplitMode.SAR, [153, 8]),
        ("я" * 71, SplitMode.UDH8, [134, 8]),
        ("я" * 71, SplitMode.UDH16, [132, 10]),
        ("я" * 140, SplitMode.SAR, [134, 134, 12]),
    ],
)
def test_segment_sizes(text: str, mode: SplitMode, sizes: list[int]) -> None:
    msg = split_text(text, mode=mode, reference=7)
    udh = {SplitMode.UDH8: 6, SplitMode.UDH16: 7, SplitMode.SAR: 0}[mode]
    assert [len(s.short_message) - udh for s in msg.segments] == sizes
    assert [s.index for s in msg.segments] == list(range(1, len(sizes) + 1))
    assert all(s.total == len(sizes) for s in msg.segments)


def test_udh8_vector() -> None:
    msg = split_text("a" * 200, reference=0x1A2)
    assert msg.reference == 0xA2
    assert msg.segments[0].short_message[:6] == bytes.fromhex("050003A20201")
    assert msg.segments[1].short_message[:6] == bytes.fromhex("050003A20202")
    assert all(s.esm_class_udhi and s.sar is None for s in msg.segments)


def test_udh16_vector() -> None:
    msg = split_text("a" * 200, mode=SplitMode.UDH16, reference=0x1234)
    assert msg.segments[1].short_message[:7] == bytes.fromhex("06080412340202")


def test_sar_values_and_no_udh() -> None:
    msg = split_text("a" * 200, mode=SplitMode.SAR, reference=0x1234)
    assert [s.sar for s in msg.segments] == [SarInfo(0x1234, 2, 1), SarInfo(0x1234, 2, 2)]
    assert not any(s.esm_class_udhi for s in msg.segments)
    assert msg.segments[0].short_message == b"a" * 153


def test_payload_mode_puts_everything_in_message_payload() -> None:
    msg = split_text("€" * 100, mode=SplitMode.PAYLOAD)
    (seg,) = msg.segments
    assert seg.short_message == b""
    assert seg.message_payload == b"\x1be" * 100
    assert reassemble(msg) == "€" * 100


def test_reference_generator_called_only_when_split() -> None:
    counter = itertools.count(300)
    assert split_text("short", new_reference=counter.__next__).reference is None
    assert split_text("a" * 200, new_reference=counter.__next__).reference == 300 & 0xFF
    assert (
        split_text("a" * 200, new_reference=counter.__next__, mode=SplitMode.SAR).reference == 301
    )


def test_long_message_without_reference_is_an_error() -> None:
    with pytest.raises(ValueError):
        split_text("a" * 200)


def test_escape_pair_never_split() -> None:
    text = "a" * 152 + "€" + "b" * 10
    msg = split_text(text, reference=1)
    first = msg.segments[0].short_message[6:]
    assert first == b"a" * 152
    assert msg.segments[1].short_message[6:] == b"\x1be" + b"b" * 10
    assert reassemble(msg) == text


def test_surrogate_pair_never_split() -> None:
    text = "я" * 66 + "😀" + "я" * 5
    msg = split_text(text, reference=1)
    assert len(msg.segments[0].short_message) == 6 + 132
    assert msg.segments[1].short_message[6:8] == bytes.fromhex("D83D")
    assert reassemble(msg) == text


def test_too_many_parts() -> None:
    split_text("a" * 153 * 255, reference=1)
    with pytest.raises(MessageTooLong):
        split_text("a" * (153 * 255 + 1), reference=1)
    with pytest.raises(MessageTooLong):
        split_text("a" * 400, reference=1, max_parts=2)


def test_forced_latin1_and_data_coding() -> None:
    msg = split_text("é" * 141, encoding=TextEncoding.LATIN1, reference=3)
    assert msg.data_coding == 3
    assert [len(s.short_message) for s in msg.segments] == [140, 13]
    assert reassemble(msg) == "é" * 141


def test_binary_split() -> None:
    data = bytes(range(256)) + bytes(30)
    msg = split_binary(data, reference=9, data_coding=0xF6)
    assert msg.encoding is None
    assert [s.data_coding for s in msg.segments] == [0xF6] * 3
    assert [len(s.short_message) for s in msg.segments] == [140, 140, 24]
    assert join(msg) == data
    assert split_binary(bytes(140)).segments[0].short_message == bytes(140)


def test_packed_gsm_with_udh_fill_bits() -> None:
    text = "hello " * 30  # 180 septets
    msg = split_text(text, packed=True, reference=5)
    septets = []
    for seg in msg.segments:
        concat, body = parse_udh(seg.short_message)
        assert concat is not None
        count = 153 if concat.seq == 1 else 180 - 153
        septets.append(unpack_septets(body, count, fill_bits_for_udh(6)))
        # 6-octet UDH + 1 fill bit = 7 septets: total fits 160 septets = 140 octets.
        assert len(seg.short_message) <= 140
    assert decode_gsm7(b"".join(septets)) == text


def test_packed_single_message() -> None:
    msg = split_text("hello", packed=True)
    assert msg.segments[0].short_message == bytes.fromhex("E8329BFD06")
    with pytest.raises(ValueError):
        split_text("я", packed=True)


def test_parse_udh_8_and_16_bit() -> None:
    assert parse_udh(bytes.fromhex("050003A20201") + b"xy") == (ConcatInfo(0xA2, 2, 1, 8), b"xy")
    assert parse_udh(bytes.fromhex("06080412340302") + b"z") == (ConcatInfo(0x1234, 3, 2, 16), b"z")


def test_parse_udh_skips_other_elements() -> None:
    # Port addressing 16-bit (IEI 05) before the concat IE, then a language shift (IEI 25).
    udh = bytes.fromhex("0E0504 0B8400000003 0703012501 01")
    assert parse_udh(udh + b"body") == (ConcatInfo(7, 3, 1, 8), b"body")
    assert [iei for iei, _ in iter_udh_elements(udh)] == [0x05, 0x00, 0x25]


@pytest.mark.parametrize("ie", ["000307 0001", "000307 0100", "000307 0203", "000307 0000"])
def test_invalid_concat_ie_is_ignored(ie: str) -> None:
    body = bytes.fromhex(ie.replace(" ", ""))
    assert parse_udh(bytes([len(body)]) + body + b"t") == (None, b"t")


def test_parse_udh_last_valid_concat_wins_and_wrong_length_ignored() -> None:
    elements = bytes.fromhex("000301020100020102080412340302")
    udh = bytes([len(elements)]) + elements
    assert parse_udh(udh) == (ConcatInfo(0x1234, 3, 2, 16), b"")


@pytest.mark.parametrize("data", ["", "05000301", "0300050102", "020003"])
def test_malformed_udh_raises_udh_error(data: str) -> None:
    with pytest.raises(UdhError):
        parse_udh(bytes.fromhex(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=160))
def test_parse_udh_only_raises_udh_error(data: bytes) -> None:
    try:
        concat, body = parse_udh(data)
    except UdhError:
        return
    assert len(body) < len(data)
    if concat is not None:
        assert 1 <= concat.seq <= concat.total


def test_build_concat_udh_validates() -> None:
    with pytest.raises(ValueError):
        build_concat_udh(1, 0, 1)
    with pytest.raises(ValueError):
        build_concat_udh(1, 2, 3)
    with pytest.raises(ValueError):
        build_concat_udh(1, 2, 1, ref_bits=12)


def check_split(text: str, mode: SplitMode, allow_latin1: bool) -> None:
    msg = split_text(text, mode=mode, reference=0xBEEF, allow_latin1=allow_latin1)
    assert reassemble(msg) == text
    assert all(seg.data_coding == msg.data_coding for seg in msg.segments)
    if msg.total == 1 and mode is SplitMode.PAYLOAD:
        return
    for seg in msg.segments:
        body = parse_udh(seg.short_message)[1] if seg.esm_class_udhi else seg.short_message
        udh_octets = len(seg.short_message) - len(body)
        if msg.encoding is TextEncoding.GSM7:
            # Unpacked septets: the UDH takes ceil(8 * octets / 7) of the 160 septets.
            assert -(-8 * udh_octets // 7) + len(body) <= 160
            assert not body.endswith(b"\x1b")
        else:
            assert len(seg.short_message) <= 140
        if msg.encoding is TextEncoding.UCS2 and body:
            assert len(body) % 2 == 0
            assert not 0xD8 <= body[-2] <= 0xDB  # no part ends on a high surrogate
            assert not 0xDC <= body[0] <= 0xDF  # no part starts on a low surrogate


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 700).flatmap(lambda n: st.text(min_size=n, max_size=n)),
    st.sampled_from(SplitMode),
    st.booleans(),
)
def test_split_round_trip_any_text(text: str, mode: SplitMode, allow_latin1: bool) -> None:
    check_split(text, mode, allow_latin1)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 900).flatmap(
        lambda n: st.text(alphabet=st.sampled_from(GSM_CHARS), min_size=n, max_size=n)
    ),
    st.sampled_from(SplitMode),
)
def test_split_round_trip_gsm_text(text: str, mode: SplitMode) -> None:
    check_split(text, mode, False)
