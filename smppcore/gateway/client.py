"""One client connection's state as the request handlers see it.

Owns: :class:`ClientSession` (the gateway, the connection, the peer, and — once bound — the
account and the registered bind) and the helpers every handler uses to answer and count:
:meth:`ClientSession.respond`, :meth:`ClientSession.reject_submit`, and their forms that
never wait (:meth:`ClientSession.respond_now`, :meth:`ClientSession.reject_submit_now`) for
answers no cancellation may separate from what decided them.
"""

from __future__ import annotations

from typing import Final

import attrs
import structlog

from smppcore.gateway.accounts import AccountRuntime
from smppcore.gateway.binds import ClientBind
from smppcore.gateway.context import Gateway
from smppcore.gateway.rejection import Rejection
from smppcore.net.connection import SmppConnection
from smppcore.net.errors import NetError
from smppcore.protocol.pdu import Pdu
from smppcore.protocol.session import SessionStateError

__all__ = ["ClientSession"]

log = structlog.get_logger(__name__)

_ANSWER_ERRORS: Final = (NetError, SessionStateError)


@attrs.define(eq=False)
class ClientSession:
    """A client connection; ``account``/``bind`` are set by a successful bind."""

    gateway: Gateway
    conn: SmppConnection
    peer_ip: str
    peer: str
    account: AccountRuntime | None = None
    bind: ClientBind | None = None

    async def respond(self, request: Pdu, response: Pdu) -> None:
        """Send ``response``; a session that ended meanwhile is not an error here."""
        try:
            await self.conn.respond(request, response)
        except _ANSWER_ERRORS:
            pass

    def respond_now(self, request: Pdu, response: Pdu) -> None:
        """Send ``response`` without a checkpoint (:meth:`SmppConnection.respond_now
        <smppcore.net.connection.SmppConnection.respond_now>`): once the store has answered,
        the client's answer is queued in the same step, whatever cancellation comes next. A
        session that ended meanwhile is not an error here."""
        try:
            self.conn.respond_now(request, response)
        except _ANSWER_ERRORS:
            pass

    def count_rejection(self, account: AccountRuntime, rejection: Rejection) -> None:
        """Count one refused message under its reason; log it without personal data."""
        account.metrics.rejected(rejection.reason).inc()
        log.debug(
            "mt.rejected",
            account=account.system_id,
            reason=rejection.reason,
            status=rejection.status,
        )

    async def reject_submit(
        self, request: Pdu, account: AccountRuntime, rejection: Rejection
    ) -> None:
        self.count_rejection(account, rejection)
        await self.respond(request, request.response(command_status=rejection.status))

    def reject_submit_now(
        self, request: Pdu, account: AccountRuntime, rejection: Rejection
    ) -> None:
        """:meth:`reject_submit` without a checkpoint (see :meth:`respond_now`)."""
        self.count_rejection(account, rejection)
        self.respond_now(request, request.response(command_status=rejection.status))
