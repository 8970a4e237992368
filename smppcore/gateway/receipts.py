"""Delivery receipts: from the operator's deliver_sm to the client's, carrying our message id.

Owns: :func:`is_receipt`, :func:`read_operator_receipt` (id, state, error from the TLVs or the
text), :class:`ReceiptHandler` (correlation through the id maps, segment bookkeeping, message
state for ``query_sm``, the client's receipt item, the pending-receipt queue) and
:func:`client_receipt` (the receipt item for one message, also used for the gateway's own
receipts of messages that never reached an operator).

Decisions:

* The upstream id comes from ``receipted_message_id``, else from the text's ``id:``; it is
  looked up by ``(connector, variant)`` for each of :func:`id_variants` in order (the map
  is written under :func:`normalise_message_id`, but an operator may write the id in hex in
  the response and in decimal in the receipt). The state comes from ``message_state``, else
  the text's ``stat:``; the error from the text's ``err:`` (the ``network_error_code`` TLV is
  passed through as is).
* **The race** (a receipt faster than the id map): the receipt is made durable first, as a
  pending item in the delivery queue of the reserved account ``__pending_receipt__:<connector>``,
  and the operator gets ``ESME_ROK``. :meth:`ReceiptHandler.resolve_pending` retries the
  look-up with a short backoff (0.2 s doubling, capped at 5 s) for ``pending_seconds``
  (default 600 s); a receipt still unmatched then moves to :data:`UNROUTABLE_ACCOUNT`
  (kept for inspection, counted ``unmatched``). Answering ``ESME_RX_T_APPN`` instead would
  leave the retry to the operator's SMSC, whose schedule we do not know (often minutes).
* Multi-segment messages: each segment has its own id map; ``receipt_mode = "each_segment"``
  gives the client one receipt per segment receipt (``sub``/``dlvrd`` say how many segments
  there are and how many are delivered so far); ``"final"`` gives one receipt once every
  segment is final: DELIVRD if all were delivered, else the state of the first segment that
  was not. The message state (``set_mt_state``) changes only when the whole message is final.
* Only final states (DELIVRD, EXPIRED, DELETED, UNDELIV, REJECTD, SKIPPED) close a message;
  an intermediate receipt (ENROUTE, ACCEPTD, UNKNOWN) is forwarded only when the submit asked
  for intermediate notifications (``registered_delivery`` bit 0x10).
* ``registered_delivery & 0x03``: 1 (or the reserved 3) → every final receipt, 2 → failures
  only, 0 → none. A duplicate final receipt of a message already final is dropped (counted).
* The client's receipt: source = the original recipient, destination = the original sender,
  ``esm_class`` 0x04, text ``id:<our id> ...``, TLVs ``receipted_message_id`` (our id) and
  ``message_state``. Item ids are derived from (message, segment, state), so a receipt the
  operator sends twice replaces its queued copy instead of doubling it; a repeated final
  receipt of a multi-segment message, or one arriving after the message is final, is dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import attrs
import structlog

from smppcore.gateway.deliverables import (
    item_from_pdu,
    receipt_deliver_sm,
    to_deliver_sm,
    user_data,
)
from smppcore.protocol.enums import CommandStatus, MessageState
from smppcore.protocol.pdu import DataSm, DeliverSm
from smppcore.protocol.receipt import (
    FINAL_STATES,
    format_receipt,
    id_variants,
    parse_receipt,
)
from smppcore.protocol.tlv import Tlvs
from smppcore.store.base import (
    UNROUTABLE_ACCOUNT,
    DeliveryItem,
    DeliveryKind,
    IdMapEntry,
    MtMessage,
    MtState,
)

if TYPE_CHECKING:
    from smppcore.gateway.context import Gateway

__all__ = [
    "PENDING_RECEIPTS_PREFIX",
    "OperatorReceipt",
    "ReceiptHandler",
    "client_receipt",
    "is_receipt",
    "pending_account",
    "read_operator_receipt",
    "wants_receipt",
]

log = structlog.get_logger(__name__)

#: Reserved delivery-queue account names of receipts waiting for their id map.
PENDING_RECEIPTS_PREFIX: Final = "__pending_receipt__:"
_RECEIPT_TYPES: Final = frozenset({0x04, 0x08, 0x10, 0x20})  # esm_class bits 2-5
_MAX_ITEM_ID = 64


def pending_account(connector: str) -> str:
    return PENDING_RECEIPTS_PREFIX + connector


def is_receipt(pdu: DeliverSm | DataSm) -> bool:
    """A receipt (or SME ack / intermediate notification) rather than a handset reply.

    Besides the esm_class message type, two forms seen from SMSCs that leave esm_class 0 are
    taken as receipts: ``receipted_message_id`` with ``message_state``, and a text that
    starts with ``id:`` and has a ``stat:`` field."""
    if (pdu.esm_class & 0x3C) in _RECEIPT_TYPES:
        return True
    if pdu.tlvs.receipted_message_id is not None and pdu.tlvs.message_state is not None:
        return True
    head = user_data(pdu)[:200].lower()
    return head.startswith(b"id:") and b" stat:" in head


@attrs.frozen
class OperatorReceipt:
    """What the gateway needs from an operator's receipt."""

    upstream_id: str | None
    state: MessageState
    err: str
    done_at: datetime | None
    network_error_code: bytes | None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


