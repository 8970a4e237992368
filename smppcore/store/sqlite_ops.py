"""The SQL of every ``Store`` operation, as plain synchronous functions of a connection.

Write functions run inside the writer's group-commit transaction (each under its own
savepoint), read functions on a reader connection; neither commits nor touches trio. The
return path's records (finals, pending receipts, reply parts, delivery queues) are in
:mod:`smppcore.store.sqlite_return`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from smppcore.store.base import (
    AuditEvent,
    Conversation,
    IdMapEntry,
    MtChanges,
    MtMessage,
    MtState,
    Suppression,
)
from smppcore.store.sqlite_rows import (
    MT_INSERT,
    MT_SELECT,
    canon_address,
    mt_from_row,
)

_QUEUED = int(MtState.QUEUED)
_LEASED = int(MtState.LEASED)

# --- MT queue ---------------------------------------------------------------------------


def lease_mt(
    conn: sqlite3.Connection, connector: str, limit: int, lease_seconds: float, now: float
) -> list[MtMessage]:
    if limit <= 0:
        return []
    rows = conn.execute(
        f"{MT_SELECT} WHERE connector = ? AND state IN (100, 101)"
        " AND ((state = 100 AND not_before <= ?) OR (state = 101 AND lease_until <= ?))"
        " ORDER BY priority DESC, submitted_at, seq LIMIT ?",
        (connector, now, now, limit),
    ).fetchall()
    until = now + lease_seconds
    conn.executemany(
        "UPDATE mt_messages SET state = ?, lease_until = ? WHERE id = ?",
        [(_LEASED, until, row[0]) for row in rows],
    )
    return [mt_from_row(row, until) for row in rows]


ACK_SQL = f"UPDATE mt_messages SET state = ?, lease_until = 0 WHERE id = ? AND state = {_LEASED}"


def ack_mt_params(message_id: str) -> tuple[object, ...]:
    """The parameters of :data:`ACK_SQL` (LEASED -> ENROUTE) for one message."""
    return (int(MtState.ENROUTE), message_id)


def nack_mt(
    conn: sqlite3.Connection, message_id: str, retry_at: float, error_code: int, attempted: bool
) -> None:
    conn.execute(
        "UPDATE mt_messages SET state = ?, not_before = ?, lease_until = 0, error_code = ?,"
        " attempts = attempts + ? WHERE id = ? AND state = ?",
        (_QUEUED, retry_at, error_code, int(attempted), message_id, _LEASED),
    )


def get_mt(conn: sqlite3.Connection, message_id: str) -> MtMessage | None:
    row = conn.execute(f"{MT_SELECT} WHERE id = ?", (message_id,)).fetchone()
    return mt_from_row(row) if row else None


def cancel_mt(conn: sqlite3.Connection, message_id: str, account: str, now: float) -> bool:
    cur = conn.execute(
        "UPDATE mt_messages SET state = ?, final_at = ?, payload = X'', lease_until = 0"
        " WHERE id = ? AND account = ? AND state = ?",
        (int(MtState.DELETED), now, message_id, account, _QUEUED),
    )
    return cur.rowcount > 0


def replace_mt(conn: sqlite3.Connection, message_id: str, account: str, changes: MtChanges) -> bool:
    sets: list[str] = []
    params: list[object] = []
    for name in ("payload", "data_coding", "registered_delivery", "not_before", "validity_until"):
        value = getattr(changes, name)
        if value is not None:
            sets.append(f"{name} = ?")
            params.append(bytes(value) if name == "payload" else value)
    if not sets:
        sets.append("state = state")
    cur = conn.execute(
        f"UPDATE mt_messages SET {', '.join(sets)} WHERE id = ? AND account = ? AND state = ?",
        (*params, message_id, account, _QUEUED),
    )
    return cur.rowcount > 0


def count_queued(conn: sqlite3.Connection, account: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM mt_messages WHERE account = ? AND state IN (100, 101)", (account,)
    ).fetchone()
    return int(row[0])


def queue_depth(conn: sqlite3.Connection, connector: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM mt_messages WHERE connector = ? AND state IN (100, 101)",
        (connector,),
    ).fetchone()
    return int(row[0])


# --- id maps, conversations ---------------------------------------------------------------


ID_MAP_INSERT = (
    "INSERT OR REPLACE INTO id_maps (connector, upstream_id, message_id, account, segment,"
    " total_segments, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def id_map_params(e: IdMapEntry) -> tuple[object, ...]:
    return (
        e.connector, e.upstream_id, e.message_id, e.account, e.segment, e.total_segments,
        e.expires_at,
    )  # fmt: skip


def put_id_maps(conn: sqlite3.Connection, entries: Sequence[IdMapEntry]) -> None:
    conn.executemany(ID_MAP_INSERT, [id_map_params(e) for e in entries])


def accept_part(conn: sqlite3.Connection, entry: IdMapEntry) -> None:
    conn.execute(ID_MAP_INSERT, id_map_params(entry))
    conn.execute(
        "UPDATE mt_messages SET parts_accepted = ? WHERE id = ? AND state = ?",
        (entry.segment, entry.message_id, _LEASED),
    )


def get_id_map(conn: sqlite3.Connection, connector: str, upstream_id: str) -> IdMapEntry | None:
    row = conn.execute(
        "SELECT connector, upstream_id, message_id, account, segment, total_segments, expires_at"
        " FROM id_maps WHERE connector = ? AND upstream_id = ?",
        (connector, upstream_id),
    ).fetchone()
    return IdMapEntry(*row) if row else None


CONVERSATION_INSERT = (
    "INSERT OR REPLACE INTO conversations (sender, recipient, account, updated_at,"
    " expires_at) VALUES (?, ?, ?, ?, ?)"
)


def conversation_params(c: Conversation) -> tuple[object, ...]:
    return (
        canon_address(c.sender), canon_address(c.recipient), c.account, c.updated_at,
        c.expires_at,
    )  # fmt: skip


def put_conversations(conn: sqlite3.Connection, conversations: Sequence[Conversation]) -> None:
    conn.executemany(CONVERSATION_INSERT, [conversation_params(c) for c in conversations])


def get_conversation(conn: sqlite3.Connection, sender: str, recipient: str) -> Conversation | None:
    row = conn.execute(
        "SELECT sender, recipient, account, updated_at, expires_at FROM conversations"
        " WHERE sender = ? AND recipient = ?",
        (canon_address(sender), canon_address(recipient)),
    ).fetchone()
    return Conversation(*row) if row else None


# --- suppression (hashed) ------------------------------------------------------------------


def add_suppression(
    conn: sqlite3.Connection, scope_hash: str, recipient_hash: str, keyword: str, now: float
) -> bool:
    cur = conn.execute(
        "INSERT OR IGNORE INTO suppressions (scope_hash, recipient_hash, keyword, created_at)"
        " VALUES (?, ?, ?, ?)",
        (scope_hash, recipient_hash, keyword, now),
    )
    return cur.rowcount > 0


def remove_suppression(conn: sqlite3.Connection, scope_hash: str, recipient_hash: str) -> bool:
    cur = conn.execute(
        "DELETE FROM suppressions WHERE scope_hash = ? AND recipient_hash = ?",
        (scope_hash, recipient_hash),
    )
    return cur.rowcount > 0


def enqueue_mt_unless_suppressed(
    conn: sqlite3.Connection,
    messages: Sequence[tuple[tuple[object, ...], Sequence[str], str]],
    conversations: Sequence[tuple[object, ...]],
) -> list[bool]:
    """``messages``: (MT row parameters, scope hashes, recipient hash) each; ``conversations``
    empty or one row per message. Inserts the unsuppressed ones; True where suppressed."""
    refused = [is_suppressed(conn, scopes, recipient) for _, scopes, recipient in messages]
    rows = [m[0] for m, no in zip(messages, refused, strict=True) if not no]
    if rows:
        conn.executemany(MT_INSERT, rows)
    if conversations:
        conv = [c for c, no in zip(conversations, refused, strict=True) if not no]
        if conv:
            conn.executemany(CONVERSATION_INSERT, conv)
    return refused


def is_suppressed(
    conn: sqlite3.Connection, scope_hashes: Sequence[str], recipient_hash: str
) -> bool:
    if not scope_hashes:
        return False
    marks = ", ".join("?" * len(scope_hashes))
    row = conn.execute(
        f"SELECT 1 FROM suppressions WHERE recipient_hash = ? AND scope_hash IN ({marks}) LIMIT 1",
        (recipient_hash, *scope_hashes),
    ).fetchone()
    return row is not None


def list_suppressions(conn: sqlite3.Connection) -> list[Suppression]:
    rows = conn.execute(
        "SELECT scope_hash, recipient_hash, keyword, created_at FROM suppressions"
        " ORDER BY created_at, recipient_hash, scope_hash"
    ).fetchall()
    return [Suppression(*row) for row in rows]


# --- audit -----------------------------------------------------------------------------------


def append_audit(conn: sqlite3.Connection, event: AuditEvent) -> None:
    conn.execute(
        "INSERT INTO audit (at, action, subject_hash, scope_hash, detail) VALUES (?, ?, ?, ?, ?)",
        (event.at, event.action, event.subject_hash, event.scope_hash, event.detail),
    )


def list_audit(conn: sqlite3.Connection, limit: int) -> list[AuditEvent]:
    """The most recent ``limit`` events, oldest first."""
    rows = conn.execute(
        "SELECT at, action, subject_hash, scope_hash, detail FROM"
        " (SELECT * FROM audit ORDER BY seq DESC LIMIT ?) ORDER BY seq",
        (max(limit, 0),),
    ).fetchall()
    return [AuditEvent(*row) for row in rows]
