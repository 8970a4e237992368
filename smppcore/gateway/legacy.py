"""Taking over what version 1 of the store kept under reserved delivery-queue accounts.

Store schema 1 had no records of their own for receipts waiting for their id map and for
parts of long replies: they were delivery items of the accounts ``__pending_receipt__:<connector>``
and ``__mo_parts__``. :func:`adopt_legacy_records` (run once per start by the return path,
a no-op when there are none) turns each into its own record — a pending receipt (without its
text), a stored reply part — and deletes the old item, so an upgrade loses nothing that was
acknowledged to an operator. Delete this module once no version-1 database is in use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from smppcore.gateway.deliverables import to_deliver_sm
from smppcore.gateway.receipts import read_operator_receipt

if TYPE_CHECKING:
    from smppcore.gateway.returnpath import ReturnPath

__all__ = ["LEGACY_PARTS_ACCOUNT", "LEGACY_PENDING_PREFIX", "adopt_legacy_records"]

LEGACY_PENDING_PREFIX: Final = "__pending_receipt__:"
LEGACY_PARTS_ACCOUNT: Final = "__mo_parts__"
_BATCH: Final = 256
_LEASE: Final = 300.0


async def adopt_legacy_records(return_path: ReturnPath) -> int:
    """Move version-1 pending receipts and reply parts to their own records; how many."""
    gateway = return_path.gateway
    store = gateway.store
    names = {c.name for c in gateway.config.connectors} | set(gateway.connectors)
    moved = 0
    for connector in sorted(names):
        tz = return_path.receipts.convention(connector).tz
        while items := await store.lease_delivery(
            LEGACY_PENDING_PREFIX + connector, _BATCH, _LEASE, gateway.clock()
        ):
            receipts = [read_operator_receipt(to_deliver_sm(item), tz) for item in items]
            await return_path.pending.hold(connector, receipts)
            await store.ack_deliveries([item.id for item in items])
            moved += len(items)
    replies = return_path.replies
    while items := await store.lease_delivery(
        LEGACY_PARTS_ACCOUNT, _BATCH, _LEASE, gateway.clock()
    ):
        parts, whole = [], []
        for item in items:  # a part's connector was kept in message_id
            part = replies.part_record(item.message_id, to_deliver_sm(item))
            if part is None:
                whole.append(item)
            else:
                parts.append(part)
        await store.put_reply_parts(parts)
        for item in whole:  # not a part after all: delivered as a reply
            await replies.handle(item.message_id, to_deliver_sm(item))
        await store.ack_deliveries([item.id for item in items])
        moved += len(items)
    return moved