def read_operator_receipt(pdu: DeliverSm | DataSm) -> OperatorReceipt:
    """Id, state and error of a receipt: TLVs first, then the text."""
    text = user_data(pdu).decode("latin-1")
    parsed = parse_receipt(text, tz=UTC)
    upstream = pdu.tlvs.receipted_message_id or parsed.message_id
    tlv_state = pdu.tlvs.message_state
    if tlv_state is not None and tlv_state in MessageState._value2member_map_:
        state = MessageState(tlv_state)
    else:
        state = parsed.state
    err = parsed.err if parsed.err and parsed.err.isascii() else "000"
    return OperatorReceipt(
        upstream_id=upstream.strip() if upstream else None,
        state=state,
        err=err[:3].rjust(3, "0") if err.isdigit() else err[:3],
        done_at=parsed.done_date,
        network_error_code=pdu.tlvs.network_error_code,
    )


def wants_receipt(registered_delivery: int, state: MessageState) -> bool:
    """Whether a submit with ``registered_delivery`` asked for a receipt in ``state``."""
    if state not in FINAL_STATES:
        return bool(registered_delivery & 0x10)
    bits = registered_delivery & 0x03
    if bits == 2:
        return state is not MessageState.DELIVERED
    return bits in (1, 3)


def _aggregate(states: dict[int, int], total: int) -> MessageState | None:
    """The whole message's state once every segment is final, else None."""
    if any(states.get(seg) not in {int(s) for s in FINAL_STATES} for seg in range(1, total + 1)):
        return None
    for seg in range(1, total + 1):
        if states[seg] != MessageState.DELIVERED:
            return MessageState(states[seg])
    return MessageState.DELIVERED


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _item_id(message_id: str, tag: str) -> str:
    return f"r{tag}:{message_id}"[:_MAX_ITEM_ID]


def client_receipt(
    message: MtMessage,
    state: MessageState,
    *,
    now: float,
    expires_at: float,
    err: str = "000",
    done_at: datetime | None = None,
    sub: int = 1,
    dlvrd: int | None = None,
    tag: str = "",
    network_error_code: bytes | None = None,
) -> DeliveryItem:
    """The receipt deliver_sm (as a queue item) telling ``message``'s client about ``state``."""
    text = format_receipt(
        message.id,
        state=state,
        submit_date=_dt(message.submitted_at or now),
        done_date=done_at or _dt(now),
        sub=sub,
        dlvrd=dlvrd,
        err=err,
    )
    tlvs = Tlvs.of(receipted_message_id=message.id, message_state=int(state))
    if network_error_code is not None:
        tlvs = tlvs.with_(network_error_code=network_error_code)
    pdu = receipt_deliver_sm(
        original_source=(message.source_addr, message.source_addr_ton, message.source_addr_npi),
        original_destination=(
            message.destination_addr,
            message.dest_addr_ton,
            message.dest_addr_npi,
        ),
        short_message=text.encode("ascii"),
        tlvs=tlvs,
    )
    return item_from_pdu(
        pdu,
        id=_item_id(message.id, tag or f"{int(state)}"),
        account=message.account,
        kind=DeliveryKind.RECEIPT,
        message_id=message.id,
        created_at=now,
        expires_at=expires_at,
    )


