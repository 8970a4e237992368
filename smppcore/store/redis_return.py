"""The return path's part of the Redis store: receipts, replies and delivery queues.

Owns :class:`RedisReturnStore`, the methods of :class:`smppcore.store.redis.RedisStore` for
the return path's records: making MT messages final together with the receipt their client
gets (:meth:`~RedisReturnStore.finalise_mt`), segment states, the receipt look-up through the
id maps, receipts waiting for their id map, parts of long replies, and the per-account
delivery queue with node-owned leases. Each method is one script call of
:mod:`smppcore.store.redis_return_scripts` (counts and depths: one read), made through the
plumbing of :class:`smppcore.store.redis_base.RedisStoreBase`.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from smppcore.store.redis_base import RedisStoreBase, flat_fields
from smppcore.store.redis_codec import (
    from_fields,
    mt_from,
    pairs_to_dict,
    queue_head,
    segments_from,
    to_fields,
    unpack_pairs,
)


class RedisReturnStore(RedisStoreBase):
    """The return path's methods of the Redis store (receipts, replies, delivery queues)."""

    # --- finals, segments, receipt look-up ---------------------------------------------------
    async def finalise_mt(self, finals: Sequence[MtFinal]) -> list[FinalResult]:
        """One script call for the batch: each entry atomic (state, then its receipt)."""
        if not finals:
            return []
        args: list[bytes | str] = []
        for f in finals:
            args += [f.message_id, str(int(f.state)), repr(f.at), str(int(f.error_code))]
            if f.receipt is None:
                args.append("0")
            else:
                args.append("1")
                args += self._delivery_args(f.receipt)
        replies = await self._script("FINALISE_MT", *args)
        return [FinalResult(int(r)) for r in replies]

    async def record_segment(self, message_id: str, segment: int, state: MtState) -> SegmentStates:
        repeated, flat = await self._script(
            "RECORD_SEGMENT", message_id, str(int(segment)), str(int(state))
        )
        return SegmentStates(segments_from(pairs_to_dict(flat)), repeated=bool(int(repeated)))

    async def match_receipt(self, connector: str, candidates: Sequence[str]) -> ReceiptMatch | None:
        if not candidates:
            return None
        row = await self._script("MATCH_RECEIPT", connector, *candidates)
        if not row:
            return None
        entry = from_fields(IdMapEntry, unpack_pairs(row[0]))
        return ReceiptMatch(entry, mt_from(unpack_pairs(row[1]), unpack_pairs(row[2])))

    # --- receipts waiting for their id map ---------------------------------------------------
    async def hold_receipts(self, receipts: Sequence[PendingReceipt]) -> None:
        if not receipts:
            return
        args: list[bytes | str] = []
        for r in receipts:
            args += [
                r.id,
                repr(r.next_try_at),
                repr(r.expires_at),
                "1" if r.unmatched else "0",
                *flat_fields(to_fields(r)),
            ]
        await self._script("HOLD_RECEIPTS", *args)

    async def due_pending_receipts(self, now: float, limit: int) -> list[PendingReceipt]:
        if limit <= 0:
            return []
        rows = await self._script("DUE_PENDING", repr(now), str(int(limit)))
        return [from_fields(PendingReceipt, unpack_pairs(r)) for r in rows]

    async def drop_pending_receipts(self, ids: Sequence[str]) -> None:
        if ids:
            await self._script("DROP_PENDING", *ids)

    async def count_pending_receipts(self) -> int:
        return int(await self._run(self._r.zcard, f"{self._p}pendq"))

    async def next_pending_receipt_at(self) -> float | None:
        first = await self._run(self._r.zrange, f"{self._p}pendq", 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    # --- parts of long replies ---------------------------------------------------------------
    async def put_reply_parts(self, parts: Sequence[ReplyPart]) -> None:
        if not parts:
            return
        args: list[bytes | str] = []
        for part in parts:
            args += [
                part.message_key,
                str(int(part.seq)),
                self._idx(part.source_addr, part.destination_addr),
                repr(part.expires_at),
                *flat_fields(to_fields(part)),
            ]
        await self._script("PUT_REPLY_PARTS", *args)

    async def reply_parts(self, limit: int = 100_000) -> list[ReplyPart]:
        if limit <= 0:
            return []
        rows = await self._script("REPLY_PARTS", str(int(limit)))
        return [from_fields(ReplyPart, unpack_pairs(r)) for r in rows]

    async def drop_reply_parts(self, message_keys: Sequence[str]) -> None:
        if message_keys:
            await self._script("DROP_REPLY_PARTS", *message_keys)

    # --- delivery queues ---------------------------------------------------------------------
    def _delivery_args(self, d: DeliveryItem) -> list[bytes | str]:
        """One item's arguments of the Lua ``dlv_put`` helper."""
        return [
            d.id,
            d.account,
            repr(max(d.not_before, d.lease_until)),
            queue_head(0, d.created_at),
            repr(d.expires_at),
            self._idx(d.source_addr, d.destination_addr),
            d.message_id,
            d.lease_owner,
            repr(d.lease_until),
            *flat_fields(to_fields(d)),
        ]

    async def enqueue_delivery(
        self, items: Sequence[DeliveryItem], *, done_parts: Sequence[str] = ()
    ) -> None:
        """Items and the parts they replace in one script call (atomic)."""
        if not items and not done_parts:
            return
        args: list[bytes | str] = [str(len(done_parts)), *done_parts]
        for d in items:
            args += self._delivery_args(d)
        await self._script("ENQUEUE_DELIVERY", *args)

    async def lease_delivery(
        self, account: str, limit: int, lease_seconds: float, now: float, owner: str = ""
    ) -> list[DeliveryItem]:
        if limit <= 0:
            return []
        rows = await self._script(
            "LEASE_DELIVERY", account, str(limit), repr(now), repr(now + lease_seconds), owner
        )
        return [from_fields(DeliveryItem, unpack_pairs(r[0])) for r in rows]

    async def ack_deliveries(self, item_ids: Sequence[str]) -> None:
        if not item_ids:
            return
        if len(item_ids) == 1:
            await self._script("ACK_DELIVERY", item_ids[0])
            return
        await self._batcher.call_many(
            [(self._scripts["ACK_DELIVERY"], [self._p, i]) for i in item_ids]
        )

    async def nack_delivery(self, item_id: str, retry_at: float) -> None:
        await self._script("NACK_DELIVERY", item_id, repr(retry_at))

    async def release_deliveries(self, owner: str) -> int:
        return int(await self._script("RELEASE_DELIVERIES", owner))

    async def delivery_depth(self, account: str) -> int:
        return await self._run(self._depth, "dlv", account)
