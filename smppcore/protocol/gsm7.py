"""GSM 03.38 (3GPP TS 23.038) default alphabet: septet encoding, decoding and packing.

This module owns the GSM 7-bit default alphabet and its extension table (reference §9.1-9.2),
the conversion between text and *unpacked* septets (one septet value per octet, extension
characters as ``0x1B`` + code, which is what SMPP data_coding 0 usually carries), and septet
packing for SMSCs that want packed GSM (reference §9.3, including fill bits after a UDH).

Why our own table and not the ``gsm0338`` PyPI package (evaluated: version 1.1.0, MIT, two
releases in total, pure Python, no dependencies):

* Its table is correct (0x24 is ¤, 0x02 is $, 0x5F is §, 0x09 is Ç, no backtick) and it does
  handle the extension table (€, braces, brackets, ``\\``, ``|``, ``^``, ``~``, form feed).
* But its decoder does not follow the TS 23.038 rules we need for received data: ESC followed
  by an undefined code (e.g. ``1B 41``) and ``1B 1B`` raise ``UnicodeDecodeError`` under
  ``strict`` instead of giving the basic-table character / a space, and a trailing lone ESC is
  silently dropped instead of shown as a space.
* It does no septet packing and no septet counting, both of which segmentation needs.
* Its encoder works one character at a time with ``bytes`` concatenation: about 35 µs for a
  160-character text on this machine, against about 1-2 µs for a ``str.translate`` table.
* The facts it would save us are two small tables taken from the standard (and checked here
  by golden tests against reference §9.1-9.2), so the dependency buys almost nothing.

So the alphabet is kept here as data, and encoding is one ``str.translate`` plus one
``str.encode("ascii")`` (characters outside the alphabet are translated to a non-ASCII
sentinel so that the ASCII encode fails exactly on them).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "BASIC_TABLE",
    "ESC",
    "EXTENSION_TABLE",
    "decode_gsm7",
    "encode_gsm7",
    "fill_bits_for_udh",
    "gsm7_septet_count",
    "is_gsm7",
    "pack_septets",
    "try_encode_gsm7",
    "unpack_septets",
]

ESC: Final = 0x1B

#: Code point -> character for the 128 basic codes. 0x1B (ESC) is shown as a space here;
#: it is never produced by the encoder and is handled specially by the decoder.
BASIC_TABLE: Final[str] = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(BASIC_TABLE) == 128

#: Code after ESC -> character (reference §9.2). CR2 (0x0D) and SS2 (0x1B) have no character.
EXTENSION_TABLE: Final[dict[int, str]] = {
    0x0A: "\x0c",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# Sentinel for characters outside the alphabet: not ASCII, so ``.encode("ascii")`` fails on it.
_BAD: Final = "\udfff"


def _build_encode_table(*, lossy: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    # Every ASCII code point must be mapped: unmapped ones would pass through translate
    # unchanged and then encode as ASCII without error.
    for cp in range(128):
        table[cp] = _BAD
    for code, char in enumerate(BASIC_TABLE):
        if code != ESC:
            table[ord(char)] = chr(code)
    for code, char in EXTENSION_TABLE.items():
        table[ord(char)] = chr(ESC) + chr(code)
    if lossy:
        # Reference §9.1: small ç only as a lossy fallback to capital Ç (0x09).
        table[ord("ç")] = chr(0x09)
    return table


_ENCODE: Final = _build_encode_table(lossy=False)
_ENCODE_LOSSY: Final = _build_encode_table(lossy=True)
_GSM_CHARS: Final = frozenset(chr(cp) for cp, v in _ENCODE.items() if v != _BAD)
# Septet code -> character, for str.translate over latin-1 decoded septets.
_DECODE: Final[dict[int, str]] = {code: BASIC_TABLE[code] for code in range(128) if code != ESC}
_MASK_HIGH_BIT: Final = bytes(code & 0x7F for code in range(256))
_HIGH_BIT: Final = re.compile(rb"[\x80-\xff]")
_ESCAPE_PAIR: Final = re.compile("\x1b(.?)", re.DOTALL)


def encode_gsm7(text: str, *, lossy: bool = False) -> bytes:
    """Encode ``text`` as unpacked septets (one per octet, extension chars as ESC + code).

    Raises ``UnicodeEncodeError`` naming the first character outside the alphabet. With
    ``lossy=True`` small ç is accepted and sent as Ç.
    """
    translated = text.translate(_ENCODE_LOSSY if lossy else _ENCODE)
    try:
        return translated.encode("ascii")
    except UnicodeEncodeError:
        pass
    table = _ENCODE_LOSSY if lossy else _ENCODE
    for pos, char in enumerate(text):
        mapped = table.get(ord(char))
        if mapped is None or mapped == _BAD:
            raise UnicodeEncodeError(
                "gsm7", text, pos, pos + 1, "character not in the GSM 03.38 alphabet"
            ) from None
    raise AssertionError("unreachable: translate produced non-ASCII without a bad character")


def try_encode_gsm7(text: str) -> bytes | None:
    """``encode_gsm7(text)``, or None when a character is outside the alphabet (no error)."""
    # A set check fails fast on the first non-GSM character; translate would run to the end.
    if not text.isascii() and not _GSM_CHARS.issuperset(text):
        return None
    try:
        return text.translate(_ENCODE).encode("ascii")
    except UnicodeEncodeError:
        return None


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the basic or extension table."""
    return _GSM_CHARS.issuperset(text)


