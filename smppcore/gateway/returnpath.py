"""The gateway's return path: the :class:`~smppcore.connector_api.DeliverSink` connectors call.

Owns: :class:`ReturnPath`, which sorts what an operator sends back into receipts
(:mod:`smppcore.gateway.receipts`) and handset replies (:mod:`smppcore.gateway.replies`),
produces the gateway's own receipts for messages that became final without reaching an
operator (:meth:`ReturnPath.mt_final`), and runs the background work both need
(:meth:`ReturnPath.run`: pending receipts waiting for their id map, reassembly time-outs and
the recovery of stored reply parts after a restart).

Composition (the daemon)::

    sink = ReturnPath(gateway)          # ConnectorContext(sink=sink, ...)
    await nursery.start(serve_deliveries, gateway)   # also runs ReturnPath.run()

The return path's state (the reassembly table, counters) is one per :class:`Gateway`: every
``ReturnPath(gateway)`` is a view of the same state (the first one's options win), so the
object the connectors were given and the one :func:`serve_deliveries` runs the background work
of are the same whichever is built first.

Every ``operator_deliver`` returns only once what it received is durable in the store (queued
for the client, or held as a pending receipt or a stored reply part); only then does the
connector answer the operator ``ESME_ROK``. A store failure propagates, and the connector
answers ``ESME_RX_T_APPN`` so the operator retries.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import attrs
import structlog
import trio

from smppcore.gateway.receipts import ReceiptHandler, client_receipt, is_receipt, wants_receipt
from smppcore.gateway.replies import ReplyHandler
from smppcore.protocol.enums import CommandStatus, MessageState
from smppcore.protocol.pdu import DataSm, DeliverSm
from smppcore.store.base import MtMessage, MtState

if TYPE_CHECKING:
    from smppcore.gateway.context import Gateway

__all__ = ["ReturnPath"]

log = structlog.get_logger(__name__)


@attrs.define(eq=False)
class _State:
    receipts: ReceiptHandler
    replies: ReplyHandler
    pending_poll_interval: float
    running: bool = False


_STATES: weakref.WeakKeyDictionary[Gateway, _State] = weakref.WeakKeyDictionary()


class ReturnPath:
    """Receipts and replies from operators, to the clients that caused them."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        default_account: str | None = None,
        reassembly_timeout: float = 120.0,
        max_partials: int = 10_000,
        pending_receipt_seconds: float = 600.0,
        pending_poll_interval: float = 0.2,
    ) -> None:
        self.gateway = gateway
        state = _STATES.get(gateway)
        if state is None:
            state = _STATES[gateway] = _State(
                receipts=ReceiptHandler(gateway, pending_seconds=pending_receipt_seconds),
                replies=ReplyHandler(
                    gateway,
                    default_account=default_account,
                    reassembly_timeout=reassembly_timeout,
                    max_partials=max_partials,
                ),
                pending_poll_interval=pending_poll_interval,
            )
        self._state = state
        self.receipts = state.receipts
        self.replies = state.replies
        self.pending_poll_interval = state.pending_poll_interval

    async def operator_deliver(self, connector: str, pdu: Any) -> int:
        """Handle an operator ``deliver_sm``/``data_sm``; returns the status to answer with."""
        if not isinstance(pdu, DeliverSm | DataSm):
            return int(CommandStatus.ESME_RINVCMDID)
        if is_receipt(pdu):
            return await self.receipts.handle(connector, pdu)
        return await self.replies.handle(connector, pdu)

    async def mt_final(self, message: MtMessage, state: MtState, error_code: int) -> None:
        """A message became final without an operator receipt: record the state and queue the
        client's receipt if the submit asked for one."""
        gateway = self.gateway
        now = gateway.clock()
        await gateway.store.set_mt_state(message.id, state, now, error_code)
        wire = MessageState(state.wire_state)
        if not wants_receipt(message.registered_delivery, wire):
            return
        item = client_receipt(
            message,
            wire,
            now=now,
            expires_at=gateway.expires_at(message.account, "delivery", now),
            err=f"{min(max(error_code, 0), 999):03d}",
            tag=f"{int(wire)}g",
        )
        await gateway.queue_delivery([item])

    def _connector_names(self) -> set[str]:
        names = set(self.gateway.connectors)
        names.update(c.name for c in self.gateway.config.connectors)
        return names

    async def resolve_pending_once(self) -> int:
        """One pass over every connector's pending receipts; returns how many matched."""
        matched = 0
        for name in sorted(self._connector_names()):
            matched += await self.receipts.resolve_pending(name)
        return matched

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Background work until cancelled: stored reply parts are reloaded before
        ``task_status.started()``. Runs once per gateway: a second call returns at once."""
        if self._state.running:
            task_status.started()
            return
        self._state.running = True
        try:
            await self._run(task_status)
        finally:
            self._state.running = False

    async def _run(self, task_status: trio.TaskStatus[None]) -> None:
        await self.replies.recover()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.replies.run)
            task_status.started()
            while True:
                try:
                    await self.resolve_pending_once()
                except trio.Cancelled:
                    raise
                except Exception as exc:  # a store hiccup must not end the return path
                    log.error("returnpath.pending_failed", error=type(exc).__name__)
                await trio.sleep(self.pending_poll_interval)
