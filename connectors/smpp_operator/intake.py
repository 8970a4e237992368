"""Intake of ``deliver_sm`` / ``data_sm`` from the operator (receipts and handset replies).

Owns :class:`Intake`, the handler every bound connection of the pool runs. It serves a bind's
deliveries pipelined, never one at a time: whatever has arrived when it looks (up to the
intake window) is one batch, handed to ``sink.operator_deliver`` on a task of its own, and
the next batch is read while earlier ones are being made durable. Up to ``window``
deliveries are in flight per bind; beyond that the reader waits (and the session answers
``ESME_RTHROTTLED`` once its inbound limit is reached). Each batch's responses go out as soon
as the sink returned, which is only once everything in the batch is durable — so responses
may leave in a different order than the requests came, which SMPP allows — and never before.

If the sink raises, the batch is answered ``ESME_RX_T_APPN`` (retry later) and the failure is
counted; the bind stays up. Requests an ESME cannot serve are answered ``ESME_RINVCMDID``. A
failing sink is logged once when it starts failing (and again after it recovered and fails
anew), not once per PDU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import structlog
import trio

from smppcore.connector_api import DeliverSink
from smppcore.net.connection import SmppConnection
from smppcore.net.errors import NetError
from smppcore.net.inflight import InFlight
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.pdu import DataSm, DeliverSm, Pdu

__all__ = ["Intake"]

log = structlog.get_logger(__name__)

_RX_T_APPN: Final = int(CommandStatus.ESME_RX_T_APPN)
_RINVCMDID: Final = int(CommandStatus.ESME_RINVCMDID)


class Intake:
    """``await intake(conn)`` serves one connection's incoming requests until it ends."""

    def __init__(self, name: str, sink: DeliverSink, *, window: int = 100) -> None:
        if window < 1:
            raise ValueError("the intake window must be at least 1")
        self.name = name
        self.window = window
        self._sink = sink
        self.delivered = 0
        self.batches = 0
        self.sink_failures = 0
        self._failing = False

    async def __call__(self, conn: SmppConnection) -> None:
        """Serve incoming requests on ``conn`` until the session ends."""
        in_flight = InFlight(self.window)

        async def serve(batch: list[Pdu]) -> None:
            try:
                statuses = await self._deliver(batch)
                for pdu, status in zip(batch, statuses, strict=True):
                    await conn.respond(pdu, pdu.response(command_status=status))
            except NetError:
                pass  # the session ended: the operator sends them again
            finally:
                in_flight.give(len(batch))

        async with trio.open_nursery() as nursery:
            try:
                async for first in conn:
                    batch: list[Pdu] = []
                    for pdu in (first, *conn.receive_ready(self.window - 1)):
                        if type(pdu).response_class is None:
                            continue  # alert_notification, outbind: nothing to answer
                        if isinstance(pdu, DeliverSm | DataSm):
                            batch.append(pdu)
                        else:
                            await conn.respond(pdu, pdu.response(command_status=_RINVCMDID))
                    if not batch:
                        continue
                    await in_flight.take(len(batch))
                    nursery.start_soon(serve, batch)
            except NetError:
                pass  # batches in flight still finish their durable writes

    async def _deliver(self, batch: Sequence[Pdu]) -> list[int]:
        try:
            statuses = [int(s) for s in await self._sink.operator_deliver(self.name, batch)]
        except trio.Cancelled:
            raise
        except Exception as exc:  # the sink's failure must not take the bind down
            self.sink_failures += 1
            if not self._failing:
                self._failing = True
                log.error("connector.intake_failing", connector=self.name,
                          error=type(exc).__name__)  # fmt: skip
            return [_RX_T_APPN] * len(batch)
        if self._failing:
            self._failing = False
            log.info("connector.intake_recovered", connector=self.name,
                     failures=self.sink_failures)  # fmt: skip
        self.delivered += len(batch)
        self.batches += 1
        return statuses
