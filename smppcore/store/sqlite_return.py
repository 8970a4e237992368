"""The SQL of the return path's records, as plain synchronous functions of a connection.

Owns what the store does for receipts and replies: making MT messages final together with
the receipt their client gets (:func:`finalise_mt`), segment states, the receipt look-up
through the id maps (:func:`match_receipt`), pending receipts, parts of long replies, and the
per-account delivery queue with node-owned leases. Write functions run inside the writer's
group-commit transaction; read functions on a reader connection (or, for
:func:`match_receipt`, the quick connection on the trio thread). None commits or touches trio.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, Final

import attrs

from smppcore.store.base import (
    DeliveryItem,
    FinalResult,
    IdMapEntry,
    MtFinal,
    MtState,
    PendingReceipt,
    ReceiptMatch,
    ReplyPart,
    SegmentStates,
)
from smppcore.store.sqlite_rows import (
    DELIVERY_INSERT,
    DELIVERY_SELECT,
    MT_COLUMNS,
    PENDING_SELECT,
    REPLY_PART_SELECT,
    decode_segments,
    delivery_from_row,
    delivery_params,
    encode_segments,
    mt_from_row,
    pending_from_row,
    reply_part_from_row,
)

_FINAL: Final = ", ".join(str(int(s)) for s in MtState if s.is_final)
#: Rows per statement of the multi-row forms below (4 parameters each, far below the
#: variable limit).
_CHUNK: Final = 200

# --- finals -------------------------------------------------------------------------------


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def finalise_mt(conn: sqlite3.Connection, finals: Sequence[MtFinal]) -> list[FinalResult]:
    """Every message of ``finals`` not final yet takes its state, and its receipt is queued;
    one ``UPDATE ... FROM (VALUES ...) RETURNING`` per chunk, one insert for the receipts.
    A message named twice in one call is finalised by its first entry."""
    firsts: dict[str, MtFinal] = {}
    for f in finals:
        firsts.setdefault(f.message_id, f)
    unique = list(firsts.values())
    done: set[str] = set()
    for chunk in _chunks(unique):
        values = ", ".join("(?, ?, ?, ?)" for _ in chunk)
        params: list[object] = []
        for f in chunk:
            params += [f.message_id, int(f.state), f.at, f.error_code]
        rows = conn.execute(
            f"WITH v(id, state, at, err) AS (VALUES {values})"
            " UPDATE mt_messages SET state = v.state, lease_until = 0, final_at = v.at,"
            " payload = X'', error_code = CASE WHEN v.err != 0 THEN v.err ELSE error_code END"
            f" FROM v WHERE mt_messages.id = v.id AND mt_messages.state NOT IN ({_FINAL})"
            " RETURNING mt_messages.id",
            params,
        ).fetchall()
        done.update(row[0] for row in rows)
    receipts = [
        delivery_params(f.receipt) for f in unique if f.receipt is not None and f.message_id in done
    ]
    if receipts:
        conn.executemany(DELIVERY_INSERT, receipts)
    others = [f.message_id for f in unique if f.message_id not in done]
    present: set[str] = set()
    for chunk in _chunks(others):
        marks = ", ".join("?" * len(chunk))
        present.update(
            row[0]
            for row in conn.execute(f"SELECT id FROM mt_messages WHERE id IN ({marks})", chunk)
        )
    out: list[FinalResult] = []
    for f in finals:
        if f.message_id in done and firsts[f.message_id] is f:
            out.append(FinalResult.FINALISED)
        elif f.message_id in done or f.message_id in present:
            out.append(FinalResult.ALREADY_FINAL)
        else:
            out.append(FinalResult.MISSING)
    return out


def record_segment(
    conn: sqlite3.Connection, message_id: str, segment: int, state: MtState
) -> SegmentStates:
    row = conn.execute(
        "SELECT segment_states FROM mt_messages WHERE id = ?", (message_id,)
    ).fetchone()
    if row is None:
        return SegmentStates({})
    states = decode_segments(row[0])
    if int(segment) in states:
        return SegmentStates(dict(sorted(states.items())), repeated=True)
    states[int(segment)] = int(state)
    conn.execute(
        "UPDATE mt_messages SET segment_states = ? WHERE id = ?",
        (encode_segments(states), message_id),
    )
    return SegmentStates(dict(sorted(states.items())))


# --- the receipt look-up --------------------------------------------------------------------

_MATCH_SELECT: Final = (
    "SELECT i.upstream_id, i.segment, i.total_segments, i.expires_at, "
    + ", ".join(f"m.{c}" for c in MT_COLUMNS)
    + " FROM id_maps i JOIN mt_messages m ON m.id = i.message_id WHERE i.connector = ?"
)


def match_receipt(
    conn: sqlite3.Connection, connector: str, candidates: Sequence[str]
) -> ReceiptMatch | None:
    """The first candidate alone (an operator usually writes the id the same way in the
    response and the receipt), then one indexed query for all the others; the first
    candidate (in the caller's order) that matched wins."""
    if not candidates:
        return None
    rows = conn.execute(f"{_MATCH_SELECT} AND i.upstream_id = ?", (connector, candidates[0]))
    best = rows.fetchone()
    if best is None and len(candidates) > 1:
        rest = candidates[1:]
        marks = ", ".join("?" * len(rest))
        found = conn.execute(
            f"{_MATCH_SELECT} AND i.upstream_id IN ({marks})", (connector, *rest)
        ).fetchall()
        if found:
            rank = {c: n for n, c in enumerate(rest)}
            best = min(found, key=lambda r: rank.get(r[0], len(rank)))
    if best is None:
        return None
    message = mt_from_row(best[4:])
    entry = IdMapEntry(
        connector=connector,
        upstream_id=best[0],
        message_id=message.id,
        account=message.account,
        segment=best[1],
        total_segments=best[2],
        expires_at=best[3],
    )
    return ReceiptMatch(entry, message)


# --- pending receipts -----------------------------------------------------------------------

PENDING_DROP: Final = "DELETE FROM pending_receipts WHERE id = ?"


def due_pending_receipts(conn: sqlite3.Connection, now: float, limit: int) -> list[PendingReceipt]:
    rows = conn.execute(
        f"{PENDING_SELECT} WHERE unmatched = 0 AND next_try_at <= ? ORDER BY next_try_at LIMIT ?",
        (now, max(limit, 0)),
    ).fetchall()
    return [pending_from_row(r) for r in rows]


def count_pending_receipts(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COUNT(*) FROM pending_receipts WHERE unmatched = 0").fetchone()
    return int(row[0])


def next_pending_receipt_at(conn: sqlite3.Connection) -> float | None:
    row = conn.execute(
        "SELECT MIN(next_try_at) FROM pending_receipts WHERE unmatched = 0"
    ).fetchone()
    return None if row[0] is None else float(row[0])


# --- reply parts ----------------------------------------------------------------------------

REPLY_PARTS_DROP: Final = "DELETE FROM reply_parts WHERE message_key = ?"


def reply_parts(conn: sqlite3.Connection, limit: int) -> list[ReplyPart]:
    rows = conn.execute(f"{REPLY_PART_SELECT} ORDER BY seq LIMIT ?", (max(limit, 0),)).fetchall()
    return [reply_part_from_row(r) for r in rows]


# --- delivery queues ------------------------------------------------------------------------


def lease_delivery(
    conn: sqlite3.Connection,
    account: str,
    limit: int,
    lease_seconds: float,
    now: float,
    owner: str,
) -> list[DeliveryItem]:
    if limit <= 0:
        return []
    rows = conn.execute(
        f"{DELIVERY_SELECT} WHERE account = ? AND not_before <= ? AND lease_until <= ?"
        " ORDER BY created_at, seq LIMIT ?",
        (account, now, now, limit),
    ).fetchall()
    until = now + lease_seconds
    conn.executemany(
        "UPDATE delivery_items SET lease_until = ?, lease_owner = ?, attempts = attempts + 1"
        " WHERE id = ?",
        [(until, owner, row[0]) for row in rows],
    )
    out = []
    for row in rows:
        d = delivery_from_row(row)
        out.append(attrs.evolve(d, lease_until=until, lease_owner=owner, attempts=d.attempts + 1))
    return out


ACK_DELIVERY_SQL: Final = "DELETE FROM delivery_items WHERE id = ?"


def nack_delivery(conn: sqlite3.Connection, item_id: str, retry_at: float) -> None:
    conn.execute(
        "UPDATE delivery_items SET not_before = ?, lease_until = 0, lease_owner = '' WHERE id = ?",
        (retry_at, item_id),
    )


def release_deliveries(conn: sqlite3.Connection, owner: str) -> int:
    cur = conn.execute(
        "UPDATE delivery_items SET lease_until = 0, lease_owner = '' WHERE lease_owner = ?",
        (owner,),
    )
    return cur.rowcount


def delivery_depth(conn: sqlite3.Connection, account: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM delivery_items WHERE account = ?", (account,)
    ).fetchone()
    return int(row[0])
