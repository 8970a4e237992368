"""Receipts that overtook their id map: held durably, retried, then given up.

Owns :class:`PendingReceipts`. An operator may send a receipt before the connector has made
the ``submit_sm_resp``'s id map durable (the response and the receipt race on different
tasks, or the operator receipts at once). Such a receipt is not refused: it is stored as a
:class:`~smppcore.store.base.PendingReceipt` — its id, state, error, done date and network
error code, never its text or addresses — and the operator gets ``ESME_ROK``. Answering
``ESME_RX_T_APPN`` instead would leave the retry to the operator's SMSC, whose schedule we
do not know (often minutes).

Retries follow the receipt's own backoff (0.05 s, doubling, capped at 5 s) for
``pending_seconds`` (default 600 s); a receipt that matches goes through
:meth:`~smppcore.gateway.correlation.ReceiptHandler.apply` like any other and its record is
dropped afterwards (a crash in between applies it again, which the finaliser drops as a
duplicate). One still unmatched after ``pending_seconds`` is given up: counted
``smppcore_deliveries_total{account="__unroutable__", kind="receipt", result="unmatched"}``,
logged, and kept as an ``unmatched`` record until the delivery retention ends. A receipt
without any id is given up at once.

The retry task sleeps until the earliest retry the store holds (this daemon's receipts, a
previous run's, another daemon's); with none pending it only looks again every
``idle_check`` seconds (another daemon may hold some) or when a receipt is held here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import attrs
import structlog
import trio

from smppcore.gateway.receipts import OperatorReceipt
from smppcore.protocol.enums import MessageState
from smppcore.store.base import UNROUTABLE_ACCOUNT, PendingReceipt, ReceiptMatch

if TYPE_CHECKING:
    from smppcore.gateway.context import Gateway
    from smppcore.gateway.correlation import ReceiptHandler

__all__ = ["PendingReceipts"]

log = structlog.get_logger(__name__)

_FIRST_RETRY: Final = 0.05
_MAX_RETRY: Final = 5.0
_BATCH: Final = 256

Apply = Callable[[Sequence[tuple[ReceiptMatch, OperatorReceipt]]], Awaitable[None]]


def _record_id(connector: str, upstream_id: str, state: int) -> str:
    material = f"{connector}|{upstream_id}|{state}".encode()
    return hashlib.blake2s(material, digest_size=16).hexdigest()


def _to_receipt(record: PendingReceipt) -> OperatorReceipt:
    state = (
        MessageState(record.state)
        if record.state in MessageState._value2member_map_
        else MessageState.UNKNOWN
    )
    done = datetime.fromtimestamp(record.done_at, UTC) if record.done_at else None
    return OperatorReceipt(
        record.upstream_id, state, record.err, done, record.network_error_code or None
    )


class PendingReceipts:
    """See the module docstring. ``handler`` matches and applies what becomes matchable."""

    def __init__(
        self,
        gateway: Gateway,
        handler: ReceiptHandler,
        *,
        pending_seconds: float = 600.0,
        idle_check: float = 30.0,
    ) -> None:
        self.gateway = gateway
        self._handler = handler
        self.pending_seconds = pending_seconds
        self.idle_check = idle_check
        self._next = math.inf  # the earliest retry this daemon knows of
        self._changed = trio.Event()

    def _count_unmatched(self, connector: str, n: int = 1) -> None:
        self.gateway.metrics.deliveries.labels(UNROUTABLE_ACCOUNT, "receipt", "unmatched").inc(n)
        log.warning("receipt.unmatched", connector=connector, receipts=n)

    async def hold(self, connector: str, receipts: Sequence[OperatorReceipt]) -> None:
        """Store receipts whose id had no map yet (durable on return)."""
        if not receipts:
            return
        gateway = self.gateway
        now = gateway.clock()
        expires = gateway.expires_at(UNROUTABLE_ACCOUNT, "delivery", now) + self.pending_seconds
        records = []
        no_id = 0
        for r in receipts:
            upstream = r.upstream_id or ""
            records.append(
                PendingReceipt(
                    id=_record_id(connector, upstream, int(r.state)),
                    connector=connector,
                    upstream_id=upstream,
                    state=int(r.state),
                    err=r.err,
                    done_at=r.done_at.timestamp() if r.done_at is not None else 0.0,
                    network_error_code=r.network_error_code or b"",
                    received_at=now,
                    next_try_at=now + _FIRST_RETRY,
                    expires_at=expires,
                    unmatched=not upstream,  # nothing to look up, ever
                )
            )
            no_id += not upstream
        await gateway.store.hold_receipts(records)
        if no_id:
            self._count_unmatched(connector, no_id)
        if len(records) > no_id and now + _FIRST_RETRY < self._next:
            self._next = now + _FIRST_RETRY
            self._changed.set()

    async def resolve_due(self) -> int:
        """One pass over the due pending receipts; returns how many matched."""
        gateway = self.gateway
        store = gateway.store
        now = gateway.clock()
        due = await store.due_pending_receipts(now, _BATCH)
        matched: list[tuple[ReceiptMatch, OperatorReceipt]] = []
        done: list[str] = []
        later: list[PendingReceipt] = []
        for record in due:
            receipt = _to_receipt(record)
            found, _ = await self._handler.match(record.connector, [receipt])
            if found:
                matched.extend(found)
                done.append(record.id)
            elif record.received_at + self.pending_seconds <= now:
                self._count_unmatched(record.connector)
                later.append(
                    attrs.evolve(
                        record,
                        unmatched=True,
                        expires_at=gateway.expires_at(UNROUTABLE_ACCOUNT, "delivery", now),
                    )
                )
            else:
                delay = min(_MAX_RETRY, _FIRST_RETRY * 2.0 ** (record.attempts + 1))
                later.append(
                    attrs.evolve(record, attempts=record.attempts + 1, next_try_at=now + delay)
                )
        if matched:
            await self._handler.apply(matched)
            await store.drop_pending_receipts(done)
        if later:
            await store.hold_receipts(later)
        if len(due) >= _BATCH:
            self._next = now
        else:  # the store knows best (a hold meanwhile, another daemon's receipts)
            await self._schedule()
        return len(matched)

    async def _schedule(self) -> None:
        """Lower the next retry time to the store's earliest."""
        earliest = await self.gateway.store.next_pending_receipt_at()
        if earliest is not None:
            self._next = min(self._next, earliest)

    async def run(self) -> None:
        """Retry pending receipts until cancelled (see the module docstring)."""
        gateway = self.gateway
        await self._schedule()  # a previous run's receipts, or another daemon's
        while True:
            now = gateway.clock()
            if self._next > now:
                self._changed = trio.Event()
                with trio.move_on_after(min(self._next - now, self.idle_check)):
                    await self._changed.wait()
                if self._next > gateway.clock():
                    if self._next == math.inf:
                        await self._schedule()  # somebody else's: look now and then
                    continue
            self._next = math.inf
            try:
                await self.resolve_due()
            except Exception as exc:  # a store hiccup must not end the return path
                log.error("receipt.pending_failed", error=type(exc).__name__)
                self._next = min(self._next, gateway.clock() + _MAX_RETRY)