def gsm7_septet_count(text: str) -> int:
    """Septets needed for ``text`` (extension chars count 2). Raises like ``encode_gsm7``."""
    return len(encode_gsm7(text))


def decode_gsm7(septets: bytes) -> str:
    """Decode unpacked septets to text, never failing.

    ESC + a defined code gives the extension character; ESC + an undefined code gives the
    basic-table character for that code (TS 23.038); ESC ESC (SS2) and a trailing lone ESC
    give a space. The high bit of each octet is ignored.
    """
    if _HIGH_BIT.search(septets):
        septets = septets.translate(_MASK_HIGH_BIT)
    text = septets.decode("latin-1")
    if "\x1b" not in text:
        return text.translate(_DECODE)
    # split() alternates plain runs and the code after each ESC ("" for a trailing ESC).
    pieces = _ESCAPE_PAIR.split(text)
    out: list[str] = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            out.append(piece.translate(_DECODE))
        elif not piece or piece == "\x1b":
            out.append(" ")  # trailing lone ESC, or ESC ESC (SS2)
        else:
            code = ord(piece)
            out.append(EXTENSION_TABLE.get(code, BASIC_TABLE[code]))
    return "".join(out)


def fill_bits_for_udh(udh_octets: int) -> int:
    """Fill bits between a UDH of ``udh_octets`` octets (UDHL included) and packed text."""
    return (7 - (8 * udh_octets) % 7) % 7


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septet values (each < 0x80) into octets, LSB first, after ``fill_bits`` zero bits.

    ``pack_septets(encode_gsm7("hello")) == bytes.fromhex("E8329BFD06")``.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, not {fill_bits}")
    if _HIGH_BIT.search(septets):
        raise ValueError("septet values must be below 0x80")
    # Eight septets fill exactly seven octets: pack each group as one 56-bit integer.
    chunks: list[bytes] = []
    for start in range(0, len(septets), 8):
        s = septets[start : start + 8]
        value = 0
        for septet in reversed(s):
            value = (value << 7) | septet
        chunks.append(value.to_bytes(7, "little"))
    nbits = fill_bits + 7 * len(septets)
    stream = b"".join(chunks)
    if fill_bits:
        shifted = int.from_bytes(stream, "little") << fill_bits
        return shifted.to_bytes((nbits + 7) // 8, "little")
    return stream[: (nbits + 7) // 8]


def unpack_septets(data: bytes, count: int | None = None, fill_bits: int = 0) -> bytes:
    """Unpack packed GSM octets to septet values (one per octet).

    ``count`` is the number of septets (e.g. TP-UDL minus the UDH septets). Without it every
    whole septet is returned, so 7 spare zero bits at the end show up as an extra ``@``
    (reference §9.3): pass the count whenever it is known.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, not {fill_bits}")
    available = max(0, (8 * len(data) - fill_bits) // 7)
    if count is None:
        count = available
    elif not 0 <= count <= available:
        raise ValueError(f"{count} septets requested but only {available} present")
    if fill_bits:
        data = (int.from_bytes(data, "little") >> fill_bits).to_bytes(len(data), "little")
    out = bytearray()
    for start in range(0, len(data), 7):
        value = int.from_bytes(data[start : start + 7], "little")
        out += bytes(((value >> shift) & 0x7F) for shift in range(0, 56, 7))
    return bytes(out[:count])
