"""Data lifecycle in SQLite: retention purge, erasure by MSISDN and export by MSISDN.

Pending receipts hold no number (see :class:`~smppcore.store.base.PendingReceipt`): the
purge removes them by ``expires_at``, erasure and export have nothing to find in them.

Numbers are matched on the canonical ``*_canon`` columns (and the canonical keys of
conversations), so every written form of a number (``+27…``, ``27…``, ``0027…``) is found.
"""

from __future__ import annotations

import sqlite3

from smppcore.store.base import AuditEvent, Conversation, IdMapEntry, MtState, Suppression
from smppcore.store.sqlite_ops import append_audit
from smppcore.store.sqlite_rows import (
    DELIVERY_SELECT,
    MT_SELECT,
    REPLY_PART_SELECT,
    canon_address,
    delivery_from_row,
    mt_from_row,
    reply_part_from_row,
    to_json_ready,
)

_FINAL = ", ".join(str(int(s)) for s in MtState if s.is_final)
_MT_OF_NUMBER = "source_canon = :n OR destination_canon = :n"
_MT_IDS_OF_NUMBER = f"SELECT id FROM mt_messages WHERE {_MT_OF_NUMBER}"
# A delivery item mentions the number in its addresses, or is a receipt of a message that does.
_DELIVERY_OF_NUMBER = (
    "source_canon = :n OR destination_canon = :n"
    f" OR (message_id != '' AND message_id IN ({_MT_IDS_OF_NUMBER}))"
)


def purge(conn: sqlite3.Connection, now: float) -> dict[str, int]:
    """Delete what retention allows; clear message text whose validity or retention passed."""
    p = {"now": now}
    counts = {
        "mt_messages": conn.execute(
            f"DELETE FROM mt_messages WHERE state IN ({_FINAL})"
            " AND expires_at > 0 AND expires_at <= :now",
            p,
        ).rowcount,
        "payloads_cleared": conn.execute(
            "UPDATE mt_messages SET payload = X'' WHERE length(payload) > 0 AND"
            " ((validity_until > 0 AND validity_until <= :now)"
            " OR (expires_at > 0 AND expires_at <= :now))",
            p,
        ).rowcount,
    }
    for table in ("id_maps", "conversations", "delivery_items", "pending_receipts", "reply_parts"):
        counts[table] = conn.execute(
            f"DELETE FROM {table} WHERE expires_at > 0 AND expires_at <= :now", p
        ).rowcount
    return counts


def erase(conn: sqlite3.Connection, msisdn: str, subject_hash: str, now: float) -> dict[str, int]:
    """Remove every record mentioning the number; append an audit event (hash only)."""
    n = canon_address(msisdn)
    counts = {
        "mt_messages": 0, "id_maps": 0, "conversations": 0, "delivery_items": 0, "reply_parts": 0,
    }  # fmt: skip
    if n:
        p = {"n": n}
        counts["id_maps"] = conn.execute(
            f"DELETE FROM id_maps WHERE message_id IN ({_MT_IDS_OF_NUMBER})", p
        ).rowcount
        counts["delivery_items"] = conn.execute(
            f"DELETE FROM delivery_items WHERE {_DELIVERY_OF_NUMBER}", p
        ).rowcount
        counts["mt_messages"] = conn.execute(
            f"DELETE FROM mt_messages WHERE {_MT_OF_NUMBER}", p
        ).rowcount
        counts["conversations"] = conn.execute(
            "DELETE FROM conversations WHERE sender = :n OR recipient = :n", p
        ).rowcount
        counts["reply_parts"] = conn.execute(
            "DELETE FROM reply_parts WHERE source_canon = :n OR destination_canon = :n", p
        ).rowcount
    detail = ",".join(f"{k}={v}" for k, v in sorted(counts.items()))
    append_audit(conn, AuditEvent(at=now, action="erase", subject_hash=subject_hash, detail=detail))
    return counts


def export(
    conn: sqlite3.Connection, msisdn: str, subject_hash: str
) -> dict[str, list[dict[str, object]]]:
    """Every record held about the number, as JSON-ready dicts per data class."""
    n = canon_address(msisdn)
    p = {"n": n, "h": subject_hash}
    out: dict[str, list[dict[str, object]]] = {
        "mt_messages": [],
        "id_maps": [],
        "conversations": [],
        "delivery_items": [],
        "reply_parts": [],
    }
    if n:
        rows = conn.execute(f"{MT_SELECT} WHERE {_MT_OF_NUMBER} ORDER BY seq", p).fetchall()
        out["mt_messages"] = [to_json_ready(mt_from_row(r)) for r in rows]
        rows = conn.execute(
            "SELECT connector, upstream_id, message_id, account, segment, total_segments,"
            f" expires_at FROM id_maps WHERE message_id IN ({_MT_IDS_OF_NUMBER})",
            p,
        ).fetchall()
        out["id_maps"] = [to_json_ready(IdMapEntry(*r)) for r in rows]
        rows = conn.execute(
            "SELECT sender, recipient, account, updated_at, expires_at FROM conversations"
            " WHERE sender = :n OR recipient = :n",
            p,
        ).fetchall()
        out["conversations"] = [to_json_ready(Conversation(*r)) for r in rows]
        rows = conn.execute(
            f"{DELIVERY_SELECT} WHERE {_DELIVERY_OF_NUMBER} ORDER BY seq",
            p,
        ).fetchall()
        out["delivery_items"] = [to_json_ready(delivery_from_row(r)) for r in rows]
        rows = conn.execute(
            f"{REPLY_PART_SELECT} WHERE source_canon = :n OR destination_canon = :n ORDER BY seq",
            p,
        ).fetchall()
        out["reply_parts"] = [to_json_ready(reply_part_from_row(r)) for r in rows]
    rows = conn.execute(
        "SELECT scope_hash, recipient_hash, keyword, created_at FROM suppressions"
        " WHERE recipient_hash = :h",
        p,
    ).fetchall()
    out["suppressions"] = [to_json_ready(Suppression(*r)) for r in rows]
    rows = conn.execute(
        "SELECT at, action, subject_hash, scope_hash, detail FROM audit"
        " WHERE subject_hash = :h ORDER BY seq",
        p,
    ).fetchall()
    out["audit"] = [to_json_ready(AuditEvent(*r)) for r in rows]
    return out
