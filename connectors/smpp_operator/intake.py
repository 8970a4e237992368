"""Intake of ``deliver_sm`` / ``data_sm`` from the operator (receipts and handset replies).

Owns :class:`Intake`: for each incoming request on a receiving bind it awaits
``sink.operator_deliver(connector, pdu)`` - which returns only once the item is durable - and
only then answers with the status the sink returned. If the sink raises, the operator gets
``ESME_RX_T_APPN`` (retry later) and the failure is counted; the bind stays up. Requests an
ESME cannot serve are answered ``ESME_RINVCMDID``.
"""

from __future__ import annotations

import structlog
import trio

from smppcore.connector_api import DeliverSink
from smppcore.net.connection import SmppConnection
from smppcore.net.errors import NetError
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.pdu import DataSm, DeliverSm

__all__ = ["Intake"]

log = structlog.get_logger(__name__)


class Intake:
    def __init__(self, name: str, sink: DeliverSink, metrics: object | None) -> None:
        self.name = name
        self._sink = sink
        self._metrics = metrics
        self.delivered = 0
        self.sink_failures = 0

    async def __call__(self, conn: SmppConnection) -> None:
        """Serve incoming requests on ``conn`` until the session ends."""
        try:
            async for pdu in conn:
                if type(pdu).response_class is None:
                    continue  # alert_notification, outbind: nothing to answer
                if isinstance(pdu, DeliverSm | DataSm):
                    status = await self._deliver(pdu)
                else:
                    status = CommandStatus.ESME_RINVCMDID
                await conn.respond(pdu, pdu.response(command_status=int(status)))
        except NetError:
            return

    async def _deliver(self, pdu: DeliverSm | DataSm) -> int:
        try:
            status = int(await self._sink.operator_deliver(self.name, pdu))
        except trio.Cancelled:
            raise
        except Exception as exc:  # the sink's failure must not take the bind down
            self.sink_failures += 1
            log.error("connector.intake_failed", connector=self.name, error=type(exc).__name__)
            return int(CommandStatus.ESME_RX_T_APPN)
        self.delivered += 1
        return status
