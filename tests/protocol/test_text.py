"""Encoding choice and tolerant decoding by data_coding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.protocol.text import (
    EncodedText,
    TextEncoding,
    choose_encoding,
    decode_text,
    encode_text,
)


def test_gsm_text_goes_gsm7_unpacked() -> None:
    enc = choose_encoding("Hello @ £5 {ok}")
    assert enc.encoding is TextEncoding.GSM7
    assert enc.data_coding == 0
    assert enc.payload == b"Hello \x00 \x015 \x1b(ok\x1b)"
    assert enc.units == 17


def test_non_gsm_text_goes_ucs2() -> None:
    enc = choose_encoding("Привет")
    assert enc.encoding is TextEncoding.UCS2
    assert enc.data_coding == 8
    assert enc.payload == "Привет".encode("utf-16-be")


def test_emoji_is_a_surrogate_pair() -> None:
    enc = choose_encoding("a😀")
    assert enc.payload == bytes.fromhex("0061D83DDE00")
    assert enc.units == 3


def test_latin1_only_when_asked() -> None:
    assert choose_encoding("café `").encoding is TextEncoding.UCS2
    enc = choose_encoding("café `", allow_latin1=True)
    assert enc.encoding is TextEncoding.LATIN1
    assert enc.data_coding == 3
    assert enc.payload == "café `".encode("latin-1")


def test_latin1_wins_over_gsm_only_when_it_saves_parts() -> None:
    assert choose_encoding("{}" * 10, allow_latin1=True).encoding is TextEncoding.GSM7
    # 100 braces: 200 septets (2 parts) in GSM, 100 octets (1 part) in Latin-1.
    assert choose_encoding("{" * 100, allow_latin1=True).encoding is TextEncoding.LATIN1
    assert choose_encoding("{" * 100).encoding is TextEncoding.GSM7


def test_forced_encoding_that_cannot_carry_text_raises() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_text("€", TextEncoding.LATIN1)
    with pytest.raises(UnicodeEncodeError):
        encode_text("`", TextEncoding.GSM7)


@pytest.mark.parametrize(
    ("data", "dcs", "text"),
    [
        (b"\x00\x02", 0, "@$"),
        (b"\x00\x02", 0xF0, "@$"),
        (b"abc", 1, "abc"),
        (b"caf\xe9", 3, "café"),
        (bytes.fromhex("0061D83DDE00"), 8, "a😀"),
        (bytes.fromhex("0061D8"), 8, "a\ufffd"),
        (bytes.fromhex("D83D0061"), 8, "\ufffda"),
        (b"\xff\x00", 4, "\xff\x00"),
        (b"\xd0\xef", 6, "ая"),
    ],
)
def test_decode_text(data: bytes, dcs: int, text: str) -> None:
    assert decode_text(data, dcs) == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.booleans())
def test_chosen_encoding_round_trips(text: str, allow_latin1: bool) -> None:
    enc = choose_encoding(text, allow_latin1=allow_latin1)
    assert isinstance(enc, EncodedText)
    assert decode_text(enc.payload, enc.data_coding) == text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 255))
def test_decode_text_never_raises(data: bytes, dcs: int) -> None:
    assert isinstance(decode_text(data, dcs), str)
