"""Optional parameters (TLVs): the tag table, the immutable :class:`Tlvs` multimap and
the TLV stream encoder/decoder used by the codec.

Typed values: Int TLVs are ``int``, C-octet-string TLVs are ``str`` (Latin-1 on the
wire, NUL added/stripped here), octet-string TLVs are ``bytes``. Unknown tags (vendor
0x1400-0x3FFF or anything else) are kept as raw ``bytes`` and re-encoded byte for byte.
Tolerance follows reference §7.1: unknown tags are kept, a length overrunning the PDU or
1-3 stray octets raise :class:`InvalidTlvStream`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from struct import Struct
from typing import Any, Generic, NamedTuple, TypeVar, overload

from .enums import TlvTag
from .errors import InvalidTlvLength, InvalidTlvStream, LocalProtocolError

__all__ = ["TLV_NAMES", "TLV_SPECS", "Tlv", "TlvKind", "TlvSpec", "TlvValue", "Tlvs"]

TlvValue = int | str | bytes


class TlvKind:
    """Value kinds of known TLVs."""

    INT = 0
    CSTR = 1
    OCTETS = 2


class TlvSpec(NamedTuple):
    """How a known tag is typed: ``size`` is the Int width, or the max length for strings
    (C-octet strings: including the NUL), 0 = unbounded."""

    tag: int
    name: str
    kind: int
    size: int


_I, _C, _O = TlvKind.INT, TlvKind.CSTR, TlvKind.OCTETS
T = TlvTag
_SPEC_ROWS: tuple[tuple[int, int, int], ...] = (
    (T.DEST_ADDR_SUBUNIT, _I, 1),
    (T.DEST_NETWORK_TYPE, _I, 1),
    (T.DEST_BEARER_TYPE, _I, 1),
    (T.DEST_TELEMATICS_ID, _I, 2),
    (T.SOURCE_ADDR_SUBUNIT, _I, 1),
    (T.SOURCE_NETWORK_TYPE, _I, 1),
    (T.SOURCE_BEARER_TYPE, _I, 1),
    (T.SOURCE_TELEMATICS_ID, _I, 1),
    (T.QOS_TIME_TO_LIVE, _I, 4),
    (T.PAYLOAD_TYPE, _I, 1),
    (T.ADDITIONAL_STATUS_INFO_TEXT, _C, 256),
    (T.RECEIPTED_MESSAGE_ID, _C, 65),
    (T.MS_MSG_WAIT_FACILITIES, _I, 1),
    (T.PRIVACY_INDICATOR, _I, 1),
    (T.SOURCE_SUBADDRESS, _O, 23),
    (T.DEST_SUBADDRESS, _O, 23),
    (T.USER_MESSAGE_REFERENCE, _I, 2),
    (T.USER_RESPONSE_CODE, _I, 1),
    (T.SOURCE_PORT, _I, 2),
    (T.DESTINATION_PORT, _I, 2),
    (T.SAR_MSG_REF_NUM, _I, 2),
    (T.LANGUAGE_INDICATOR, _I, 1),
    (T.SAR_TOTAL_SEGMENTS, _I, 1),
    (T.SAR_SEGMENT_SEQNUM, _I, 1),
    (T.SC_INTERFACE_VERSION, _I, 1),
    (T.CALLBACK_NUM_PRES_IND, _I, 1),
    (T.CALLBACK_NUM_ATAG, _O, 65),
    (T.NUMBER_OF_MESSAGES, _I, 1),
    (T.CALLBACK_NUM, _O, 19),
    (T.DPF_RESULT, _I, 1),
    (T.SET_DPF, _I, 1),
    (T.MS_AVAILABILITY_STATUS, _I, 1),
    (T.NETWORK_ERROR_CODE, _O, 3),
    (T.MESSAGE_PAYLOAD, _O, 0),
    (T.DELIVERY_FAILURE_REASON, _I, 1),
    (T.MORE_MESSAGES_TO_SEND, _I, 1),
    (T.MESSAGE_STATE, _I, 1),
    (T.CONGESTION_STATE, _I, 1),
    (T.USSD_SERVICE_OP, _I, 1),
    (T.DISPLAY_TIME, _I, 1),
    (T.SMS_SIGNAL, _I, 2),
    (T.MS_VALIDITY, _I, 1),
    (T.ALERT_ON_MESSAGE_DELIVERY, _O, 1),
    (T.ITS_REPLY_TYPE, _I, 1),
    (T.ITS_SESSION_INFO, _O, 2),
)
del T

#: Known tags by wire value.
TLV_SPECS: dict[int, TlvSpec] = {
    int(tag): TlvSpec(int(tag), TlvTag(tag).name.lower(), kind, size)
    for tag, kind, size in _SPEC_ROWS
}
#: Spec name -> tag.
TLV_NAMES: dict[str, int] = {spec.name: tag for tag, spec in TLV_SPECS.items()}

_INT_TAGS: dict[int, int] = {t: s.size for t, s in TLV_SPECS.items() if s.kind == _I}
_CSTR_TAGS: dict[int, int] = {t: s.size for t, s in TLV_SPECS.items() if s.kind == _C}
_INT_MAX = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}
_HDR = Struct(">HH")
_HDR_B = Struct(">HHB")
_HDR_H = Struct(">HHH")
_HDR_I = Struct(">HHI")
_U16 = Struct(">H")
_U32 = Struct(">I")


class Tlv(NamedTuple):
    """One optional parameter: wire tag and typed value."""

    tag: int
    value: TlvValue

    @property
    def name(self) -> str | None:
        """Spec name of a known tag, None for unknown/vendor tags."""
        spec = TLV_SPECS.get(self.tag)
        return spec.name if spec is not None else None


def _tag_of(key: int | str) -> int:
    if isinstance(key, str):
        try:
            return TLV_NAMES[key]
        except KeyError:
            raise KeyError(f"unknown TLV name {key!r}") from None
    return int(key)


def _check_value(tag: int, value: object) -> TlvValue:
    """Type-check a value for *tag* (constructor side; range checks happen on encode)."""
    if not 0 <= tag <= 0xFFFF:
        raise LocalProtocolError(f"TLV tag 0x{tag:X} out of range")
    spec = TLV_SPECS.get(tag)
    kind = _O if spec is None else spec.kind
    if kind == _I:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"TLV {spec.name if spec else tag} needs an int, got {value!r}")
        return int(value)
    if kind == _C:
        if not isinstance(value, str):
            raise TypeError(f"TLV {spec.name if spec else tag} needs a str")
        return value
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"TLV 0x{tag:04X} needs bytes")
    return bytes(value)


_V = TypeVar("_V", int, str, bytes)


class _TlvAttr(Generic[_V]):
    """Descriptor giving typed access to the first value of one tag (None if absent)."""

    __slots__ = ("tag",)

    def __init__(self, tag: int) -> None:
        self.tag = tag

    @overload
    def __get__(self, obj: None, owner: type[Tlvs]) -> _TlvAttr[_V]: ...
    @overload
    def __get__(self, obj: Tlvs, owner: type[Tlvs]) -> _V | None: ...
    def __get__(self, obj: Tlvs | None, owner: type[Tlvs]) -> _TlvAttr[_V] | _V | None:
        if obj is None:
            return self
        tag = self.tag
        for t, v in obj._items:
            if t == tag:
                return v  # type: ignore[return-value]
        return None


class Tlvs:
    """Immutable ordered multimap of TLVs; repeatable tags keep their order.

    ``Tlvs.of(receipted_message_id="abc", message_state=2)`` builds one from spec names;
    ``tlvs.receipted_message_id`` returns the typed value or None; ``get(tag)``,
    ``get_all(tag)``, ``with_(...)``, ``without(...)``; iteration yields :class:`Tlv`.
    """

    __slots__ = ("_hash", "_items")
    _items: tuple[Tlv, ...]

    def __init__(self, items: Iterable[Tlv | tuple[int, TlvValue]] = ()) -> None:
        self._items = tuple(Tlv(int(t), _check_value(int(t), v)) for t, v in items)
        self._hash: int | None = None

    @classmethod
    def _trusted(cls, items: tuple[Tlv, ...]) -> Tlvs:
        self = object.__new__(cls)
        self._items = items
        self._hash = None
        return self

    @classmethod
    def of(cls, **values: Any) -> Tlvs:
        """Build from spec names; a list/tuple value repeats the tag in order."""
        items: list[Tlv] = []
        for name, value in values.items():
            tag = _tag_of(name)
            vals = value if isinstance(value, list | tuple) else (value,)
            items.extend(Tlv(tag, _check_value(tag, v)) for v in vals)
        return cls._trusted(tuple(items))

    def get(self, key: int | str, default: TlvValue | None = None) -> TlvValue | None:
        """First value of a tag (int or spec name), or *default*."""
        tag = _tag_of(key)
        for t, v in self._items:
            if t == tag:
                return v
        return default

    def get_all(self, key: int | str) -> tuple[TlvValue, ...]:
        """All values of a tag, in wire order."""
        tag = _tag_of(key)
        return tuple(v for t, v in self._items if t == tag)

    def with_(self, **values: Any) -> Tlvs:
        """A copy where each named tag is replaced (first position kept, else appended);
        a list/tuple value repeats the tag; ``None`` removes it."""
        items = list(self._items)
        for name, value in values.items():
            tag = _tag_of(name)
            vals: tuple[Any, ...]
            if value is None:
                vals = ()
            elif isinstance(value, list | tuple):
                vals = tuple(value)
            else:
                vals = (value,)
            new = [Tlv(tag, _check_value(tag, v)) for v in vals]
            idx = next((i for i, it in enumerate(items) if it.tag == tag), len(items))
            items = [it for it in items if it.tag != tag]
            items[idx:idx] = new
        return Tlvs._trusted(tuple(items))

    def with_tlv(self, tag: int, value: TlvValue) -> Tlvs:
        """A copy with one more TLV appended (for repeatable or unknown tags)."""
        return Tlvs._trusted((*self._items, Tlv(tag, _check_value(tag, value))))

    def without(self, *keys: int | str) -> Tlvs:
        """A copy without any occurrence of the given tags (ints or names)."""
        tags = {_tag_of(k) for k in keys}
        return Tlvs._trusted(tuple(it for it in self._items if it.tag not in tags))

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int | str):
            return False
        tag = _tag_of(key)
        return any(t == tag for t, _ in self._items)

    def __iter__(self) -> Iterator[Tlv]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tlvs):
            return self._items == other._items
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self._items)
        return self._hash

    def __repr__(self) -> str:
        parts = []
        for t, v in self._items:
            spec = TLV_SPECS.get(t)
            parts.append(f"{spec.name if spec else f'0x{t:04X}'}={v!r}")
        return f"Tlvs({', '.join(parts)})"

    # Typed accessors for every standard tag (first occurrence, or None).
    dest_addr_subunit = _TlvAttr[int](TlvTag.DEST_ADDR_SUBUNIT)
    dest_network_type = _TlvAttr[int](TlvTag.DEST_NETWORK_TYPE)
    dest_bearer_type = _TlvAttr[int](TlvTag.DEST_BEARER_TYPE)
    dest_telematics_id = _TlvAttr[int](TlvTag.DEST_TELEMATICS_ID)
    source_addr_subunit = _TlvAttr[int](TlvTag.SOURCE_ADDR_SUBUNIT)
    source_network_type = _TlvAttr[int](TlvTag.SOURCE_NETWORK_TYPE)
    source_bearer_type = _TlvAttr[int](TlvTag.SOURCE_BEARER_TYPE)
    source_telematics_id = _TlvAttr[int](TlvTag.SOURCE_TELEMATICS_ID)
    qos_time_to_live = _TlvAttr[int](TlvTag.QOS_TIME_TO_LIVE)
    payload_type = _TlvAttr[int](TlvTag.PAYLOAD_TYPE)
    additional_status_info_text = _TlvAttr[str](TlvTag.ADDITIONAL_STATUS_INFO_TEXT)
    receipted_message_id = _TlvAttr[str](TlvTag.RECEIPTED_MESSAGE_ID)
    ms_msg_wait_facilities = _TlvAttr[int](TlvTag.MS_MSG_WAIT_FACILITIES)
    privacy_indicator = _TlvAttr[int](TlvTag.PRIVACY_INDICATOR)
    source_subaddress = _TlvAttr[bytes](TlvTag.SOURCE_SUBADDRESS)
    dest_subaddress = _TlvAttr[bytes](TlvTag.DEST_SUBADDRESS)
    user_message_reference = _TlvAttr[int](TlvTag.USER_MESSAGE_REFERENCE)
    user_response_code = _TlvAttr[int](TlvTag.USER_RESPONSE_CODE)
    source_port = _TlvAttr[int](TlvTag.SOURCE_PORT)
    destination_port = _TlvAttr[int](TlvTag.DESTINATION_PORT)
    sar_msg_ref_num = _TlvAttr[int](TlvTag.SAR_MSG_REF_NUM)
    language_indicator = _TlvAttr[int](TlvTag.LANGUAGE_INDICATOR)
    sar_total_segments = _TlvAttr[int](TlvTag.SAR_TOTAL_SEGMENTS)
    sar_segment_seqnum = _TlvAttr[int](TlvTag.SAR_SEGMENT_SEQNUM)
    sc_interface_version = _TlvAttr[int](TlvTag.SC_INTERFACE_VERSION)
    callback_num_pres_ind = _TlvAttr[int](TlvTag.CALLBACK_NUM_PRES_IND)
    callback_num_atag = _TlvAttr[bytes](TlvTag.CALLBACK_NUM_ATAG)
    number_of_messages = _TlvAttr[int](TlvTag.NUMBER_OF_MESSAGES)
    callback_num = _TlvAttr[bytes](TlvTag.CALLBACK_NUM)
    dpf_result = _TlvAttr[int](TlvTag.DPF_RESULT)
    set_dpf = _TlvAttr[int](TlvTag.SET_DPF)
    ms_availability_status = _TlvAttr[int](TlvTag.MS_AVAILABILITY_STATUS)
    network_error_code = _TlvAttr[bytes](TlvTag.NETWORK_ERROR_CODE)
    message_payload = _TlvAttr[bytes](TlvTag.MESSAGE_PAYLOAD)
    delivery_failure_reason = _TlvAttr[int](TlvTag.DELIVERY_FAILURE_REASON)
    more_messages_to_send = _TlvAttr[int](TlvTag.MORE_MESSAGES_TO_SEND)
    message_state = _TlvAttr[int](TlvTag.MESSAGE_STATE)
    congestion_state = _TlvAttr[int](TlvTag.CONGESTION_STATE)
    ussd_service_op = _TlvAttr[int](TlvTag.USSD_SERVICE_OP)
    display_time = _TlvAttr[int](TlvTag.DISPLAY_TIME)
    sms_signal = _TlvAttr[int](TlvTag.SMS_SIGNAL)
    ms_validity = _TlvAttr[int](TlvTag.MS_VALIDITY)
    alert_on_message_delivery = _TlvAttr[bytes](TlvTag.ALERT_ON_MESSAGE_DELIVERY)
    its_reply_type = _TlvAttr[int](TlvTag.ITS_REPLY_TYPE)
    its_session_info = _TlvAttr[bytes](TlvTag.ITS_SESSION_INFO)


EMPTY_TLVS = Tlvs()


_tuple_new = tuple.__new__
_object_new = object.__new__
#: Per known tag: the Int width (1, 2, 4) or 0 for a C-octet string; unknown tags -> bytes.
_DECODE_KIND: dict[int, int] = {**{t: 0 for t in _CSTR_TAGS}, **_INT_TAGS}
_INT_PACK = {1: _HDR_B.pack, 2: _HDR_H.pack, 4: _HDR_I.pack}
#: Per known tag: (Int packer, width, max value), or (None, C-string limit incl. NUL, 0).
_ENCODE_KIND: dict[int, tuple[Any, int, int]] = {
    **{t: (None, n, 0) for t, n in _CSTR_TAGS.items()},
    **{t: (_INT_PACK[n], n, _INT_MAX[n]) for t, n in _INT_TAGS.items()},
}


def encode_tlvs(tlvs: Tlvs, out: list[bytes]) -> None:
    """Append the wire form of *tlvs* to *out*; raises LocalProtocolError on bad values."""
    kinds = _ENCODE_KIND
    hdr = _HDR.pack
    append = out.append
    for tag, value in tlvs._items:
        kind = kinds.get(tag)
        if kind is None:
            if not isinstance(value, bytes):
                raise LocalProtocolError(f"TLV 0x{tag:04X} needs bytes")
            if len(value) > 0xFFFF:
                raise LocalProtocolError(f"TLV 0x{tag:04X} value longer than 65535 octets")
            append(hdr(tag, len(value)))
            append(value)
            continue
        pack, limit, top = kind
        if pack is not None:
            if not isinstance(value, int) or not 0 <= value <= top:
                raise LocalProtocolError(f"TLV 0x{tag:04X} value out of range for Int {limit}")
            append(pack(tag, limit, value))
            continue
        if not isinstance(value, str):
            raise LocalProtocolError(f"TLV 0x{tag:04X} needs a str")
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise LocalProtocolError(f"TLV 0x{tag:04X} is not Latin-1") from None
        if 0 in raw or len(raw) >= limit:
            raise LocalProtocolError(
                f"TLV 0x{tag:04X} C-octet string too long or contains NUL (max {limit - 1})"
            )
        append(hdr(tag, len(raw) + 1))
        append(raw)
        append(b"\0")


def encoded_tlvs(tlvs: Tlvs) -> bytes:
    """The wire form of *tlvs* as one bytes object (see :func:`encode_tlvs`)."""
    out: list[bytes] = []
    encode_tlvs(tlvs, out)
    return b"".join(out)


def decode_tlvs(data: bytes, pos: int, end: int) -> Tlvs:
    """Decode the TLV stream in ``data[pos:end]`` (lenient per reference §7.1)."""
    if pos == end:
        return EMPTY_TLVS
    items: list[Tlv] = []
    append = items.append
    unpack_hdr = _HDR.unpack_from
    kinds = _DECODE_KIND
    new = _tuple_new
    while pos < end:
        if end - pos < 4:
            raise InvalidTlvStream(f"{end - pos} stray octet(s) after the last TLV")
        tag, length = unpack_hdr(data, pos)
        pos += 4
        vend = pos + length
        if vend > end:
            raise InvalidTlvStream(f"TLV 0x{tag:04X} length {length} runs past the PDU end")
        kind = kinds.get(tag)
        value: TlvValue
        if kind == 1 and length == 1:  # the common Int 1 first
            value = data[pos]
        elif kind is None:
            value = data[pos:vend]
        elif kind == 0:  # C-octet string: up to the first NUL (or the end of the value)
            nul = data.find(b"\0", pos, vend)
            value = data[pos : nul if nul >= 0 else vend].decode("latin-1")
        elif length == 1:
            value = data[pos]
        elif length == 2:
            value = _U16.unpack_from(data, pos)[0]
        elif length == 4:
            value = _U32.unpack_from(data, pos)[0]
        elif length == 3:
            value = int.from_bytes(data[pos:vend], "big")
        else:
            raise InvalidTlvLength(f"Int TLV 0x{tag:04X} with length {length}")
        append(new(Tlv, (tag, value)))
        pos = vend
    tlvs = _object_new(Tlvs)  # Tlvs._trusted, inlined
    tlvs._items = tuple(items)
    tlvs._hash = None
    return tlvs
