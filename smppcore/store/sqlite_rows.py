"""Mapping between the store's records and SQLite rows (columns, parameters, JSON export)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any, Final

import attrs

from smppcore.store.base import (
    DeliveryItem,
    DeliveryKind,
    MtMessage,
    MtState,
    PendingReceipt,
    ReplyPart,
)

_PUNCTUATION: Final = str.maketrans("", "", "+ -()")


def canon_address(value: str) -> str:
    """Canonical form of an address: a number (digits with optional ``+``, spaces, dashes,
    brackets) becomes :func:`~smppcore.store.hashing.canonical_msisdn` of it; an
    alphanumeric sender (``ACME``) is kept as written. On the enqueue hot path, hence the
    ``str.translate`` form of the same rule."""
    text = value.strip()
    digits = text.translate(_PUNCTUATION)
    if not (digits and digits.isascii() and digits.isdigit()):
        return text
    if text.startswith("00") and digits.startswith("00"):
        return digits[2:]
    return digits


MT_COLUMNS: Final = (
    "id",
    "account",
    "connector",
    "source_addr",
    "source_canon",
    "destination_addr",
    "destination_canon",
    "source_addr_ton",
    "source_addr_npi",
    "dest_addr_ton",
    "dest_addr_npi",
    "service_type",
    "esm_class",
    "protocol_id",
    "priority",
    "registered_delivery",
    "data_coding",
    "payload",
    "tlvs",
    "submitted_at",
    "not_before",
    "validity_until",
    "expires_at",
    "attempts",
    "state",
    "lease_until",
    "final_at",
    "error_code",
    "segment_states",
    "parts_accepted",
)
MT_SELECT: Final = "SELECT " + ", ".join(MT_COLUMNS) + " FROM mt_messages"
#: An id already stored is left as it is (a retried enqueue is harmless, as on Redis).
MT_INSERT: Final = (
    f"INSERT INTO mt_messages ({', '.join(MT_COLUMNS)}) VALUES ({', '.join('?' * len(MT_COLUMNS))})"
    " ON CONFLICT (id) DO NOTHING"
)


def encode_segments(states: Mapping[int, int]) -> str:
    if not states:
        return "{}"  # the common case (no receipt yet), without a json call on the hot path
    return json.dumps({str(k): int(v) for k, v in sorted(states.items())})


def decode_segments(text: str) -> dict[int, int]:
    if text == "{}":
        return {}
    return {int(k): int(v) for k, v in json.loads(text).items()}


def mt_params(m: MtMessage) -> tuple[Any, ...]:
    return (
        m.id,
        m.account,
        m.connector,
        m.source_addr,
        canon_address(m.source_addr),
        m.destination_addr,
        canon_address(m.destination_addr),
        m.source_addr_ton,
        m.source_addr_npi,
        m.dest_addr_ton,
        m.dest_addr_npi,
        m.service_type,
        m.esm_class,
        m.protocol_id,
        m.priority,
        m.registered_delivery,
        m.data_coding,
        bytes(m.payload),
        bytes(m.tlvs),
        m.submitted_at,
        m.not_before,
        m.validity_until,
        m.expires_at,
        m.attempts,
        int(m.state),
        m.lease_until,
        m.final_at,
        m.error_code,
        encode_segments(m.segment_states),
        m.parts_accepted,
    )


def mt_from_row(
    row: sqlite3.Row | tuple[Any, ...],
    lease_until: float | None = None,
) -> MtMessage:
    """The record of a row; with ``lease_until`` as it is after a lease (state LEASED,
    ``lease_until`` replaced), without building it twice."""
    r = tuple(row)
    if lease_until is None:
        state, lease_until = MtState(r[24]), r[25]
    else:
        state = MtState.LEASED
    return MtMessage(
        id=r[0],
        account=r[1],
        connector=r[2],
        source_addr=r[3],
        destination_addr=r[5],
        source_addr_ton=r[7],
        source_addr_npi=r[8],
        dest_addr_ton=r[9],
        dest_addr_npi=r[10],
        service_type=r[11],
        esm_class=r[12],
        protocol_id=r[13],
        priority=r[14],
        registered_delivery=r[15],
        data_coding=r[16],
        payload=bytes(r[17]),
        tlvs=bytes(r[18]),
        submitted_at=r[19],
        not_before=r[20],
        validity_until=r[21],
        expires_at=r[22],
        attempts=r[23],
        state=state,
        lease_until=lease_until,
        final_at=r[26],
        error_code=r[27],
        segment_states=decode_segments(r[28]),
        parts_accepted=r[29],
    )


DELIVERY_COLUMNS: Final = (
    "id",
    "account",
    "kind",
    "source_addr",
    "source_canon",
    "destination_addr",
    "destination_canon",
    "source_addr_ton",
    "source_addr_npi",
    "dest_addr_ton",
    "dest_addr_npi",
    "esm_class",
    "protocol_id",
    "data_coding",
    "short_message",
    "tlvs",
    "message_id",
    "created_at",
    "not_before",
    "expires_at",
    "attempts",
    "lease_until",
    "lease_owner",
)
DELIVERY_SELECT: Final = "SELECT " + ", ".join(DELIVERY_COLUMNS) + " FROM delivery_items"
#: An id already stored is left as it is: a retried enqueue neither duplicates the item nor
#: resets its lease (which would hand it out twice), as on Redis.
DELIVERY_INSERT: Final = (
    f"INSERT INTO delivery_items ({', '.join(DELIVERY_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(DELIVERY_COLUMNS))}) ON CONFLICT (id) DO NOTHING"
)


def delivery_params(d: DeliveryItem) -> tuple[Any, ...]:
    return (
        d.id,
        d.account,
        int(d.kind),
        d.source_addr,
        canon_address(d.source_addr),
        d.destination_addr,
        canon_address(d.destination_addr),
        d.source_addr_ton,
        d.source_addr_npi,
        d.dest_addr_ton,
        d.dest_addr_npi,
        d.esm_class,
        d.protocol_id,
        d.data_coding,
        bytes(d.short_message),
        bytes(d.tlvs),
        d.message_id,
        d.created_at,
        d.not_before,
        d.expires_at,
        d.attempts,
        d.lease_until,
        d.lease_owner,
    )


def delivery_from_row(row: sqlite3.Row | tuple[Any, ...]) -> DeliveryItem:
    r = tuple(row)
    return DeliveryItem(
        id=r[0],
        account=r[1],
        kind=DeliveryKind(r[2]),
        source_addr=r[3],
        destination_addr=r[5],
        source_addr_ton=r[7],
        source_addr_npi=r[8],
        dest_addr_ton=r[9],
        dest_addr_npi=r[10],
        esm_class=r[11],
        protocol_id=r[12],
        data_coding=r[13],
        short_message=bytes(r[14]),
        tlvs=bytes(r[15]),
        message_id=r[16],
        created_at=r[17],
        not_before=r[18],
        expires_at=r[19],
        attempts=r[20],
        lease_until=r[21],
        lease_owner=r[22],
    )


PENDING_COLUMNS: Final = (
    "id",
    "connector",
    "upstream_id",
    "state",
    "err",
    "done_at",
    "network_error_code",
    "received_at",
    "next_try_at",
    "attempts",
    "expires_at",
    "unmatched",
)
PENDING_SELECT: Final = "SELECT " + ", ".join(PENDING_COLUMNS) + " FROM pending_receipts"
#: A receipt held again (a repeat from the operator, a new retry time) replaces the record.
PENDING_UPSERT: Final = (
    f"INSERT OR REPLACE INTO pending_receipts ({', '.join(PENDING_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(PENDING_COLUMNS))})"
)


def pending_params(p: PendingReceipt) -> tuple[Any, ...]:
    return (
        p.id, p.connector, p.upstream_id, p.state, p.err, p.done_at,
        bytes(p.network_error_code), p.received_at, p.next_try_at, p.attempts, p.expires_at,
        int(p.unmatched),
    )  # fmt: skip


def pending_from_row(row: sqlite3.Row | tuple[Any, ...]) -> PendingReceipt:
    r = tuple(row)
    return PendingReceipt(
        id=r[0], connector=r[1], upstream_id=r[2], state=r[3], err=r[4], done_at=r[5],
        network_error_code=bytes(r[6]), received_at=r[7], next_try_at=r[8], attempts=r[9],
        expires_at=r[10], unmatched=bool(r[11]),
    )  # fmt: skip


REPLY_PART_COLUMNS: Final = (
    "message_key",
    "part",
    "connector",
    "source_addr",
    "source_canon",
    "destination_addr",
    "destination_canon",
    "source_addr_ton",
    "source_addr_npi",
    "dest_addr_ton",
    "dest_addr_npi",
    "esm_class",
    "protocol_id",
    "data_coding",
    "short_message",
    "tlvs",
    "received_at",
    "expires_at",
)
REPLY_PART_SELECT: Final = "SELECT " + ", ".join(REPLY_PART_COLUMNS) + " FROM reply_parts"
#: A part stored already (the operator resent it) stays as it is.
REPLY_PART_INSERT: Final = (
    f"INSERT INTO reply_parts ({', '.join(REPLY_PART_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(REPLY_PART_COLUMNS))})"
    " ON CONFLICT (message_key, part) DO NOTHING"
)


def reply_part_params(p: ReplyPart) -> tuple[Any, ...]:
    return (
        p.message_key, p.seq, p.connector, p.source_addr, canon_address(p.source_addr),
        p.destination_addr, canon_address(p.destination_addr), p.source_addr_ton,
        p.source_addr_npi, p.dest_addr_ton, p.dest_addr_npi, p.esm_class, p.protocol_id,
        p.data_coding, bytes(p.short_message), bytes(p.tlvs), p.received_at, p.expires_at,
    )  # fmt: skip


def reply_part_from_row(row: sqlite3.Row | tuple[Any, ...]) -> ReplyPart:
    r = tuple(row)
    return ReplyPart(
        message_key=r[0], seq=r[1], connector=r[2], source_addr=r[3], destination_addr=r[5],
        source_addr_ton=r[7], source_addr_npi=r[8], dest_addr_ton=r[9], dest_addr_npi=r[10],
        esm_class=r[11], protocol_id=r[12], data_coding=r[13], short_message=bytes(r[14]),
        tlvs=bytes(r[15]), received_at=r[16], expires_at=r[17],
    )  # fmt: skip


def to_json_ready(record: Any) -> dict[str, object]:
    """An attrs record as a JSON-ready dict: bytes become hex, enums their numbers,
    mapping keys strings."""
    out: dict[str, object] = {}
    for field in attrs.fields(type(record)):
        out[field.name] = _json_value(getattr(record, field.name))
    return out


def _json_value(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value