class ReceiptHandler:
    """Correlates operator receipts with our messages and queues the client's receipts."""

    def __init__(self, gateway: Gateway, *, pending_seconds: float = 600.0) -> None:
        self.gateway = gateway
        self.pending_seconds = pending_seconds
        self.unmatched = 0
        self.duplicates = 0
        self.resolved_late = 0

    def _count(self, account: str, result: str) -> None:
        self.gateway.metrics.deliveries.labels(account, "receipt", result).inc()

    async def _lookup(self, connector: str, upstream_id: str) -> IdMapEntry | None:
        store = self.gateway.store
        for candidate in id_variants(upstream_id):
            entry = await store.get_id_map(connector, candidate)
            if entry is not None:
                return entry
        return None

    async def handle(self, connector: str, pdu: DeliverSm | DataSm) -> int:
        """An operator receipt: durable (queued for the client, or pending) before return."""
        receipt = read_operator_receipt(pdu)
        now = self.gateway.clock()
        if not receipt.upstream_id:
            await self._keep_unmatched(connector, pdu, now)
            return int(CommandStatus.ESME_ROK)
        entry = await self._lookup(connector, receipt.upstream_id)
        if entry is None:
            await self._hold(connector, pdu, receipt.upstream_id, now)
            return int(CommandStatus.ESME_ROK)
        await self.apply(entry, receipt, now)
        return int(CommandStatus.ESME_ROK)

    async def apply(self, entry: IdMapEntry, receipt: OperatorReceipt, now: float) -> None:
        """Record the receipt's state and queue what the client should get."""
        gateway = self.gateway
        store = gateway.store
        total = max(1, entry.total_segments)
        if total == 1 and receipt.is_final:
            # The common case in one store call: set_mt_state returns the message. A repeated
            # final receipt is not detected here; its client item has the same id as the
            # first one's, so it replaces it while queued (after delivery it goes out again).
            state = MtState(int(receipt.state))
            message = await store.set_mt_state(entry.message_id, state, now, 0)
            if message is None:
                self._count(entry.account, "unmatched")
                return
            if wants_receipt(message.registered_delivery, receipt.state):
                expires = gateway.expires_at(message.account, "delivery", now)
                await gateway.queue_delivery([self._client(message, receipt, now, expires)])
            self._observe_latency(entry.connector, message, now)
            return
        message = await store.get_mt(entry.message_id)
        if message is None:  # purged: nobody left to tell
            self._count(entry.account, "unmatched")
            return
        already_final = message.state.is_final and message.state is not MtState.ACCEPTED
        if already_final and (total <= 1 or receipt.is_final):
            self.duplicates += 1
            self._count(message.account, "duplicate")
            return
        expires = gateway.expires_at(message.account, "delivery", now)
        items: list[DeliveryItem] = []
        if total == 1:  # an intermediate receipt: the state does not change
            if wants_receipt(message.registered_delivery, receipt.state):
                items.append(self._client(message, receipt, now, expires))
        else:
            items.extend(await self._segment(message, entry, receipt, now, expires, total))
        await gateway.queue_delivery(items)
        if receipt.is_final:
            self._observe_latency(entry.connector, message, now)

    async def _segment(
        self,
        message: MtMessage,
        entry: IdMapEntry,
        receipt: OperatorReceipt,
        now: float,
        expires: float,
        total: int,
    ) -> list[DeliveryItem]:
        store = self.gateway.store
        if not receipt.is_final:
            if wants_receipt(message.registered_delivery, receipt.state):
                return [self._client(message, receipt, now, expires, seg=entry.segment)]
            return []
        seg_state = MtState(int(receipt.state))
        states = dict(await store.record_segment_state(message.id, entry.segment, seg_state))
        whole = _aggregate(states, total)
        if whole is not None:
            await store.set_mt_state(message.id, MtState(int(whole)), now, 0)
        delivered = sum(1 for s in states.values() if s == MessageState.DELIVERED)
        runtime = self.gateway.directory.get(message.account)
        mode = runtime.receipt_mode if runtime is not None else "final"
        if mode == "each_segment":
            if not wants_receipt(message.registered_delivery, receipt.state):
                return []
            return [
                self._client(
                    message, receipt, now, expires, seg=entry.segment, sub=total, dlvrd=delivered
                )
            ]
        if whole is None or not wants_receipt(message.registered_delivery, whole):
            return []
        final = attrs.evolve(receipt, state=whole)
        return [self._client(message, final, now, expires, sub=total, dlvrd=delivered)]

    def _client(
        self,
        message: MtMessage,
        receipt: OperatorReceipt,
        now: float,
        expires: float,
        *,
        seg: int = 0,
        sub: int = 1,
        dlvrd: int | None = None,
    ) -> DeliveryItem:
        return client_receipt(
            message,
            receipt.state,
            now=now,
            expires_at=expires,
            err=receipt.err,
            done_at=receipt.done_at,
            sub=sub,
            dlvrd=dlvrd,
            tag=f"{int(receipt.state)}s{seg}",
            network_error_code=receipt.network_error_code,
        )

    def _observe_latency(self, connector: str, message: MtMessage, now: float) -> None:
        if message.submitted_at > 0 and now >= message.submitted_at:
            self.gateway.metrics.connector(connector).submit_receipt_seconds.observe(
                now - message.submitted_at
            )

    # --- the race: receipts before their id map ------------------------------------------

    def _raw_item(
        self, account: str, pdu: DeliverSm | DataSm, now: float, upstream: str, expires: float
    ) -> DeliveryItem:
        return item_from_pdu(
            pdu,
            id=self.gateway.ids.new(),
            account=account,
            kind=DeliveryKind.RECEIPT,
            message_id=upstream,
            created_at=now,
            expires_at=expires,
        )

    async def _hold(
        self, connector: str, pdu: DeliverSm | DataSm, upstream: str, now: float
    ) -> None:
        # Kept past the pending window so the purge never beats resolve_pending to it.
        expires = (
            self.gateway.expires_at(UNROUTABLE_ACCOUNT, "delivery", now) + self.pending_seconds
        )
        item = self._raw_item(pending_account(connector), pdu, now, upstream, expires)
        await self.gateway.store.enqueue_delivery([item])

    async def _keep_unmatched(self, connector: str, pdu: DeliverSm | DataSm, now: float) -> None:
        self.unmatched += 1
        self._count(UNROUTABLE_ACCOUNT, "unmatched")
        log.warning("receipt.unmatched", connector=connector)
        expires = self.gateway.expires_at(UNROUTABLE_ACCOUNT, "delivery", now)
        await self.gateway.store.enqueue_delivery(
            [self._raw_item(UNROUTABLE_ACCOUNT, pdu, now, "", expires)]
        )

    async def resolve_pending(self, connector: str, *, limit: int = 256) -> int:
        """One pass over ``connector``'s pending receipts; returns how many were matched."""
        store = self.gateway.store
        now = self.gateway.clock()
        items = await store.lease_delivery(pending_account(connector), limit, 60.0, now)
        matched = 0
        for item in items:
            pdu = to_deliver_sm(item)
            entry = await self._lookup(connector, item.message_id)
            if entry is not None:
                await self.apply(entry, read_operator_receipt(pdu), now)
                await store.ack_delivery(item.id)
                matched += 1
                self.resolved_late += 1
                continue
            if item.created_at + self.pending_seconds <= now:
                await self._keep_unmatched(connector, pdu, now)
                await store.ack_delivery(item.id)
                continue
            delay = min(5.0, 0.2 * 2.0 ** max(0, item.attempts - 1))
            await store.nack_delivery(item.id, now + delay)
        return matched
