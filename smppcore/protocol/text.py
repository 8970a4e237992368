"""Text <-> short_message bytes for the data codings we send and receive.

Owns the choice of encoding for an outgoing text (GSM 7-bit unpacked with data_coding 0 when
every character fits the GSM 03.38 tables, otherwise UCS2 with data_coding 8; Latin-1 with
data_coding 3 only when the caller allows it) and the tolerant decoding of received bytes by
data_coding (reference §6.5: never reject received data because of its coding).

UCS2 is UTF-16BE in practice: characters outside the BMP (most emoji) are sent as a surrogate
pair, counted as two 16-bit units, and segmentation never separates the pair.
"""

from __future__ import annotations

import enum

import attrs

from smppcore.protocol.gsm7 import decode_gsm7, encode_gsm7, try_encode_gsm7

__all__ = [
    "EncodedText",
    "TextEncoding",
    "choose_encoding",
    "decode_text",
    "encode_text",
]


class TextEncoding(enum.IntEnum):
    """How text is carried; the value is the data_coding we send with it."""

    GSM7 = 0  #: GSM 03.38 septets, one per octet (SMSC default alphabet)
    LATIN1 = 3  #: ISO-8859-1
    UCS2 = 8  #: UTF-16BE, surrogate pairs for non-BMP characters

    @property
    def data_coding(self) -> int:
        return int(self)


@attrs.frozen
class EncodedText:
    """A text encoded for sending: the bytes, their encoding and its unit count."""

    encoding: TextEncoding
    payload: bytes

    @property
    def data_coding(self) -> int:
        return self.encoding.data_coding

    @property
    def units(self) -> int:
        """Septets (GSM7), octets (Latin-1) or 16-bit units (UCS2)."""
        if self.encoding is TextEncoding.UCS2:
            return len(self.payload) // 2
        return len(self.payload)


def encode_text(text: str, encoding: TextEncoding) -> bytes:
    """Encode ``text`` in ``encoding``; raises ``UnicodeEncodeError`` if it does not fit."""
    if encoding is TextEncoding.GSM7:
        return encode_gsm7(text)
    if encoding is TextEncoding.LATIN1:
        return text.encode("latin-1")
    return text.encode("utf-16-be")


# Single-message and per-part (8-bit reference UDH) capacity in units (reference §9.4), used
# only to compare candidate encodings by the number of parts they need.
_SINGLE = {TextEncoding.GSM7: 160, TextEncoding.LATIN1: 140, TextEncoding.UCS2: 70}
_PER_PART = {TextEncoding.GSM7: 153, TextEncoding.LATIN1: 134, TextEncoding.UCS2: 67}


def _parts_needed(encoded: EncodedText) -> int:
    units = encoded.units
    if units <= _SINGLE[encoded.encoding]:
        return 1
    return -(-units // _PER_PART[encoded.encoding])


def choose_encoding(text: str, *, allow_latin1: bool = False) -> EncodedText:
    """Pick the cheapest encoding for ``text`` and encode it.

    GSM 7-bit (data_coding 0, unpacked) when every character is in the GSM tables, otherwise
    UCS2 (data_coding 8). With ``allow_latin1`` Latin-1 (data_coding 3) is also considered and
    wins when it needs fewer parts than the alternative (GSM text heavy in extension
    characters, or a non-GSM text that fits Latin-1); GSM7 wins ties.
    """
    gsm: EncodedText | None = None
    septets = try_encode_gsm7(text)
    if septets is not None:
        gsm = EncodedText(TextEncoding.GSM7, septets)
        if not allow_latin1 or _parts_needed(gsm) == 1:
            return gsm
    if allow_latin1:
        try:
            latin = EncodedText(TextEncoding.LATIN1, text.encode("latin-1"))
        except UnicodeEncodeError:
            pass
        else:
            if gsm is None or _parts_needed(latin) < _parts_needed(gsm):
                return latin
    if gsm is not None:
        return gsm
    return EncodedText(TextEncoding.UCS2, text.encode("utf-16-be"))


def decode_text(data: bytes, data_coding: int) -> str:
    """Decode received ``data`` by ``data_coding``, never raising.

    0 and 0xF0-0xF3 (GSM 7-bit class bits) decode as unpacked GSM septets; 1 as ASCII;
    3 as Latin-1; 8 as UTF-16BE (an odd trailing octet or a lone surrogate becomes U+FFFD);
    6 as ISO-8859-5 and 7 as ISO-8859-8. Anything else (binary, unknown) is decoded as
    Latin-1 so no octet is lost; callers that need the raw bytes should keep them.
    """
    if data_coding == 0 or 0xF0 <= data_coding <= 0xF3:
        return decode_gsm7(data)
    if data_coding == 8:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == 1:
        return data.decode("ascii", errors="replace")
    if data_coding == 6:
        return data.decode("iso-8859-5")
    if data_coding == 7:
        return data.decode("iso-8859-8", errors="replace")
    return data.decode("latin-1")
