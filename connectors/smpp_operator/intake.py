"""Intake of ``deliver_sm`` / ``data_sm`` from the operator (receipts and handset replies).

Owns :class:`Intake`: for each incoming request on a receiving bind it awaits
``sink.operator_deliver(connector, pdu)`` - which returns only once the item is durable - and
only then answers with the status the sink returned. If the sink raises, the operator gets
``ESME_RX_T_APPN`` (retry later) and the failure is counted; the bind stays up. Requests an
ESME cannot serve are answered ``ESME_RINVCMDID``. A failing sink is logged once when it
starts failing (and again after it recovered and fails anew), not once per PDU.
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
    def __init__(self, name: str, sink: DeliverSink) -> None:
        self.name = name
        self._sink = sink
        self.delivered = 0
        self.sink_failures = 0
        self._failing = False

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
            if not self._failing:
                self._failing = True
                log.error("connector.intake_failing", connector=self.name,
                          error=type(exc).__name__)  # fmt: skip
            return int(CommandStatus.ESME_RX_T_APPN)
        if self._failing:
            self._failing = False
            log.info("connector.intake_recovered", connector=self.name,
                     failures=self.sink_failures)  # fmt: skip
        self.delivered += 1
        return status
