"""``SqliteStore``: the embedded, default implementation of the ``Store`` protocol.

Durability: WAL journal, ``synchronous=FULL`` by default (a commit is fsynced before the
call returns, so it survives power loss as well as a process crash); all writes go through
one group-committing writer (see :mod:`smppcore.store.sqlite_engine`), so the hot path pays
one fsync per batch, not per message. ``synchronous="NORMAL"`` is offered for hosts where
losing the last commits on power loss is acceptable (still safe against a process crash).

Hot paths cost one writer request each: a submit is ``enqueue_mt_unless_suppressed`` (the
consent check, the insert and the conversation in one transaction), a connector's message
is one ``lease_mt`` share plus a share of one ``ack_mt`` (maps and acks of many messages
in one transaction), a batch of receipts is one ``finalise_mt`` (states and client receipts in one
transaction). Row writes of neighbouring requests are merged into one ``executemany`` per
statement. No SQLite call runs on the trio thread except the two indexed look-ups of the hot
paths, :meth:`SqliteStore.is_suppressed` and :meth:`SqliteStore.match_receipt` (see
:meth:`SqliteEngine.read_quick`).

Usage::

    async with open_sqlite_store("gateway.db", hash_secret=secret) as store:
        await store.enqueue_mt([...])
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from smppcore.store import sqlite_lifecycle as life
from smppcore.store import sqlite_ops as ops
from smppcore.store import sqlite_return as rp
from smppcore.store.base import (
    AuditEvent,
    Conversation,
    DeliveryItem,
    FinalResult,
    IdMapEntry,
    MtAck,
    MtChanges,
    MtFinal,
    MtMessage,
    MtState,
    PendingReceipt,
    ReceiptMatch,
    ReplyPart,
    SegmentStates,
    Suppression,
)
from smppcore.store.hashing import MsisdnHasher
from smppcore.store.sqlite_engine import EngineStatistics, SqliteEngine, StoreClosedError
from smppcore.store.sqlite_rows import (
    DELIVERY_INSERT,
    MT_INSERT,
    PENDING_UPSERT,
    REPLY_PART_INSERT,
    delivery_params,
    mt_params,
    pending_params,
    reply_part_params,
)

__all__ = ["SqliteStore", "StoreClosedError", "open_sqlite_store"]


@asynccontextmanager
async def open_sqlite_store(
    path: str | os.PathLike[str],
    *,
    hash_secret: bytes,
    batch_max: int = 512,
    synchronous: str = "FULL",
    readers: int = 2,
) -> AsyncIterator[SqliteStore]:
    """Open (creating and migrating as needed) the store at ``path``; its writer task runs in
    a nursery owned by this context. On exit, queued writes are finished, then the
    connections close (the last close checkpoints the WAL into the database file)."""
    hasher = MsisdnHasher(hash_secret)
    engine = await trio.to_thread.run_sync(
        lambda: SqliteEngine.open_blocking(
            path, batch_max=batch_max, synchronous=synchronous, readers=max(1, readers)
        )
    )
    store = SqliteStore(engine, hasher)
    try:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(engine.run_writer)
                try:
                    yield store
                finally:
                    await engine.close_writes()
        except BaseExceptionGroup as group:
            # Keep exception groups inside: the body's own exception comes out as itself.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(engine.close_blocking)


class SqliteStore:
    """The ``Store`` protocol on SQLite. Create it with :func:`open_sqlite_store`."""

    def __init__(self, engine: SqliteEngine, hasher: MsisdnHasher) -> None:
        self._engine = engine
        self._hash = hasher

    def statistics(self) -> EngineStatistics:
        """Writer counters: commits, writes, largest group commit."""
        return self._engine.statistics()

    async def checkpoint(self) -> None:
        """Fold the WAL into the database file and truncate the WAL to zero bytes."""

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

        await self._engine.write_outside_transaction(run)

    # --- MT queue -------------------------------------------------------------------------

    async def enqueue_mt(
        self, messages: Sequence[MtMessage], conversations: Sequence[Conversation] = ()
    ) -> None:
        parts: list[tuple[str, list[tuple[Any, ...]]]] = []
        if messages:
            parts.append((MT_INSERT, [mt_params(m) for m in messages]))
        if conversations:
            parts.append(
                (ops.CONVERSATION_INSERT, [ops.conversation_params(c) for c in conversations])
            )
        if parts:
            await self._engine.write_parts(parts)

    async def enqueue_mt_unless_suppressed(
        self,
        messages: Sequence[MtMessage],
        scopes: Sequence[Sequence[str]],
        conversations: Sequence[Conversation] = (),
    ) -> list[bool]:
        """Check and insert in the writer's transaction: no SQLite call on the trio thread,
        no extra request, and no window between the check and the insert."""
        if len(scopes) != len(messages) or (conversations and len(conversations) != len(messages)):
            raise ValueError("scopes (and conversations, if any) must be one per message")
        if not messages:
            return []
        h = self._hash
        items = [
            (mt_params(m), [h(s) for s in sc], h(m.destination_addr))
            for m, sc in zip(messages, scopes, strict=True)
        ]
        conv = [ops.conversation_params(c) for c in conversations]
        return await self._engine.write(lambda c: ops.enqueue_mt_unless_suppressed(c, items, conv))

    async def lease_mt(
        self, connector: str, limit: int, lease_seconds: float, now: float
    ) -> list[MtMessage]:
        return await self._engine.write(
            lambda c: ops.lease_mt(c, connector, limit, lease_seconds, now)
        )

    async def ack_mt(self, acks: Sequence[MtAck]) -> None:
        if not acks:
            return
        maps = [ops.id_map_params(e) for a in acks for e in a.id_maps]
        rows = [ops.ack_mt_params(a.message_id) for a in acks]
        parts: list[tuple[str, list[tuple[Any, ...]]]] = [(ops.ACK_SQL, rows)]
        if maps:
            parts.insert(0, (ops.ID_MAP_INSERT, maps))
        await self._engine.write_parts(parts)

    async def nack_mt(
        self, message_id: str, retry_at: float, error_code: int, *, attempted: bool = True
    ) -> None:
        await self._engine.write(
            lambda c: ops.nack_mt(c, message_id, retry_at, error_code, attempted)
        )

    async def accept_part(self, entry: IdMapEntry) -> None:
        await self._engine.write(lambda c: ops.accept_part(c, entry))

    async def get_mt(self, message_id: str) -> MtMessage | None:
        return await self._engine.read(lambda c: ops.get_mt(c, message_id))

    async def finalise_mt(self, finals: Sequence[MtFinal]) -> list[FinalResult]:
        if not finals:
            return []
        batch = list(finals)
        return await self._engine.write(lambda c: rp.finalise_mt(c, batch))

    async def record_segment(self, message_id: str, segment: int, state: MtState) -> SegmentStates:
        return await self._engine.write(lambda c: rp.record_segment(c, message_id, segment, state))

    async def cancel_mt(self, message_id: str, account: str, now: float) -> bool:
        return await self._engine.write(lambda c: ops.cancel_mt(c, message_id, account, now))

    async def replace_mt(self, message_id: str, account: str, changes: MtChanges) -> bool:
        return await self._engine.write(lambda c: ops.replace_mt(c, message_id, account, changes))

    async def count_queued(self, account: str) -> int:
        return await self._engine.read(lambda c: ops.count_queued(c, account))

    async def queue_depth(self, connector: str) -> int:
        return await self._engine.read(lambda c: ops.queue_depth(c, connector))

    # --- message-id maps --------------------------------------------------------------------

    async def put_id_maps(self, entries: Sequence[IdMapEntry]) -> None:
        if entries:
            await self._engine.write_rows(
                ops.ID_MAP_INSERT, [ops.id_map_params(e) for e in entries]
            )

    async def get_id_map(self, connector: str, upstream_id: str) -> IdMapEntry | None:
        return await self._engine.read(lambda c: ops.get_id_map(c, connector, upstream_id))

    async def match_receipt(self, connector: str, candidates: Sequence[str]) -> ReceiptMatch | None:
        """On the trio thread (``read_quick``): two indexed point look-ups in one query."""
        return await self._engine.read_quick(lambda c: rp.match_receipt(c, connector, candidates))

    # --- receipts waiting for their id map --------------------------------------------------

    async def hold_receipts(self, receipts: Sequence[PendingReceipt]) -> None:
        if receipts:
            await self._engine.write_rows(PENDING_UPSERT, [pending_params(p) for p in receipts])

    async def due_pending_receipts(self, now: float, limit: int) -> list[PendingReceipt]:
        return await self._engine.read(lambda c: rp.due_pending_receipts(c, now, limit))

    async def drop_pending_receipts(self, ids: Sequence[str]) -> None:
        if ids:
            await self._engine.write_rows(rp.PENDING_DROP, [(i,) for i in ids])

    async def count_pending_receipts(self) -> int:
        return await self._engine.read(rp.count_pending_receipts)

    async def next_pending_receipt_at(self) -> float | None:
        return await self._engine.read(rp.next_pending_receipt_at)

    # --- parts of long replies --------------------------------------------------------------

    async def put_reply_parts(self, parts: Sequence[ReplyPart]) -> None:
        if parts:
            await self._engine.write_rows(REPLY_PART_INSERT, [reply_part_params(p) for p in parts])

    async def reply_parts(self, limit: int = 100_000) -> list[ReplyPart]:
        return await self._engine.read(lambda c: rp.reply_parts(c, limit))

    async def drop_reply_parts(self, message_keys: Sequence[str]) -> None:
        if message_keys:
            await self._engine.write_rows(rp.REPLY_PARTS_DROP, [(k,) for k in message_keys])

    # --- conversations ----------------------------------------------------------------------

    async def put_conversations(self, conversations: Sequence[Conversation]) -> None:
        if conversations:
            await self._engine.write_rows(
                ops.CONVERSATION_INSERT, [ops.conversation_params(c) for c in conversations]
            )

    async def get_conversation(self, sender: str, recipient: str) -> Conversation | None:
        return await self._engine.read(lambda c: ops.get_conversation(c, sender, recipient))

    # --- suppression list (hashed) ----------------------------------------------------------

    def hash_msisdn(self, value: str) -> str:
        return self._hash(value)

    async def add_suppression(self, scope: str, recipient: str, keyword: str, now: float) -> bool:
        s, r = self._hash(scope), self._hash(recipient)
        return await self._engine.write(lambda c: ops.add_suppression(c, s, r, keyword, now))

    async def remove_suppression(self, scope: str, recipient: str) -> bool:
        s, r = self._hash(scope), self._hash(recipient)
        return await self._engine.write(lambda c: ops.remove_suppression(c, s, r))

    async def is_suppressed(self, scopes: Sequence[str], recipient: str) -> bool:
        hashes = [self._hash(s) for s in scopes]
        r = self._hash(recipient)
        return await self._engine.read_quick(lambda c: ops.is_suppressed(c, hashes, r))

    async def list_suppressions(self) -> list[Suppression]:
        return await self._engine.read(ops.list_suppressions)

    # --- delivery queues --------------------------------------------------------------------

    async def enqueue_delivery(
        self, items: Sequence[DeliveryItem], *, done_parts: Sequence[str] = ()
    ) -> None:
        parts: list[tuple[str, list[tuple[Any, ...]]]] = []
        if items:
            parts.append((DELIVERY_INSERT, [delivery_params(d) for d in items]))
        if done_parts:
            parts.append((rp.REPLY_PARTS_DROP, [(k,) for k in done_parts]))
        if parts:
            await self._engine.write_parts(parts)

    async def lease_delivery(
        self, account: str, limit: int, lease_seconds: float, now: float, owner: str = ""
    ) -> list[DeliveryItem]:
        return await self._engine.write(
            lambda c: rp.lease_delivery(c, account, limit, lease_seconds, now, owner)
        )

    async def ack_deliveries(self, item_ids: Sequence[str]) -> None:
        if item_ids:
            await self._engine.write_rows(rp.ACK_DELIVERY_SQL, [(i,) for i in item_ids])

    async def nack_delivery(self, item_id: str, retry_at: float) -> None:
        await self._engine.write(lambda c: rp.nack_delivery(c, item_id, retry_at))

    async def release_deliveries(self, owner: str) -> int:
        return await self._engine.write(lambda c: rp.release_deliveries(c, owner))

    async def delivery_depth(self, account: str) -> int:
        return await self._engine.read(lambda c: rp.delivery_depth(c, account))

    # --- audit ------------------------------------------------------------------------------

    async def append_audit(self, event: AuditEvent) -> None:
        await self._engine.write(lambda c: ops.append_audit(c, event))

    async def list_audit(self, limit: int = 1000) -> list[AuditEvent]:
        return await self._engine.read(lambda c: ops.list_audit(c, limit))

    # --- data lifecycle ---------------------------------------------------------------------

    async def purge(self, now: float) -> dict[str, int]:
        return await self._engine.write(lambda c: life.purge(c, now))

    async def erase(self, msisdn: str, now: float) -> dict[str, int]:
        subject = self._hash(msisdn)
        return await self._engine.write(lambda c: life.erase(c, msisdn, subject, now))

    async def export(self, msisdn: str) -> dict[str, list[dict[str, object]]]:
        subject = self._hash(msisdn)

        def run(conn: sqlite3.Connection) -> dict[str, list[dict[str, object]]]:
            conn.execute("BEGIN")  # one snapshot for all the classes
            try:
                return life.export(conn, msisdn, subject)
            finally:
                conn.execute("COMMIT")

        return await self._engine.read(run)

    async def aclose(self) -> None:
        """Stop taking writes; queued ones still commit. The context manager closes the
        connections."""
        await self._engine.close_writes()
