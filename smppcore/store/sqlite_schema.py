"""The SQLite schema: numbered migrations, the version table and connection settings.

Migration ``n`` brings a database from version ``n - 1`` to ``n``; they run in order, each in
its own transaction, and are never edited once released (add a new one instead).

Numbers are stored twice where they appear in a record: as written (so what we forward
upstream is byte-for-byte what the client sent) and in canonical form (``*_canon`` columns,
see :func:`smppcore.store.hashing.canonical_msisdn`) so lookups, erasure and export find every
written form of the same number.
"""

from __future__ import annotations

import sqlite3
from typing import Final

_M1: Final = """
CREATE TABLE mt_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    connector TEXT NOT NULL,
    source_addr TEXT NOT NULL,
    source_canon TEXT NOT NULL,
    destination_addr TEXT NOT NULL,
    destination_canon TEXT NOT NULL,
    source_addr_ton INTEGER NOT NULL,
    source_addr_npi INTEGER NOT NULL,
    dest_addr_ton INTEGER NOT NULL,
    dest_addr_npi INTEGER NOT NULL,
    service_type TEXT NOT NULL,
    esm_class INTEGER NOT NULL,
    protocol_id INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    registered_delivery INTEGER NOT NULL,
    data_coding INTEGER NOT NULL,
    payload BLOB NOT NULL,
    tlvs BLOB NOT NULL,
    submitted_at REAL NOT NULL,
    not_before REAL NOT NULL,
    validity_until REAL NOT NULL,
    expires_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    state INTEGER NOT NULL,
    lease_until REAL NOT NULL,
    final_at REAL NOT NULL,
    error_code INTEGER NOT NULL,
    segment_states TEXT NOT NULL
);
-- The lease scan: only live messages are indexed, in the order they leave.
CREATE INDEX mt_ready ON mt_messages (connector, priority DESC, submitted_at, seq)
    WHERE state IN (100, 101);
CREATE INDEX mt_account_live ON mt_messages (account) WHERE state IN (100, 101);
CREATE INDEX mt_source ON mt_messages (source_canon);
CREATE INDEX mt_destination ON mt_messages (destination_canon);
CREATE INDEX mt_expires ON mt_messages (expires_at);

CREATE TABLE id_maps (
    connector TEXT NOT NULL,
    upstream_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    account TEXT NOT NULL,
    segment INTEGER NOT NULL,
    total_segments INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (connector, upstream_id)
);
CREATE INDEX id_maps_message ON id_maps (message_id);
CREATE INDEX id_maps_expires ON id_maps (expires_at);

CREATE TABLE conversations (
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    account TEXT NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (sender, recipient)
);
CREATE INDEX conversations_recipient ON conversations (recipient);
CREATE INDEX conversations_expires ON conversations (expires_at);

CREATE TABLE suppressions (
    scope_hash TEXT NOT NULL,
    recipient_hash TEXT NOT NULL,
    keyword TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (recipient_hash, scope_hash)
);

CREATE TABLE delivery_items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    kind INTEGER NOT NULL,
    source_addr TEXT NOT NULL,
    source_canon TEXT NOT NULL,
    destination_addr TEXT NOT NULL,
    destination_canon TEXT NOT NULL,
    source_addr_ton INTEGER NOT NULL,
    source_addr_npi INTEGER NOT NULL,
    dest_addr_ton INTEGER NOT NULL,
    dest_addr_npi INTEGER NOT NULL,
    esm_class INTEGER NOT NULL,
    protocol_id INTEGER NOT NULL,
    data_coding INTEGER NOT NULL,
    short_message BLOB NOT NULL,
    tlvs BLOB NOT NULL,
    message_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    not_before REAL NOT NULL,
    expires_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    lease_until REAL NOT NULL
);
CREATE INDEX delivery_ready ON delivery_items (account, created_at, seq);
CREATE INDEX delivery_source ON delivery_items (source_canon);
CREATE INDEX delivery_destination ON delivery_items (destination_canon);
CREATE INDEX delivery_expires ON delivery_items (expires_at);

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    subject_hash TEXT NOT NULL,
    scope_hash TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit (subject_hash);
"""

# The return path's own records (pending receipts, reply parts) and node-owned delivery
# leases. Rows that version 1 kept under the reserved accounts "__pending_receipt__:*" and
# "__mo_parts__" of delivery_items are taken over by the return path when it starts
# (smppcore.gateway.legacy), not here: turning them into records needs the receipt parser.
#
# delivery_items loses its source/destination indexes: erasure and export scan the table
# anyway (a receipt is also found through its message), and every receipt pushed to a
# client is inserted and deleted within milliseconds, paying for each index twice. Leases
# are freed by owner (at start and stop) with a scan for the same reason.
_M2: Final = """
ALTER TABLE delivery_items ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
DROP INDEX delivery_source;
DROP INDEX delivery_destination;

CREATE TABLE pending_receipts (
    id TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    upstream_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    err TEXT NOT NULL,
    done_at REAL NOT NULL,
    network_error_code BLOB NOT NULL,
    received_at REAL NOT NULL,
    next_try_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    unmatched INTEGER NOT NULL
);
CREATE INDEX pending_due ON pending_receipts (next_try_at) WHERE unmatched = 0;
CREATE INDEX pending_expires ON pending_receipts (expires_at);

CREATE TABLE reply_parts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_key TEXT NOT NULL,
    part INTEGER NOT NULL,
    connector TEXT NOT NULL,
    source_addr TEXT NOT NULL,
    source_canon TEXT NOT NULL,
    destination_addr TEXT NOT NULL,
    destination_canon TEXT NOT NULL,
    source_addr_ton INTEGER NOT NULL,
    source_addr_npi INTEGER NOT NULL,
    dest_addr_ton INTEGER NOT NULL,
    dest_addr_npi INTEGER NOT NULL,
    esm_class INTEGER NOT NULL,
    protocol_id INTEGER NOT NULL,
    data_coding INTEGER NOT NULL,
    short_message BLOB NOT NULL,
    tlvs BLOB NOT NULL,
    received_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    UNIQUE (message_key, part)
);
CREATE INDEX reply_parts_source ON reply_parts (source_canon);
CREATE INDEX reply_parts_destination ON reply_parts (destination_canon);
CREATE INDEX reply_parts_expires ON reply_parts (expires_at);
"""

# Per-part progress of long messages: how many leading parts the operator has accepted, so
# a retry sends only the rest (their id maps are already stored). Attempts count submits
# that failed from now on, not leases; the old counts are left as they are (at most a few
# too many for messages in the queue during the upgrade).
_M3: Final = """
ALTER TABLE mt_messages ADD COLUMN parts_accepted INTEGER NOT NULL DEFAULT 0;
"""

#: ``MIGRATIONS[i]`` brings the schema from version ``i`` to ``i + 1``.
MIGRATIONS: Final[tuple[str, ...]] = (_M1, _M2, _M3)

SCHEMA_VERSION: Final = len(MIGRATIONS)


def configure(conn: sqlite3.Connection, *, synchronous: str) -> None:
    """Per-connection settings. WAL lets readers run beside the one writer; ``secure_delete``
    zeroes deleted content so an erased number does not linger in free pages."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")


def schema_version(conn: sqlite3.Connection) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at REAL)"
    )
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: sqlite3.Connection, now: float) -> int:
    """Apply every migration the database lacks; returns the resulting version.

    ``conn`` must be in autocommit mode (``isolation_level=None``)."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {current} is newer than this code ({SCHEMA_VERSION})"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, now)
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit on its own)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
