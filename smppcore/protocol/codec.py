"""Encode PDU objects to wire bytes and decode one whole PDU from wire bytes.

Owns: the per-class field layouts (compiled once at import into small decode/encode
closures with precompiled ``struct.Struct`` objects), field-limit checks on encode
(never truncate: :class:`LocalProtocolError`) and the lenient, well-defined decode of
reference §1.1, §3, §7.1 and §10.6. Every decode error is a :class:`RemoteProtocolError`
carrying the most specific command_status plus the PDU's command_id and sequence_number.
The same layouts also feed :mod:`._fastpath`, whose generated straight-line functions
handle well-formed PDUs first and step aside to the generic path here on any anomaly.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from operator import attrgetter
from struct import Struct
from typing import Any

import attrs

from ._fastpath import FastDecoder, FastEncoder, compile_fast
from .enums import CommandStatus as S
from .errors import (
    InvalidCommandId,
    InvalidCommandLength,
    InvalidDestFlag,
    InvalidField,
    InvalidMessageLength,
    InvalidNumberOfDests,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from .pdu import (
    PDU_CLASSES,
    DistributionList,
    Pdu,
    SmeAddress,
    UnsuccessSme,
    is_response,
)
from .tlv import decode_tlvs, encode_tlvs

__all__ = ["HEADER", "MAX_SHORT_MESSAGE", "decode", "encode"]

#: command_length, command_id, command_status, sequence_number.
HEADER = Struct(">IIII")
#: v3.4 limit for sm_length on encode (v5.0 allows 255, accepted on decode).
MAX_SHORT_MESSAGE = 254
MAX_NUMBER_OF_DESTS = 254

_DecodeOp = Callable[[bytes, int, int, dict[str, Any]], int]
_EncodeOp = Callable[[Pdu, list[bytes]], None]

# Status used when a received field is malformed, truncated or too long (reference §3.16).
_FIELD_STATUS: dict[str, int] = {
    "system_id": S.ESME_RINVSYSID,
    "password": S.ESME_RINVPASWD,
    "system_type": S.ESME_RINVSYSTYP,
    "service_type": S.ESME_RINVSERTYP,
    "source_addr": S.ESME_RINVSRCADR,
    "destination_addr": S.ESME_RINVDSTADR,
    "message_id": S.ESME_RINVMSGID,
    "schedule_delivery_time": S.ESME_RINVSCHED,
    "validity_period": S.ESME_RINVEXPIRY,
    "dl_name": S.ESME_RINVDLNAME,
    "source_addr_ton": S.ESME_RINVSRCTON,
    "source_addr_npi": S.ESME_RINVSRCNPI,
    "dest_addr_ton": S.ESME_RINVDSTTON,
    "dest_addr_npi": S.ESME_RINVDSTNPI,
    "esm_class": S.ESME_RINVESMCLASS,
    "priority_flag": S.ESME_RINVPRTFLG,
    "registered_delivery": S.ESME_RINVREGDLVFLG,
    "replace_if_present_flag": S.ESME_RINVREPFLAG,
    "sm_default_msg_id": S.ESME_RINVDFTMSGID,
    "short_message": S.ESME_RINVMSGLEN,
    "number_of_dests": S.ESME_RINVNUMDESTS,
}


def _status(name: str) -> int:
    return _FIELD_STATUS.get(name, S.ESME_RUNKNOWNERR)


# --- field primitives ---------------------------------------------------------------------


def _encode_cstr(name: str, value: object, maxlen: int) -> bytes:
    """*value* as a NUL-terminated Latin-1 string of at most *maxlen* octets incl. NUL."""
    if not isinstance(value, str):
        raise LocalProtocolError(f"{name} must be str, got {type(value).__name__}")
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{name} is not Latin-1 encodable") from None
    if len(raw) >= maxlen:
        raise LocalProtocolError(f"{name} is {len(raw)} octets, max {maxlen - 1}")
    if b"\0" in raw:
        raise LocalProtocolError(f"{name} contains a NUL octet")
    return raw + b"\0"


def _encode_time(name: str, value: object) -> bytes:
    raw = _encode_cstr(name, value, 17)
    if len(raw) not in (1, 17):
        raise LocalProtocolError(f"{name} must be empty or exactly 16 characters")
    return raw


def _read_cstr(
    data: bytes, pos: int, end: int, name: str, maxlen: int, last: bool
) -> tuple[str, int]:
    """Read a C-octet string; *last* allows a missing NUL at the very end of the body."""
    nul = data.find(b"\0", pos, end)
    if nul < 0:
        if not last:
            raise InvalidField(
                f"{name} is not NUL-terminated", field=name, command_status=_status(name)
            )
        nul = end
    if nul - pos >= maxlen:
        raise InvalidField(
            f"{name} is {nul - pos} octets, max {maxlen - 1}",
            field=name,
            command_status=_status(name),
        )
    return data[pos:nul].decode("latin-1"), nul + 1


# --- op factories -------------------------------------------------------------------------


def _cstr_op(name: str, maxlen: int, last: bool) -> tuple[_DecodeOp, _EncodeOp]:
    get = attrgetter(name)

    def dec(data: bytes, pos: int, end: int, out: dict[str, Any]) -> int:
        nul = data.find(b"\0", pos, end)
        if nul < 0 or nul - pos >= maxlen:
            out[name], pos = _read_cstr(data, pos, end, name, maxlen, last)
            return min(pos, end)
        out[name] = data[pos:nul].decode("latin-1")
        return nul + 1

    def enc(pdu: Pdu, out: list[bytes]) -> None:
        out.append(_encode_cstr(name, get(pdu), maxlen))

    return dec, enc


def _time_op(name: str) -> tuple[_DecodeOp, _EncodeOp]:
    get = attrgetter(name)

    def dec(data: bytes, pos: int, end: int, out: dict[str, Any]) -> int:
        value, npos = _read_cstr(data, pos, end, name, 17, False)
        if len(value) not in (0, 16):
            raise InvalidField(
                f"{name} must be NULL or 16 characters", field=name, command_status=_status(name)
            )
        out[name] = value
        return npos

    def enc(pdu: Pdu, out: list[bytes]) -> None:
        out.append(_encode_time(name, get(pdu)))

    return dec, enc


_INT_FORMATS = {1: "B", 2: "H", 4: "I"}


def _ints_op(fields: tuple[tuple[str, int], ...]) -> tuple[_DecodeOp, _EncodeOp]:
    names = tuple(n for n, _ in fields)
    st = Struct(">" + "".join(_INT_FORMATS[size] for _, size in fields))
    size = st.size
    unpack_from = st.unpack_from
    pack = st.pack
    get = attrgetter(*names)
    single = len(names) == 1

    def truncated(avail: int) -> InvalidField:
        off = 0
        for n, sz in fields:
            off += sz
            if off > avail:
                return InvalidField(f"body ends inside {n}", field=n, command_status=_status(n))
        raise AssertionError("not truncated")  # pragma: no cover

    def dec(data: bytes, pos: int, end: int, out: dict[str, Any]) -> int:
        if pos + size > end:
            raise truncated(end - pos)
        out.update(zip(names, unpack_from(data, pos), strict=True))
        return pos + size

    def enc(pdu: Pdu, out: list[bytes]) -> None:
        try:
            out.append(pack(get(pdu)) if single else pack(*get(pdu)))
        except struct.error as exc:
            raise LocalProtocolError(f"integer field out of range in {names}: {exc}") from None

    return dec, enc


def _short_message_op() -> tuple[_DecodeOp, _EncodeOp]:
    def dec(data: bytes, pos: int, end: int, out: dict[str, Any]) -> int:
        if pos >= end:
            raise InvalidMessageLength("body ends before sm_length")
        stop = pos + 1 + data[pos]
        if stop > end:
            raise InvalidMessageLength(f"sm_length {data[pos]} runs past the PDU end")
        out["short_message"] = data[pos + 1 : stop]
        return stop

    def enc(pdu: Pdu, out: list[bytes]) -> None:
        sm = pdu.short_message  # type: ignore[attr-defined]
        if not isinstance(sm, bytes):
            raise LocalProtocolError("short_message must be bytes")
        if len(sm) > MAX_SHORT_MESSAGE:
            raise LocalProtocolError(
                f"short_message is {len(sm)} octets, max {MAX_SHORT_MESSAGE}; use message_payload"
            )
        out.append(bytes((len(sm),)))
        out.append(sm)

    return dec, enc


def _dest_addresses_op() -> tuple[_DecodeOp, _EncodeOp]:
    def dec(data: bytes, pos: int, end: int, out: dict[str, Any]) -> int:
        if pos >= end:
            raise InvalidNumberOfDests("body ends before number_of_dests")
        count = data[pos]
        pos += 1
        if count == 0:
            raise InvalidNumberOfDests("number_of_dests is 0")
        dests: list[SmeAddress | DistributionList] = []
        for _ in range(count):
            if pos >= end:
                raise InvalidNumberOfDests(
                    f"body ends before dest_address {len(dests) + 1}/{count}"
                )
            flag = data[pos]
            if flag == 1:
                if pos + 3 > end:
                    raise InvalidField(
                        "body ends inside dest_address",
                        field="destination_addr",
                        command_status=S.ESME_RINVDSTADR,
                    )
                ton, npi = data[pos + 1], data[pos + 2]
                addr, pos = _read_cstr(data, pos + 3, end, "destination_addr", 21, False)
                dests.append(
                    SmeAddress(dest_addr_ton=ton, dest_addr_npi=npi, destination_addr=addr)
                )
            elif flag == 2:
                name, pos = _read_cstr(data, pos + 1, end, "dl_name", 21, False)
                dests.append(DistributionList(dl_name=name))
            else:
                raise InvalidDestFlag(f"dest_flag {flag}")
        out["dest_addresses"] = tuple(dests)
        return pos

    def enc(pdu: Pdu, out: list[bytes]) -> None:
        dests = pdu.dest_addresses  # type: ignore[attr-defined]
        if not 1 <= len(dests) <= MAX_NUMBER_OF_DESTS:
            raise LocalProtocolError(f"number_of_dests must be 1..{MAX_NUMBER_OF_DESTS}")
        out.append(bytes((len(dests),)))
        for d in dests:
            if isinstance(d, SmeAddress):
                try:
                    out.append(bytes((1, d.dest_addr_ton, d.dest_addr_npi)))
                except (ValueError, TypeError):
                    raise LocalProtocolError("dest_addr_ton/npi out of range") from None
                out.append(_encode_cstr("destination_addr", d.destination_addr, 21))
            elif isinstance(d, DistributionList):
                out.append(b"\x02")
                out.append(_encode_cstr("dl_name", d.dl_name, 21))
            else:
                raise LocalProtocolError(f"unknown dest_address type {type(d).__name__}")

    return dec, enc


_UNSUCCESS_TAIL = Struct(">I")


def _unsuccess_op() -> tuple[_DecodeOp, _EncodeOp]:
    def dec(data: bytes, pos: int, end: int, out: dict[str, Any]) -> int:
        if pos >= end:  # lenient: a response body may stop after message_id
            return pos
        count = data[pos]
        pos += 1
        items: list[UnsuccessSme] = []
        for _ in range(count):
            if pos + 2 > end:
                raise InvalidField("body ends inside unsuccess_sme", field="unsuccess_smes")
            ton, npi = data[pos], data[pos + 1]
            addr, pos = _read_cstr(data, pos + 2, end, "destination_addr", 21, False)
            if pos + 4 > end:
                raise InvalidField("body ends inside unsuccess_sme", field="unsuccess_smes")
            (code,) = _UNSUCCESS_TAIL.unpack_from(data, pos)
            pos += 4
            items.append(
                UnsuccessSme(
                    dest_addr_ton=ton,
                    dest_addr_npi=npi,
                    destination_addr=addr,
                    error_status_code=code,
                )
            )
        out["unsuccess_smes"] = tuple(items)
        return pos

    def enc(pdu: Pdu, out: list[bytes]) -> None:
        items = pdu.unsuccess_smes  # type: ignore[attr-defined]
        if len(items) > 255:
            raise LocalProtocolError("no_unsuccess must be <= 255")
        out.append(bytes((len(items),)))
        for u in items:
            try:
                out.append(bytes((u.dest_addr_ton, u.dest_addr_npi)))
                addr = _encode_cstr("destination_addr", u.destination_addr, 21)
                out.append(addr + _UNSUCCESS_TAIL.pack(u.error_status_code))
            except (ValueError, TypeError, struct.error):
                raise LocalProtocolError("unsuccess_sme field out of range") from None

    return dec, enc


# --- layouts --------------------------------------------------------------------------------

# Field layout mini-language: ("c", name, maxlen) C-string, ("t", name) time, ("i", name, size)
# integer, ("sm",) sm_length+short_message, ("dests",) submit_multi dests, ("unsucc",).
_Layout = tuple[tuple[Any, ...], ...]
_SM: _Layout = (
    ("c", "service_type", 6),
    ("i", "source_addr_ton", 1), ("i", "source_addr_npi", 1), ("c", "source_addr", 21),
    ("i", "dest_addr_ton", 1), ("i", "dest_addr_npi", 1), ("c", "destination_addr", 21),
    ("i", "esm_class", 1), ("i", "protocol_id", 1), ("i", "priority_flag", 1),
    ("t", "schedule_delivery_time"), ("t", "validity_period"),
    ("i", "registered_delivery", 1), ("i", "replace_if_present_flag", 1),
    ("i", "data_coding", 1), ("i", "sm_default_msg_id", 1),
    ("sm",),
)  # fmt: skip
_BIND: _Layout = (
    ("c", "system_id", 16), ("c", "password", 9), ("c", "system_type", 13),
    ("i", "interface_version", 1), ("i", "addr_ton", 1), ("i", "addr_npi", 1),
    ("c", "address_range", 41),
)  # fmt: skip
_BIND_RESP: _Layout = (("c", "system_id", 16),)
_MSG_ID_RESP: _Layout = (("c", "message_id", 65),)

_LAYOUTS: dict[str, _Layout] = {
    "GenericNack": (),
    "EnquireLink": (),
    "EnquireLinkResp": (),
    "Unbind": (),
    "UnbindResp": (),
    "CancelSmResp": (),
    "ReplaceSmResp": (),
    "BindTransmitter": _BIND,
    "BindReceiver": _BIND,
    "BindTransceiver": _BIND,
    "BindTransmitterResp": _BIND_RESP,
    "BindReceiverResp": _BIND_RESP,
    "BindTransceiverResp": _BIND_RESP,
    "Outbind": (("c", "system_id", 16), ("c", "password", 9)),
    "AlertNotification": (
        ("i", "source_addr_ton", 1), ("i", "source_addr_npi", 1), ("c", "source_addr", 65),
        ("i", "esme_addr_ton", 1), ("i", "esme_addr_npi", 1), ("c", "esme_addr", 65),
    ),
    "SubmitSm": _SM,
    "DeliverSm": _SM,
    "SubmitSmResp": _MSG_ID_RESP,
    "DeliverSmResp": _MSG_ID_RESP,
    "DataSmResp": _MSG_ID_RESP,
    "DataSm": (
        ("c", "service_type", 6),
        ("i", "source_addr_ton", 1), ("i", "source_addr_npi", 1), ("c", "source_addr", 65),
        ("i", "dest_addr_ton", 1), ("i", "dest_addr_npi", 1), ("c", "destination_addr", 65),
        ("i", "esm_class", 1), ("i", "registered_delivery", 1), ("i", "data_coding", 1),
    ),
    "SubmitMulti": (
        ("c", "service_type", 6),
        ("i", "source_addr_ton", 1), ("i", "source_addr_npi", 1), ("c", "source_addr", 21),
        ("dests",),
        *_SM[7:],
    ),
    "SubmitMultiResp": (("c", "message_id", 65), ("unsucc",)),
    "QuerySm": (
        ("c", "message_id", 65),
        ("i", "source_addr_ton", 1), ("i", "source_addr_npi", 1), ("c", "source_addr", 21),
    ),
    "QuerySmResp": (
        ("c", "message_id", 65), ("t", "final_date"), ("i", "message_state", 1),
        ("i", "error_code", 1),
    ),
    "CancelSm": (
        ("c", "service_type", 6), ("c", "message_id", 65),
        ("i", "source_addr_ton", 1), ("i", "source_addr_npi", 1), ("c", "source_addr", 21),
        ("i", "dest_addr_ton", 1), ("i", "dest_addr_npi", 1), ("c", "destination_addr", 21),
    ),
    "ReplaceSm": (
        ("c", "message_id", 65),
        ("i", "source_addr_ton", 1), ("i", "source_addr_npi", 1), ("c", "source_addr", 21),
        ("t", "schedule_delivery_time"), ("t", "validity_period"),
        ("i", "registered_delivery", 1), ("i", "sm_default_msg_id", 1),
        ("sm",),
    ),
}  # fmt: skip


@attrs.frozen
class _Compiled:
    cls: type[Pdu]
    response: bool
    dec_ops: tuple[_DecodeOp, ...]
    enc_ops: tuple[_EncodeOp, ...]
    body_values: Callable[[Pdu], Any] | None
    default_body: Any
    defaults: dict[str, Any]


def _compile(cls: type[Pdu], layout: _Layout) -> _Compiled:
    ops: list[tuple[_DecodeOp, _EncodeOp]] = []
    ints: list[tuple[str, int]] = []

    def flush() -> None:
        if ints:
            ops.append(_ints_op(tuple(ints)))
            ints.clear()

    for i, item in enumerate(layout):
        kind = item[0]
        if kind == "i":
            ints.append((item[1], item[2]))
            continue
        flush()
        if kind == "c":
            ops.append(_cstr_op(item[1], item[2], last=i == len(layout) - 1))
        elif kind == "t":
            ops.append(_time_op(item[1]))
        elif kind == "sm":
            ops.append(_short_message_op())
        elif kind == "dests":
            ops.append(_dest_addresses_op())
        elif kind == "unsucc":
            ops.append(_unsuccess_op())
        else:  # pragma: no cover
            raise AssertionError(kind)
    flush()
    field_names = [f.name for f in attrs.fields(cls)][3:]  # after seq, status, tlvs
    getter = attrgetter(*field_names) if field_names else None
    default = getter(cls()) if getter is not None else None
    return _Compiled(
        cls=cls,
        response=is_response(cls.command_id),
        dec_ops=tuple(d for d, _ in ops),
        enc_ops=tuple(e for _, e in ops),
        body_values=getter,
        default_body=default,
        defaults=dict(cls().__dict__),
    )


_BY_ID: dict[int, _Compiled] = {}
_BY_CLASS: dict[type[Pdu], _Compiled] = {}
# Generated straight-line paths for the common case (see _fastpath); None -> generic path.
_FAST_DECODE: dict[int, FastDecoder] = {}
_FAST_ENCODE: dict[type[Pdu], FastEncoder] = {}
for _cid, _cls in PDU_CLASSES.items():
    _c = _compile(_cls, _LAYOUTS[_cls.__name__])
    _BY_ID[_cid] = _c
    _BY_CLASS[_cls] = _c
    _fast = compile_fast(_cls, _LAYOUTS[_cls.__name__])
    if _fast is not None:
        _FAST_ENCODE[_cls], _FAST_DECODE[_cid] = _fast
del _cid, _cls, _c, _fast

_pack_header = HEADER.pack
_unpack_header = HEADER.unpack_from


# --- public API -------------------------------------------------------------------------------


def encode(pdu: Pdu) -> bytes:
    """Encode *pdu* (command_length computed). Raises LocalProtocolError on invalid values.

    An error response (command_status != 0) whose mandatory fields are all at their
    defaults and that has no TLVs is sent header-only (reference §1.1).
    """
    try:  # no fast path (KeyError) or a value it does not take: generic path
        wire = _FAST_ENCODE[type(pdu)](pdu)
        if wire is not None:
            return wire
    except _FAST_ERRORS:
        pass
    return _encode_generic(pdu)


# What a generated fast path may raise on bad input; the generic path then reports it.
_FAST_ERRORS = (ProtocolError, AttributeError, LookupError, TypeError, ValueError, struct.error)


def _encode_generic(pdu: Pdu) -> bytes:
    comp = _BY_CLASS.get(type(pdu))
    if comp is None:
        raise LocalProtocolError(f"cannot encode {type(pdu).__name__}")
    out: list[bytes] = []
    if not (
        comp.response
        and pdu.command_status
        and not pdu.tlvs
        and (comp.body_values is None or comp.body_values(pdu) == comp.default_body)
    ):
        for op in comp.enc_ops:
            op(pdu, out)
        if pdu.tlvs:
            encode_tlvs(pdu.tlvs, out)
    body = b"".join(out)
    try:
        header = _pack_header(
            16 + len(body), comp.cls.command_id, pdu.command_status, pdu.sequence_number
        )
    except struct.error:
        raise LocalProtocolError("command_status or sequence_number out of 32-bit range") from None
    return header + body


def _decode_body(comp: _Compiled, data: bytes, end: int, out: dict[str, Any]) -> int:
    pos = 16
    if comp.response:
        for op in comp.dec_ops:
            if pos >= end:  # lenient: responses may stop early (e.g. 16-octet deliver_sm_resp)
                return pos
            pos = op(data, pos, end, out)
    else:
        for op in comp.dec_ops:
            pos = op(data, pos, end, out)
    if pos < end:
        out["tlvs"] = decode_tlvs(data, pos, end)
    return pos


def decode(data: bytes) -> Pdu:
    """Decode exactly one whole PDU.

    Raises a :class:`RemoteProtocolError` subclass with ``command_status``,
    ``command_id`` and ``sequence_number`` set as far as they could be read.
    """
    try:  # short header (struct.error), no fast path (KeyError), bad body: generic path
        length, command_id, status, seq = _unpack_header(data, 0)
        fast = _FAST_DECODE[command_id]
        end = len(data)
        if length == end:
            pdu = fast(data, end, status, seq)
            if pdu is not None:
                return pdu
    except _FAST_ERRORS:
        pass
    return _decode_generic(data)


def _decode_generic(data: bytes) -> Pdu:
    end = len(data)
    if end < 16:
        raise InvalidCommandLength(f"PDU of {end} octets is shorter than the 16-octet header")
    length, command_id, status, seq = _unpack_header(data, 0)
    if length != end:
        raise InvalidCommandLength(
            f"command_length {length} does not match the {end} octets given",
            command_id=command_id,
            sequence_number=seq,
        )
    comp = _BY_ID.get(command_id)
    if comp is None:
        raise InvalidCommandId(
            f"unknown command_id 0x{command_id:08X}", command_id=command_id, sequence_number=seq
        )
    out = comp.defaults.copy()
    out["sequence_number"] = seq
    out["command_status"] = status
    try:
        _decode_body(comp, data, end, out)
    except ProtocolError as exc:
        if comp.response and status:
            # The body of an error response is ignored when it cannot be decoded (§1.1).
            return comp.cls(sequence_number=seq, command_status=status)
        exc.command_id = command_id
        exc.sequence_number = seq
        raise
    except (IndexError, ValueError, struct.error) as exc:  # defensive: never leak other errors
        raise RemoteProtocolError(
            f"undecodable body: {exc}", command_id=command_id, sequence_number=seq
        ) from exc
    # The decoded values are complete and typed: install them as the instance dict in one
    # step instead of running the frozen __init__ field by field (the hot-path cost).
    pdu = _new(comp.cls)
    _setattr(pdu, "__dict__", out)
    return pdu


_new = object.__new__
_setattr = object.__setattr__
