"""Splitting long messages into parts and reading concatenation UDHs.

Owns the segment sizes of reference §9.4, the three ways of carrying a long message
(concatenation UDH with an 8-bit or 16-bit reference, §9.5; SAR TLV values, §9.6; or one
``message_payload``), the splitting rules of §9.7 (never split a GSM escape pair or a UTF-16
surrogate pair, at most 255 parts) and the parsing of a received UDH.

The results are frozen values that do not know about PDU classes: a caller building a
submit_sm sets ``esm_class |= 0x40`` when ``esm_class_udhi`` is true and turns ``SarInfo``
into the ``sar_msg_ref_num`` / ``sar_total_segments`` / ``sar_segment_seqnum`` TLVs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator

import attrs

from smppcore.protocol.gsm7 import ESC, fill_bits_for_udh, pack_septets
from smppcore.protocol.text import EncodedText, TextEncoding, choose_encoding, encode_text

__all__ = [
    "IEI_CONCAT_8",
    "IEI_CONCAT_16",
    "MAX_PARTS",
    "ConcatInfo",
    "MessageTooLong",
    "SarInfo",
    "Segment",
    "SplitMessage",
    "SplitMode",
    "UdhError",
    "build_concat_udh",
    "iter_udh_elements",
    "parse_udh",
    "split_binary",
    "split_encoded",
    "split_text",
]

IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08
MAX_PARTS = 255
_BINARY_DATA_CODING = 4


class SplitMode(enum.Enum):
    """How the parts of a long message are tied together."""

    UDH8 = "udh8"  #: concatenation UDH, 8-bit reference (6 octets)
    UDH16 = "udh16"  #: concatenation UDH, 16-bit reference (7 octets)
    SAR = "sar"  #: no UDH; sar_* TLVs carry reference/total/seq (16-bit reference)
    PAYLOAD = "payload"  #: the whole message in message_payload, the SMSC segments it


class MessageTooLong(ValueError):
    """The message would need more than the allowed number of parts."""


class UdhError(ValueError):
    """A UDH whose lengths run past the end of short_message."""


@attrs.frozen
class ConcatInfo:
    """A concatenation IE: ``reference`` shared by all parts, ``seq`` of ``total`` (1-based)."""

    reference: int
    total: int
    seq: int
    ref_bits: int  #: 8 (IEI 0x00) or 16 (IEI 0x08)


@attrs.frozen
class SarInfo:
    """Values for the three SAR TLVs of one part."""

    msg_ref_num: int
    total_segments: int
    segment_seqnum: int


@attrs.frozen
class Segment:
    """One submit_sm worth of message: ``short_message`` (UDH included) or ``message_payload``."""

    short_message: bytes
    esm_class_udhi: bool
    sar: SarInfo | None
    index: int  #: 1-based
    total: int
    data_coding: int
    message_payload: bytes | None = None


@attrs.frozen
class SplitMessage:
    """All parts of one message, in order, with the encoding they share."""

    encoding: TextEncoding | None  #: None for binary data
    data_coding: int
    segments: tuple[Segment, ...]
    reference: int | None  #: None when the message was not split

    @property
    def total(self) -> int:
        return len(self.segments)


# (single-message limit, per-part limit with 8-bit UDH / SAR, per-part limit with 16-bit UDH)
# in the units the encoding counts: septets, octets or UTF-16 units (reference §9.4).
_LIMITS: dict[TextEncoding | None, tuple[int, int, int]] = {
    TextEncoding.GSM7: (160, 153, 152),
    TextEncoding.LATIN1: (140, 134, 133),
    TextEncoding.UCS2: (70, 67, 66),
    None: (140, 134, 133),
}


def build_concat_udh(reference: int, total: int, seq: int, *, ref_bits: int = 8) -> bytes:
    """The concatenation UDH (UDHL included) for one part."""
    if not (1 <= total <= MAX_PARTS and 1 <= seq <= total):
        raise ValueError(f"invalid part {seq} of {total}")
    if ref_bits == 8:
        return bytes((0x05, IEI_CONCAT_8, 0x03, reference & 0xFF, total, seq))
    if ref_bits == 16:
        return bytes(
            (0x06, IEI_CONCAT_16, 0x04, (reference >> 8) & 0xFF, reference & 0xFF, total, seq)
        )
    raise ValueError(f"ref_bits must be 8 or 16, not {ref_bits}")


def _cut_points(payload: bytes, encoding: TextEncoding | None, per_part: int) -> list[int]:
    """Offsets in ``payload`` where parts end, respecting escape and surrogate pairs."""
    n = len(payload)
    ends: list[int] = []
    start = 0
    if encoding is TextEncoding.UCS2:
        step = per_part * 2
        while start < n:
            end = min(start + step, n)
            # A high surrogate as the last unit of a part: end the part one unit earlier.
            if end < n and 0xD8 <= payload[end - 2] <= 0xDB:
                end -= 2
            ends.append(end)
            start = end
        return ends
    while start < n:
        end = min(start + per_part, n)
        # Our GSM encoder only emits ESC as the first octet of a pair: never end on one.
        if encoding is TextEncoding.GSM7 and end < n and payload[end - 1] == ESC:
            end -= 1
        ends.append(end)
        start = end
    return ends


def _resolve_reference(
    reference: int | None, new_reference: Callable[[], int] | None, bits: int
) -> int:
    if reference is None:
        if new_reference is None:
            raise ValueError("a long message needs a reference or a new_reference generator")
        reference = new_reference()
    if reference < 0:
        raise ValueError(f"reference must not be negative: {reference}")
    return reference & ((1 << bits) - 1)


def split_encoded(
    encoded: EncodedText | bytes,
    *,
    mode: SplitMode = SplitMode.UDH8,
    reference: int | None = None,
    new_reference: Callable[[], int] | None = None,
    packed: bool = False,
    max_parts: int = MAX_PARTS,
    data_coding: int | None = None,
) -> SplitMessage:
    """Split already encoded text (``EncodedText``) or binary data (``bytes``) into parts.

    A message that fits one part is returned as a single segment without UDH or SAR in
    every mode. ``reference`` (reduced modulo 2**8 or 2**16) or, when it is None,
    ``new_reference()`` is used only when the message is split. ``packed`` packs GSM septets
    (with fill bits after the UDH). ``data_coding`` overrides the one implied by the encoding
    (e.g. 0xF0 for flash GSM, 0xF6 for SIM data); binary data defaults to 4.
    Raises ``MessageTooLong`` beyond ``max_parts`` parts.
    """
    if isinstance(encoded, EncodedText):
        encoding: TextEncoding | None = encoded.encoding
        payload = encoded.payload
        dcs = encoded.data_coding if data_coding is None else data_coding
    else:
        encoding = None
        payload = bytes(encoded)
        dcs = _BINARY_DATA_CODING if data_coding is None else data_coding
    if packed and encoding is not TextEncoding.GSM7:
        raise ValueError("only GSM 7-bit text can be packed")
    single, per_part8, per_part16 = _LIMITS[encoding]
    unit = 2 if encoding is TextEncoding.UCS2 else 1

    def body(chunk: bytes, udh: bytes = b"") -> bytes:
        if packed:
            return udh + pack_septets(chunk, fill_bits_for_udh(len(udh)) if udh else 0)
        return udh + chunk

    if len(payload) <= single * unit:
        seg = Segment(body(payload), False, None, 1, 1, dcs)
        return SplitMessage(encoding, dcs, (seg,), None)
    if mode is SplitMode.PAYLOAD:
        seg = Segment(b"", False, None, 1, 1, dcs, message_payload=body(payload))
        return SplitMessage(encoding, dcs, (seg,), None)

    per_part = per_part16 if mode is SplitMode.UDH16 else per_part8
    ends = _cut_points(payload, encoding, per_part)
    total = len(ends)
    if total > max_parts:
        raise MessageTooLong(f"message needs {total} parts, more than {max_parts}")
    ref = _resolve_reference(reference, new_reference, 8 if mode is SplitMode.UDH8 else 16)
    segments: list[Segment] = []
    start = 0
    for seq, end in enumerate(ends, start=1):
        chunk = payload[start:end]
        start = end
        if mode is SplitMode.SAR:
            seg = Segment(body(chunk), False, SarInfo(ref, total, seq), seq, total, dcs)
        else:
            bits = 8 if mode is SplitMode.UDH8 else 16
            udh = build_concat_udh(ref, total, seq, ref_bits=bits)
            seg = Segment(body(chunk, udh), True, None, seq, total, dcs)
        segments.append(seg)
    return SplitMessage(encoding, dcs, tuple(segments), ref)


def split_text(
    text: str,
    *,
    mode: SplitMode = SplitMode.UDH8,
    reference: int | None = None,
    new_reference: Callable[[], int] | None = None,
    encoding: TextEncoding | None = None,
    allow_latin1: bool = False,
    packed: bool = False,
    max_parts: int = MAX_PARTS,
) -> SplitMessage:
    """Encode ``text`` (cheapest encoding unless ``encoding`` is given) and split it.

    See ``split_encoded`` for the other arguments. Raises ``UnicodeEncodeError`` when a
    forced ``encoding`` cannot carry the text.
    """
    if encoding is None:
        encoded = choose_encoding(text, allow_latin1=allow_latin1)
    else:
        encoded = EncodedText(encoding, encode_text(text, encoding))
    return split_encoded(
        encoded,
        mode=mode,
        reference=reference,
        new_reference=new_reference,
        packed=packed,
        max_parts=max_parts,
    )


def split_binary(
    data: bytes,
    *,
    mode: SplitMode = SplitMode.UDH8,
    reference: int | None = None,
    new_reference: Callable[[], int] | None = None,
    data_coding: int = _BINARY_DATA_CODING,
    max_parts: int = MAX_PARTS,
) -> SplitMessage:
    """Split 8-bit data at 140 / 134 / 133 octets (reference §9.4, §9.7 rule 3)."""
    return split_encoded(
        data,
        mode=mode,
        reference=reference,
        new_reference=new_reference,
        data_coding=data_coding,
        max_parts=max_parts,
    )


def iter_udh_elements(short_message: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield ``(iei, data)`` for each IE of the UDH at the start of ``short_message``.

    Raises ``UdhError`` if UDHL or an IE length runs past the UDH or the message.
    """
    if not short_message:
        raise UdhError("UDHI set but short_message is empty")
    udhl = short_message[0]
    if udhl + 1 > len(short_message):
        raise UdhError(f"UDHL {udhl} longer than short_message ({len(short_message)} octets)")
    pos = 1
    end = 1 + udhl
    while pos < end:
        if pos + 2 > end:
            raise UdhError("truncated information element header in UDH")
        iei = short_message[pos]
        iedl = short_message[pos + 1]
        if pos + 2 + iedl > end:
            raise UdhError(f"IE {iei:#04x} length {iedl} runs past the UDH")
        yield iei, short_message[pos + 2 : pos + 2 + iedl]
        pos += 2 + iedl


def parse_udh(short_message: bytes) -> tuple[ConcatInfo | None, bytes]:
    """Read the UDH of a ``short_message`` whose esm_class has UDHI set.

    Returns the concatenation IE (IEI 0x00 or 0x08; the last valid one if repeated;
    invalid ones with total 0, part 0 or part > total are ignored, GSM 03.40) and the
    bytes after the UDH. Other IEs (ports, language shifts, ...) are skipped. For packed
    GSM text the returned bytes start with ``fill_bits_for_udh(udhl + 1)`` fill bits.
    Raises ``UdhError`` for a malformed UDH.
    """
    concat: ConcatInfo | None = None
    for iei, data in iter_udh_elements(short_message):
        if iei == IEI_CONCAT_8 and len(data) == 3:
            candidate = ConcatInfo(data[0], data[1], data[2], 8)
        elif iei == IEI_CONCAT_16 and len(data) == 4:
            candidate = ConcatInfo((data[0] << 8) | data[1], data[2], data[3], 16)
        else:
            continue
        if candidate.total >= 1 and 1 <= candidate.seq <= candidate.total:
            concat = candidate
    return concat, short_message[1 + short_message[0] :]
