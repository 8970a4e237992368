"""A minimal SMSC responder for tests and benchmarks (not the SMSC simulator).

Owns: :class:`SmscResponder`, a ``serve_smpp`` handler that accepts every bind, answers
submit_sm/data_sm/submit_multi with increasing message ids, and answers every other
request it understands with ``ESME_ROK``.  It records what it received so tests can look,
and can push deliver_sm to the bound ESME.
"""

from __future__ import annotations

import itertools

import attrs
import trio

from ..protocol.enums import CommandId, CommandStatus
from ..protocol.pdu import DeliverSm, Pdu
from ..protocol.states import BIND_COMMANDS
from .connection import SmppConnection
from .errors import NetError

__all__ = ["SmscResponder"]

_MESSAGE_ID_COMMANDS = frozenset({CommandId.SUBMIT_SM, CommandId.DATA_SM, CommandId.SUBMIT_MULTI})


@attrs.define
class SmscResponder:
    """Use as the handler of ``serve_smpp``; one instance may serve many connections."""

    system_id: str = "smppcore-test"
    accept_binds: bool = True
    record: bool = True
    received: list[Pdu] = attrs.field(factory=list)
    connections: list[SmppConnection] = attrs.field(factory=list)
    bound: trio.Event = attrs.field(factory=trio.Event)
    _ids: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))

    async def __call__(self, conn: SmppConnection) -> None:
        self.connections.append(conn)
        try:
            async for request in conn:
                if self.record:
                    self.received.append(request)
                response = self.answer(request)
                if response is None:
                    continue
                await conn.respond(request, response)
                if request.command_id in BIND_COMMANDS and response.command_status == 0:
                    self.bound.set()
        except NetError:
            return

    def answer(self, request: Pdu) -> Pdu | None:
        """The response this responder gives to ``request`` (None: no response PDU)."""
        if type(request).response_class is None:
            return None
        if request.command_id in BIND_COMMANDS:
            if not self.accept_binds:
                return request.response(command_status=CommandStatus.ESME_RBINDFAIL)
            return request.response(system_id=self.system_id)
        if request.command_id in _MESSAGE_ID_COMMANDS:
            return request.response(message_id=f"{next(self._ids):x}")
        return request.response()

    async def deliver(self, conn: SmppConnection, pdu: DeliverSm) -> Pdu:
        """Send a deliver_sm to the ESME on ``conn`` and return its response."""
        return await conn.request(pdu)
