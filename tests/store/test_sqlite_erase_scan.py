"""After ``erase(msisdn)`` the number is nowhere in the SQLite files, in any written form.

Two scans: every column of every table through SQL, and the raw bytes of the database and WAL
files after a ``wal_checkpoint(TRUNCATE)`` (``secure_delete`` must have zeroed the freed
space). An unrelated number written the same way must still be found: the scans can see.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import trio

from smppcore.store.base import (
    Conversation,
    DeliveryItem,
    DeliveryKind,
    IdMapEntry,
    MtAck,
    MtFinal,
    MtMessage,
    MtState,
    ReplyPart,
)
from smppcore.store.sqlite import SqliteStore, open_sqlite_store

SECRET = b"erase-scan-secret-0123456789"
T0 = 1_800_000_000.0
NUMBER = "27600000001"
OTHER = "27600000002"
# Every written form contains the bare digits, so searching for them finds all of them.
FORMS = (NUMBER, "+" + NUMBER, "00" + NUMBER)


async def _populate(store: SqliteStore, number: str, tag: str) -> None:
    forms = (number, "+" + number, "00" + number)
    messages = []
    for i in range(150):
        form = forms[i % 3]
        mine_is_source = i % 2 == 0
        messages.append(
            MtMessage(
                id=f"{tag}-{i}",
                account="acme",
                connector="up1",
                source_addr=form if mine_is_source else "ACME",
                destination_addr="31337" if mine_is_source else form,
                payload=f"text {tag} {i}".encode(),
                submitted_at=T0 + i,
            )
        )
    for start in range(0, len(messages), 7):
        await store.enqueue_mt(messages[start : start + 7])
    # Some history: leased, acked (text cleared), state changes, id maps.
    leased = await store.lease_mt("up1", 40, 30.0, T0 + 500)
    async with trio.open_nursery() as nursery:
        for m in leased:
            nursery.start_soon(store.ack_mt, [MtAck(m.id)])
    await store.put_id_maps([IdMapEntry("up1", f"U{tag}{m.id}", m.id, "acme") for m in leased])
    await store.finalise_mt([MtFinal(m.id, MtState.DELIVERED, T0 + 502) for m in leased[:10]])
    await store.put_reply_parts(
        [ReplyPart(f"{tag}-rp{i}", 1, "up1", forms[i % 3], "31337", short_message=b"part")
         for i in range(6)]
    )  # fmt: skip
    await store.put_conversations(
        [Conversation(forms[0], "31337", "acme", T0), Conversation("31337", forms[1], "acme", T0)]
    )
    await store.enqueue_delivery(
        [
            DeliveryItem(
                id=f"{tag}-d{i}",
                account="acme",
                kind=DeliveryKind.MO if i % 2 else DeliveryKind.RECEIPT,
                source_addr=forms[i % 3] if i % 2 else "31337",
                destination_addr="31337" if i % 2 else forms[i % 3],
                short_message=b"reply",
                created_at=T0 + i,
            )
            for i in range(30)
        ]
    )
    await store.add_suppression("31337", forms[2], "STOP", T0)


def _sql_scan(db: Path) -> str:
    """Every value of every column of every table, as one text."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        parts = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        parts.append(value.decode("latin-1"))
                    else:
                        parts.append(str(value))
        return "\n".join(parts)
    finally:
        conn.close()


def _file_bytes(db: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-journal"):
        path = Path(str(db) + suffix)
        if path.exists():
            data += path.read_bytes()
    return data


async def test_erased_number_is_in_no_table_and_no_file_byte(tmp_path: Path) -> None:
    db = tmp_path / "erase.db"
    with trio.fail_after(60):
        async with open_sqlite_store(db, hash_secret=SECRET) as store:
            await _populate(store, NUMBER, "a")
            await _populate(store, OTHER, "b")
            await store.checkpoint()
            assert NUMBER.encode() in _file_bytes(db)  # it was there

            counts = await store.erase("+" + NUMBER, T0 + 600)
            assert counts["mt_messages"] == 150
            await store.checkpoint()

            text = await trio.to_thread.run_sync(_sql_scan, db)
            raw = await trio.to_thread.run_sync(_file_bytes, db)
            for form in FORMS:
                assert form not in text, f"{form} left in a table"
                assert form.encode() not in raw, f"{form} left in the file bytes"
            # The scans do see numbers: the other person's records are intact.
            assert OTHER in text
            assert OTHER.encode() in raw
            assert await store.is_suppressed(["31337"], NUMBER)
            assert (await store.export(NUMBER))["mt_messages"] == []

        # And after closing (the last connection folds the WAL in).
        raw = _file_bytes(db)
        assert NUMBER.encode() not in raw
        assert OTHER.encode() in raw
