"""GSM 03.38 alphabet, extension table, decoding rules and septet packing (reference §9.1-9.3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.protocol.gsm7 import (
    BASIC_TABLE,
    EXTENSION_TABLE,
    decode_gsm7,
    encode_gsm7,
    fill_bits_for_udh,
    gsm7_septet_count,
    is_gsm7,
    pack_septets,
    unpack_septets,
)

# Golden vectors straight from the table in reference §9.1.
BASIC_GOLDEN = [
    (0x00, "@"),
    (0x01, "£"),
    (0x02, "$"),
    (0x03, "¥"),
    (0x09, "Ç"),
    (0x0A, "\n"),
    (0x0D, "\r"),
    (0x10, "Δ"),
    (0x11, "_"),
    (0x12, "Φ"),
    (0x1F, "É"),
    (0x20, " "),
    (0x24, "¤"),
    (0x40, "¡"),
    (0x5B, "Ä"),
    (0x5F, "§"),
    (0x60, "¿"),
    (0x7B, "ä"),
    (0x7F, "à"),
]
EXTENSION_GOLDEN = [
    (0x0A, "\x0c"),
    (0x14, "^"),
    (0x28, "{"),
    (0x29, "}"),
    (0x2F, "\\"),
    (0x3C, "["),
    (0x3D, "~"),
    (0x3E, "]"),
    (0x40, "|"),
    (0x65, "€"),
]
GSM_CHARS = "".join(c for i, c in enumerate(BASIC_TABLE) if i != 0x1B) + "".join(
    EXTENSION_TABLE.values()
)


@pytest.mark.parametrize(("code", "char"), BASIC_GOLDEN)
def test_basic_table_golden(code: int, char: str) -> None:
    assert encode_gsm7(char) == bytes([code])
    assert decode_gsm7(bytes([code])) == char


@pytest.mark.parametrize(("code", "char"), EXTENSION_GOLDEN)
def test_extension_chars_cost_two_septets(code: int, char: str) -> None:
    assert encode_gsm7(char) == bytes([0x1B, code])
    assert gsm7_septet_count(char) == 2
    assert decode_gsm7(bytes([0x1B, code])) == char


def test_alphabet_is_a_bijection_on_128_codes() -> None:
    assert len(BASIC_TABLE) == 128
    assert len(set(BASIC_TABLE)) == 128


@pytest.mark.parametrize("char", ["`", "ç", "\x1b", "\t", "\x00", "\u0308", "😀", "Я"])
def test_characters_outside_the_alphabet_are_rejected(char: str) -> None:
    text = "ab" + char
    assert not is_gsm7(text)
    with pytest.raises(UnicodeEncodeError) as info:
        encode_gsm7(text)
    assert info.value.start == 2


def test_small_c_cedilla_only_as_lossy_fallback() -> None:
    assert encode_gsm7("ç", lossy=True) == b"\x09"
    with pytest.raises(UnicodeEncodeError):
        encode_gsm7("ç")


def test_dollar_and_currency_sign_are_not_confused() -> None:
    assert encode_gsm7("$¤") == b"\x02\x24"


def test_escape_then_undefined_code_shows_basic_character() -> None:
    assert decode_gsm7(b"\x1b\x41") == "A"
    assert decode_gsm7(b"x\x1b\x00y") == "x@y"


def test_escape_escape_and_trailing_escape_show_space() -> None:
    assert decode_gsm7(b"\x1b\x1b") == " "
    assert decode_gsm7(b"ab\x1b") == "ab "
    assert decode_gsm7(b"\x1b") == " "


def test_decoder_ignores_high_bit() -> None:
    assert decode_gsm7(bytes([0x80 | 0x41, 0x80 | 0x1B, 0x65])) == "A€"


def test_hello_packs_to_reference_vector() -> None:
    assert pack_septets(encode_gsm7("hello")) == bytes.fromhex("E8329BFD06")
    assert unpack_septets(bytes.fromhex("E8329BFD06"), 5) == encode_gsm7("hello")


def test_eight_septets_pack_into_seven_octets() -> None:
    assert len(pack_septets(bytes(range(8)))) == 7
    assert len(pack_septets(bytes(160))) == 140


def test_trailing_spare_bits_read_as_at_without_count() -> None:
    packed = pack_septets(encode_gsm7("1234567"))  # 49 bits -> 7 octets, 7 spare bits
    assert len(packed) == 7
    assert decode_gsm7(unpack_septets(packed)) == "1234567@"
    assert decode_gsm7(unpack_septets(packed, 7)) == "1234567"


@pytest.mark.parametrize(("udh_octets", "fill"), [(6, 1), (7, 0), (0, 0), (1, 6), (12, 2)])
def test_fill_bits(udh_octets: int, fill: int) -> None:
    assert fill_bits_for_udh(udh_octets) == fill
    assert (8 * udh_octets + fill) % 7 == 0


def test_fill_bit_is_the_low_bit_of_first_octet() -> None:
    # One fill bit shifts the stream left by one: "h" (0x68) becomes 0xD0 in the first octet.
    assert pack_septets(b"\x68", fill_bits=1) == bytes([0xD0])
    assert unpack_septets(bytes([0xD0]), 1, fill_bits=1) == b"\x68"


def test_pack_rejects_non_septets() -> None:
    with pytest.raises(ValueError):
        pack_septets(b"\x80")
    with pytest.raises(ValueError):
        unpack_septets(b"\x00", 5)


gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=400)


@settings(max_examples=300, deadline=None)
@given(gsm_text)
def test_encode_decode_round_trip(text: str) -> None:
    assert is_gsm7(text)
    assert decode_gsm7(encode_gsm7(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_pack_unpack_round_trip(septets: bytes, fill: int) -> None:
    assert unpack_septets(pack_septets(septets, fill), len(septets), fill) == septets


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decoder_never_fails(data: bytes) -> None:
    assert isinstance(decode_gsm7(data), str)


def naive_pack(septets: bytes, fill: int) -> bytes:
    """Reference §9.3 literally: septet n at stream bits fill+7n .. fill+7n+6, LSB first."""
    bits = [0] * fill
    for septet in septets:
        bits += [(septet >> b) & 1 for b in range(7)]
    bits += [0] * (-len(bits) % 8)
    return bytes(sum(bits[k + b] << b for b in range(8)) for k in range(0, len(bits), 8))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_pack_matches_bit_stream_definition(septets: bytes, fill: int) -> None:
    assert pack_septets(septets, fill) == naive_pack(septets, fill)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 6))
def test_unpack_matches_bit_stream_definition(data: bytes, fill: int) -> None:
    bits = [(octet >> b) & 1 for octet in data for b in range(8)][fill:]
    expected = bytes(sum(bits[7 * n + b] << b for b in range(7)) for n in range(len(bits) // 7))
    assert unpack_septets(data, fill_bits=fill) == expected
