"""The gateway's return path: what operators send back, to the clients that caused it.

Owns :class:`ReturnPath` (the :class:`~smppcore.connector_api.DeliverSink` connectors call)
and :class:`ReturnPathOptions`. The daemon builds ONE return path and hands the same object
to every connector (as their sink) and runs it (:meth:`ReturnPath.run`); it holds every part
of the path and no state lives anywhere else::

    operator deliver_sm batch ─▶ ReturnPath.operator_deliver
        receipts ─▶ ReceiptHandler.match ─┬─▶ ReceiptHandler.apply ─▶ Finaliser ─┐
                                          └─▶ PendingReceipts.hold (the race)    │
        replies  ─▶ ReplyHandler (reassembly, owner, consent) ───────────────────┤
                                                                                 ▼
                                      ClientDelivery: push from memory / durable queue

* :meth:`ReturnPath.operator_deliver` takes a batch of ``deliver_sm``/``data_sm`` from one
  operator bind and returns one status per PDU only once everything it received is durable:
  final states with their client receipts, pending receipts, reply parts, replies. A store
  failure propagates; the connector then answers ``ESME_RX_T_APPN`` so the operator retries.
* :meth:`ReturnPath.mt_final` ends a message that never got (or will never get) an
  operator receipt — permanent failure, expiry — through the same finaliser.
* :meth:`ReturnPath.run` runs the background parts: client delivery (which first frees what
  this node's previous run held), pending receipt retries, reply reassembly time-outs (after
  reloading stored parts) and the take-over of version-1 records
  (:mod:`smppcore.gateway.legacy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import structlog
import trio

from smppcore.gateway.correlation import ReceiptHandler
from smppcore.gateway.delivery import ClientDelivery, DeliveryPolicy
from smppcore.gateway.finals import Final as MessageFinal
from smppcore.gateway.finals import Finaliser
from smppcore.gateway.legacy import adopt_legacy_records
from smppcore.gateway.pending import PendingReceipts
from smppcore.gateway.receipts import is_receipt, read_operator_receipt
from smppcore.gateway.replies import ReplyHandler
from smppcore.protocol.enums import CommandStatus, MessageState
from smppcore.protocol.pdu import DataSm, DeliverSm
from smppcore.store.base import IdMapEntry, MtMessage, MtState

if TYPE_CHECKING:
    from smppcore.gateway.context import Gateway

__all__ = ["ReturnPath", "ReturnPathOptions"]

log = structlog.get_logger(__name__)

_OK: Final = int(CommandStatus.ESME_ROK)
_RINVCMDID: Final = int(CommandStatus.ESME_RINVCMDID)


@attrs.frozen
class ReturnPathOptions:
    """How the return path behaves; the defaults suit production."""

    #: Gets replies no conversation or number owner claims (else ``[policy]
    #: default_reply_account``, else they are kept as unroutable).
    default_account: str | None = None
    reassembly_timeout: float = 120.0
    max_partials: int = 10_000
    #: How long a receipt waits for its id map before it is given up.
    pending_receipt_seconds: float = 600.0
    delivery: DeliveryPolicy = attrs.field(factory=DeliveryPolicy)


class ReturnPath:
    """Receipts and replies from operators, to the clients that caused them."""

    def __init__(
        self,
        gateway: Gateway,
        options: ReturnPathOptions | None = None,
        *,
        node_id: str | None = None,
    ) -> None:
        options = options or ReturnPathOptions()
        self.gateway = gateway
        self.options = options
        self.delivery = ClientDelivery(
            gateway, options.delivery, node_id or gateway.config.daemon.node_id
        )
        self.finaliser = Finaliser(gateway, self.delivery)
        self.receipts = ReceiptHandler(gateway, self.delivery, self.finaliser)
        self.pending = PendingReceipts(
            gateway, self.receipts, pending_seconds=options.pending_receipt_seconds
        )
        self.replies = ReplyHandler(
            gateway,
            self.delivery,
            default_account=options.default_account,
            reassembly_timeout=options.reassembly_timeout,
            max_partials=options.max_partials,
        )

    async def operator_deliver(self, connector: str, pdus: Sequence[Any]) -> list[int]:
        """Handle a batch of ``deliver_sm``/``data_sm`` from one operator bind; one status
        per PDU, returned once everything is durable (see the module docstring)."""
        statuses = [_OK] * len(pdus)
        receipts = []
        tz = self.receipts.convention(connector).tz
        for n, pdu in enumerate(pdus):
            if not isinstance(pdu, DeliverSm | DataSm):
                statuses[n] = _RINVCMDID
            elif is_receipt(pdu):
                receipts.append(read_operator_receipt(pdu, tz))
            else:
                await self.replies.handle(connector, pdu)
        if receipts:
            matched, missing = await self.receipts.match(connector, receipts)
            if matched and missing:
                async with trio.open_nursery() as nursery:  # both writes share a commit
                    nursery.start_soon(self.receipts.apply, matched)
                    nursery.start_soon(self.pending.hold, connector, missing)
            elif matched:
                await self.receipts.apply(matched)
            else:
                await self.pending.hold(connector, missing)
        return statuses

    def submitted(self, message: MtMessage, id_maps: Sequence[IdMapEntry]) -> None:
        """A connector had every segment of ``message`` accepted; its receipts will follow (the
        maps are kept in memory so they are matched without a store read)."""
        self.receipts.submitted(message, id_maps)

    async def mt_final(self, message: MtMessage, state: MtState, error_code: int) -> None:
        """A message became final without an operator receipt: record the state and queue the
        client's receipt if the submit asked for one (one store request); its ``err:`` is
        ``error_code`` in the account's ``receipt_err`` form."""
        final = MessageFinal(
            message,
            MessageState(state.wire_state),
            error_code=error_code,
            tag=f"{state.wire_state}g",
            source="gateway",
        )
        await self.finaliser.finalise([final], self.gateway.clock())

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The background parts until cancelled; ``task_status.started()`` once this node's
        previous leases are freed and stored reply parts are reloaded."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.delivery.run)
            adopted = await adopt_legacy_records(self)
            if adopted:
                log.info("returnpath.adopted_v1_records", records=adopted)
            await self.replies.recover()
            nursery.start_soon(self.replies.run)
            nursery.start_soon(self.pending.run)
            task_status.started()
