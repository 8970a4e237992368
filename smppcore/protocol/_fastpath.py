"""Hand-inlined happy path for the submit_sm / deliver_sm body (the gateway's hot path).

Owns nothing but speed: both functions return None at the first anomaly, and the codec then
re-runs the generic, field-by-field encoder/decoder, which raises the precise error. So the
behaviour (including every error and status) is defined once, in :mod:`.codec`.
"""

from __future__ import annotations

from typing import Any

_NUL = b"\0"


def encode_sm_body(d: dict[str, Any]) -> bytes | None:
    """Body of a submit_sm/deliver_sm from the instance dict, or None to fall back."""
    try:
        st = d["service_type"].encode("latin-1")
        src = d["source_addr"].encode("latin-1")
        dst = d["destination_addr"].encode("latin-1")
        sched = d["schedule_delivery_time"].encode("latin-1")
        val = d["validity_period"].encode("latin-1")
        sm = d["short_message"]
        if (
            len(st) > 5
            or len(src) > 20
            or len(dst) > 20
            or len(sched) not in (0, 16)
            or len(val) not in (0, 16)
            or type(sm) is not bytes
            or len(sm) > 254
            or _NUL in st
            or _NUL in src
            or _NUL in dst
            or _NUL in sched
            or _NUL in val
        ):
            return None
        return b"".join(
            (
                st,
                bytes((0, d["source_addr_ton"], d["source_addr_npi"])),
                src,
                bytes((0, d["dest_addr_ton"], d["dest_addr_npi"])),
                dst,
                bytes((0, d["esm_class"], d["protocol_id"], d["priority_flag"])),
                sched,
                _NUL,
                val,
                bytes(
                    (
                        0,
                        d["registered_delivery"],
                        d["replace_if_present_flag"],
                        d["data_coding"],
                        d["sm_default_msg_id"],
                        len(sm),
                    )
                ),
                sm,
            )
        )
    except (AttributeError, UnicodeEncodeError, ValueError, TypeError):
        return None


def decode_sm_body(data: bytes, end: int, out: dict[str, Any]) -> int | None:
    """Decode the mandatory submit_sm/deliver_sm fields into *out*; the end position, or
    None at the first anomaly (then the generic decoder reports it)."""
    find = data.find
    pos = 16
    n = find(_NUL, pos, end)
    if n < 0 or n - pos > 5 or n + 3 > end:
        return None
    out["service_type"] = data[pos:n].decode("latin-1")
    out["source_addr_ton"] = data[n + 1]
    out["source_addr_npi"] = data[n + 2]
    pos = n + 3
    n = find(_NUL, pos, end)
    if n < 0 or n - pos > 20 or n + 3 > end:
        return None
    out["source_addr"] = data[pos:n].decode("latin-1")
    out["dest_addr_ton"] = data[n + 1]
    out["dest_addr_npi"] = data[n + 2]
    pos = n + 3
    n = find(_NUL, pos, end)
    if n < 0 or n - pos > 20 or n + 4 > end:
        return None
    out["destination_addr"] = data[pos:n].decode("latin-1")
    out["esm_class"] = data[n + 1]
    out["protocol_id"] = data[n + 2]
    out["priority_flag"] = data[n + 3]
    pos = n + 4
    n = find(_NUL, pos, end)
    if n < 0 or (n != pos and n - pos != 16):
        return None
    out["schedule_delivery_time"] = data[pos:n].decode("latin-1") if n != pos else ""
    pos = n + 1
    n = find(_NUL, pos, end)
    if n < 0 or (n != pos and n - pos != 16) or n + 6 > end:
        return None
    out["validity_period"] = data[pos:n].decode("latin-1") if n != pos else ""
    out["registered_delivery"] = data[n + 1]
    out["replace_if_present_flag"] = data[n + 2]
    out["data_coding"] = data[n + 3]
    out["sm_default_msg_id"] = data[n + 4]
    pos = n + 6
    stop = pos + data[n + 5]
    if stop > end:
        return None
    out["short_message"] = data[pos:stop]
    return stop
