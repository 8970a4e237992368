"""Per-class encode/decode fast paths, generated once at import from the codec's layouts.

Owns nothing but speed. For each PDU class whose layout has only C-strings, times, integers
and sm_length+short_message, :func:`compile_fast` builds (with ``exec``) two straight-line
functions specialised to that class's field list:

* the decoder decodes the whole PDU to Latin-1 once, matches one precompiled regex that
  finds, bounds and extracts every string field, reads the one-octet integers by index
  and stores the values straight into a fresh instance's own ``__dict__`` (no
  ``__init__``, no per-field calls);
* the encoder reads the instance dict, encodes each string once and packs header and body
  with one ``struct.Struct`` per combination of field lengths (cached, bounded), so the
  NUL terminators, sm_length and command_length come out of a single ``pack`` call.

Both return None at the first anomaly (missing NUL, over-long or truncated field, error
response, …) and may raise on a value out of range; the codec then re-runs the generic,
field-by-field encoder/decoder, which raises the precise error. So every behaviour, error
and status is defined once, in :mod:`.codec`: a fast path only ever agrees or steps aside.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from struct import Struct
from typing import Any

import attrs

from .pdu import Pdu, is_response
from .tlv import EMPTY_TLVS, decode_tlvs, encoded_tlvs

__all__ = ["FastDecoder", "FastEncoder", "Layout", "compile_fast"]

#: The codec's field layout mini-language (see ``codec._LAYOUTS``).
Layout = tuple[tuple[Any, ...], ...]
#: ``(data, end, command_status, sequence_number) -> Pdu | None``; header already checked.
FastDecoder = Callable[[bytes, int, int, int], Pdu | None]
#: ``(pdu) -> wire bytes | None``; may raise on out-of-range values.
FastEncoder = Callable[[Pdu], bytes | None]

_INT_FMT = {1: "B", 2: "H", 4: "I"}
_MAX_SHORT_MESSAGE = 254
#: Distinct field-length combinations cached per class before the cache starts over.
_CACHE_LIMIT = 4096


def _plus(expr: str, off: int) -> str:
    return f"{expr} + {off}" if off else expr


def _decoder_lines(layout: Layout, env: dict[str, Any]) -> tuple[list[str], str | None]:
    """Source lines of a decoder body, and the regular expression it uses (if any).

    The layout up to its last string field becomes one anchored regex over the Latin-1
    text of the PDU: each C-string a NUL-free group of bounded length plus its NUL, each
    time a group of 0 or 16 characters plus NUL, each integer one character. One
    ``match`` thus finds, bounds and extracts every string; integers are then read by
    index from the bytes at offsets derived from the string lengths.
    """
    last_str = max((k for k, item in enumerate(layout) if item[0] in ("c", "t")), default=-1)
    lines: list[str] = []
    pattern: list[str] = []
    groups: list[str] = []
    for item in layout[: last_str + 1]:
        if item[0] == "c":
            pattern.append(f"([^\\0]{{0,{item[2] - 1}}}+)\\0")  # possessive: no backtracking
            groups.append(f"v_{item[1]}")
        elif item[0] == "t":
            pattern.append("(|[^\\0]{16})\\0")
            groups.append(f"v_{item[1]}")
        else:
            pattern.append(".")
    if groups:
        lines += [
            "m = _match(data.decode('latin-1'), 16)",
            "if m is None: return None",
            f"({', '.join(groups)},) = m.groups()",
        ]
    # Values go straight into the new instance's own (key-sharing) __dict__, in attrs'
    # field order: no __init__, no intermediate dict, no per-field locals.
    lines += [
        "pdu = _new(_cls)",
        "d = pdu.__dict__",
        "d['sequence_number'] = seq",
        "d['command_status'] = status",
        "d['tlvs'] = _EMPTY",
    ]
    pos, off = "16", 0  # offset expression just past the previous NUL, plus constant octets
    head = layout[: last_str + 1]
    for k, item in enumerate(head):
        if item[0] == "i":
            lines.append(f"d[{item[1]!r}] = data[{_plus(pos, off)}]")
            off += 1
            continue
        lines.append(f"d[{item[1]!r}] = v_{item[1]}")
        if pos.isdigit():  # constant base: fold it
            nxt = f"len(v_{item[1]}) + {int(pos) + off + 1}"
        else:
            nxt = f"{pos} + len(v_{item[1]}) + {off + 1}"
        if any(later[0] == "i" for later in head[k + 1 :]):  # needed by integers: materialise
            lines.append(f"q = {nxt}")
            nxt = "q"
        pos, off = nxt, 0
    lines.append("p = m.end()" if groups else "p = 16")
    # After the last string: the integers (and sm_length) in one unpack, which raises
    # struct.error (-> generic path) when the body is too short.
    tail = layout[last_str + 1 :]
    targets = [f"d[{item[1]!r}]" for item in tail if item[0] == "i"]
    has_sm = any(item[0] == "sm" for item in tail)
    if has_sm:
        targets.append("n")
    if targets:
        unpack = f"_unpack_tail{len(targets)}"
        env[unpack] = Struct(">" + "B" * len(targets)).unpack_from
        lines += [f"({', '.join(targets)},) = {unpack}(data, p)", f"p += {len(targets)}"]
    if has_sm:
        lines += [
            "n += p",
            "if n > end: return None",
            "d['short_message'] = data[p:n]",
            "p = n",
        ]
    lines += ["if p != end: d['tlvs'] = _decode_tlvs(data, p, end)", "return pdu"]
    return lines, "".join(pattern) if groups else None


def _make_decoder(cls: type[Pdu], layout: Layout) -> FastDecoder:
    env: dict[str, Any] = {
        "_EMPTY": EMPTY_TLVS,
        "_decode_tlvs": decode_tlvs,
        "_new": object.__new__,
        "_cls": cls,
    }
    lines, pattern = _decoder_lines(layout, env)
    if pattern is not None:
        env["_match"] = re.compile(pattern, re.DOTALL).match
    src = "\n    ".join(["def decode(data, end, status, seq):", *lines])
    exec(compile(src, f"<smppcore fast decode {cls.__name__}>", "exec"), env)
    fn: FastDecoder = env["decode"]
    return fn


def _struct_for(layout: Layout) -> Callable[[tuple[int, ...]], Struct | None]:
    """Factory of the whole-PDU Struct for one combination of string/message lengths,
    or None when a length breaks a field limit (the generic encoder then says which)."""

    def make(key: tuple[int, ...]) -> Struct | None:
        lengths = iter(key)
        fmt = [">IIII"]
        for item in layout:
            kind = item[0]
            if kind == "i":
                fmt.append(_INT_FMT[item[2]])
                continue
            n = next(lengths)
            if kind == "c" and n >= item[2]:
                return None
            if kind == "t" and n not in (0, 16):
                return None
            if kind == "sm":
                if n > _MAX_SHORT_MESSAGE:
                    return None
                fmt.append(f"B{n}s")
            else:
                fmt.append(f"{n + 1}s")
        return Struct("".join(fmt))

    return make


def _make_encoder(cls: type[Pdu], layout: Layout) -> FastEncoder:
    cache: dict[tuple[int, ...], tuple[Callable[..., bytes], int]] = {}
    make = _struct_for(layout)

    def lookup(key: tuple[int, ...]) -> tuple[Callable[..., bytes], int] | None:
        st = make(key)
        if st is None:
            return None
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        entry = cache[key] = (st.pack, st.size)
        return entry

    env: dict[str, Any] = {
        "_get": cache.get,
        "_lookup": lookup,
        "_tlv_bytes": encoded_tlvs,
        "_bytes": bytes,
        "_EMPTY": EMPTY_TLVS,
    }
    lines = ["d = pdu.__dict__"]
    if is_response(cls.command_id):  # error responses may go header-only: generic decides
        lines.append("if d['command_status']: return None")
    strs: list[str] = []
    lens: list[str] = []
    args: list[str] = []
    for item in layout:
        kind = item[0]
        if kind == "i":
            args.append(f"d[{item[1]!r}]")
        elif kind == "sm":
            lines += [
                "sm = d['short_message']",
                "if type(sm) is not _bytes: return None",
                "n = len(sm)",
            ]
            lens.append("n")
            args += ["n", "sm"]
        else:
            var = f"b_{item[1]}"
            lines.append(f"{var} = d[{item[1]!r}].encode('latin-1')")
            strs.append(var)
            lens.append(f"len({var})")
            args.append(var)
    key = "(" + "".join(f"{x}, " for x in lens) + ")"
    lines += [
        f"entry = _get({key})",
        "if entry is None:",
        f"    entry = _lookup({key})",
        "    if entry is None: return None",
    ]
    if strs:
        lines.append("if " + " or ".join(f"0 in {v}" for v in strs) + ": return None")
    head = f"{int(cls.command_id)}, d['command_status'], d['sequence_number']"
    tail = "".join(f", {a}" for a in args)
    lines += [
        "pack, size = entry",
        "tlvs = d['tlvs']",
        "if tlvs is not _EMPTY and tlvs:",
        "    t = _tlv_bytes(tlvs)",
        f"    return pack(size + len(t), {head}{tail}) + t",
        f"return pack(size, {head}{tail})",
    ]
    src = "\n    ".join(["def encode(pdu):", *lines])
    exec(compile(src, f"<smppcore fast encode {cls.__name__}>", "exec"), env)
    fn: FastEncoder = env["encode"]
    return fn


def compile_fast(cls: type[Pdu], layout: Layout) -> tuple[FastEncoder, FastDecoder] | None:
    """Generated (encoder, decoder) for *cls*, or None when its layout has composite
    fields or does not name exactly the class's body fields in order."""
    kinds = "".join(item[0][0] for item in layout)  # c, t, i, s(m)
    if not re.fullmatch(r"[cti]*i*s?", kinds) or any(
        item[0] == "i" and item[2] != 1 for item in layout
    ):
        return None
    names = [f.name for f in attrs.fields(cls)][3:]  # after seq, status, tlvs
    laid = [item[1] if item[0] != "sm" else "short_message" for item in layout]
    if names != laid:
        return None
    return _make_encoder(cls, layout), _make_decoder(cls, layout)
