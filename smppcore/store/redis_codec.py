"""Mapping between the store's records and Redis hashes, and the Redis key layout.

Every record is one Redis hash whose fields are the attrs fields of the record, encoded as
text (floats with ``repr`` so they round-trip exactly, ints and enums as decimal) or raw bytes.
Fields whose name starts with ``_`` are bookkeeping of the Redis store (queue member, index
list) and are never part of a record. ``MtMessage.segment_states`` lives in its own hash
(``mtseg:<id>``) so that two daemons recording different segments never race on one value.

Key layout, all under the configured prefix ``P``:

=====================  ======  =============================================================
key                    type    holds
=====================  ======  =============================================================
``mt:<id>``            hash    one MT message
``mtseg:<id>``         hash    segment -> state of one MT message
``mts:<connector>``    zset    QUEUED ids waiting for ``not_before`` (score = not_before)
``mtq:<connector>``    zset    ready queue members (score 0, ordered by member, see below)
``mtl:<connector>``    zset    LEASED ids (score = lease_until)
``mtacct:<account>``   set     ids still QUEUED or LEASED (the per-account cap)
``mtseq``              string  enqueue counter (the tie-breaker of the queue order)
``exp:mt``             zset    final messages by ``expires_at`` (purge)
``val:mt``             zset    messages holding a payload by when it must be cleared
``dlv:<id>``           hash    one delivery item
``dlvs:/dlvq:/dlvl:``  zsets   the same three queue stages per account
``dlvseq``/``exp:dlv``         as for MT
``dlvo:<node>``        set     ids of delivery items leased to that node (may hold stale ids
                               of leases that expired; the item's ``lease_owner`` decides)
``pend:<id>``          hash    one pending receipt; ``pendq`` zset of the ids being retried
                               by ``next_try_at``, ``exp:pend`` zset of all by expiry
``rp:<mkey>:<seq>``    hash    one part of a long reply; ``rpm:<mkey>`` set of a reply's part
                               keys, ``rpq`` zset of all part keys in arrival order
                               (``rpseq`` counter), ``exp:rp`` zset of them by expiry
``idmap:<c>:<up id>``  hash    one id map entry; ``exp:idmap`` zset of keys by expiry
``conv:<h(s)><h(r)>``  hash    one conversation, keyed by keyed hashes of both numbers;
                               ``exp:conv`` zset of keys by expiry
``sup``                hash    ``<recipient_hash>:<scope_hash>`` -> JSON keyword/created_at
``audit``              list    JSON audit events, oldest first
``idx:<h(number)>``    set     every record key mentioning the number (erase and export)
=====================  ======  =============================================================

A record's ``_idx`` field lists the hashes of the numbers it mentions (id maps and receipts
also inherit those of the MT message they refer to), so deleting a record by any path unlinks
it from every ``idx:`` set. A queue stage holds a LEASED message whose lease expired once a
lease call has reclaimed it into the ready queue (its state stays LEASED, as in SQLite).

A ready-queue member is ``<9-priority>|<submitted_at, fixed width>|<seq>|<id>``: all scores
are 0, so ``ZRANGE`` returns members in byte order, which is highest priority first, then
oldest ``submitted_at``, then enqueue order (the SQLite order).
"""

from __future__ import annotations

import enum
import itertools
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

import attrs

from smppcore.store.base import MtMessage
from smppcore.store.hashing import canonical_msisdn

R = TypeVar("R")

_NUMBER_CHARS: Final = frozenset("0123456789+ -()")
#: Record fields that are not stored in the record's own hash.
_SEPARATE: Final = frozenset({"segment_states"})


def canon_address(value: str) -> str:
    """A number loses ``+``/``00``/spacing; an alphanumeric sender is kept as written
    (the same rule as the SQLite store, so both give the same records back)."""
    text = value.strip()
    if text and any(ch.isdigit() for ch in text) and all(ch in _NUMBER_CHARS for ch in text):
        return canonical_msisdn(text)
    return text


def encode_value(value: object) -> bytes | str:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):  # includes IntEnum
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a Redis hash")


def to_fields(record: Any) -> dict[str, bytes | str]:
    """The hash fields of a record (without separately stored fields)."""
    return {
        f.name: encode_value(getattr(record, f.name))
        for f in attrs.fields(type(record))
        if f.name not in _SEPARATE
    }


@attrs.frozen
class _Decoder:
    cls: type[Any]
    converters: tuple[tuple[str, typing.Callable[[bytes], object]], ...]


_DECODERS: dict[type[Any], _Decoder] = {}


def _converter(tp: Any) -> typing.Callable[[bytes], object]:
    if tp is bool:
        return lambda b: b == b"1"
    if tp is str:
        return lambda b: b.decode("utf-8")
    if tp is bytes:
        return bytes
    if tp is float:
        return float
    if tp is int:
        return int
    if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        return lambda b: tp(int(b))
    raise TypeError(f"no Redis decoding for {tp!r}")


def _decoder(cls: type[Any]) -> _Decoder:
    dec = _DECODERS.get(cls)
    if dec is None:
        hints = typing.get_type_hints(cls)
        dec = _Decoder(
            cls,
            tuple(
                (f.name, _converter(hints[f.name]))
                for f in attrs.fields(cls)
                if f.name not in _SEPARATE
            ),
        )
        _DECODERS[cls] = dec
    return dec


def pairs_to_dict(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    """A flat ``HGETALL`` reply from Lua (``[f1, v1, f2, v2, ...]``) as a dict."""
    return {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def unpack_pairs(blob: bytes) -> dict[bytes, bytes]:
    """A hash packed by the Lua ``packed`` helper (``<len>,<len>,...;`` then the fields and
    values back to back) as a dict."""
    head, _, body = blob.partition(b";")
    if not head:
        return {}
    offsets = list(itertools.accumulate((int(n) for n in head.split(b",")), initial=0))
    items = [body[a:b] for a, b in itertools.pairwise(offsets)]
    return dict(zip(items[::2], items[1::2], strict=True))


def from_fields(cls: type[R], fields: Mapping[Any, Any], **extra: object) -> R:
    """Build a record from its hash; fields missing from the hash take their defaults."""
    dec = _decoder(cls)
    kwargs: dict[str, object] = {}
    for name, conv in dec.converters:
        raw = fields.get(name.encode())
        if raw is not None:
            kwargs[name] = conv(raw)
    kwargs.update(extra)
    return cls(**kwargs)


def segments_from(fields: Mapping[Any, Any]) -> dict[int, int]:
    return dict(sorted((int(k), int(v)) for k, v in fields.items()))


def mt_from(fields: Mapping[Any, Any], segments: Mapping[Any, Any]) -> MtMessage:
    return from_fields(MtMessage, fields, segment_states=segments_from(segments))


def queue_head(priority: int, when: float) -> str:
    """The start of a record's ready-queue member; the Lua script appends ``<seq>|<id>``.
    See the module docstring for the order it gives."""
    p = 9 - min(max(priority, 0), 9)
    return f"{p}|{max(when, 0.0):020.6f}|"


def json_ready(record: Any) -> dict[str, object]:
    """An attrs record as a JSON-ready dict: bytes as hex, enums as numbers."""
    return {f.name: _json_value(getattr(record, f.name)) for f in attrs.fields(type(record))}


def _json_value(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value
