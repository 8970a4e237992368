"""Outbind: sessions the operator's SMSC opens to us, to deliver receipts and replies.

Owns :class:`OutbindListener`. With ``outbind_listen`` set, the connector listens there. An
SMSC connects and sends ``outbind(system_id, password)`` (SMPP 3.4 §4.1.7; there is no
response PDU); we check them (``outbind_password`` always, ``outbind_system_id`` when set,
both compared in constant time) and answer with ``bind_receiver`` on the same connection,
with the connector's own credentials. Once the SMSC accepts it the session is a receiver
like any other bind of the pool: the connector's intake serves its deliver_sm.

Refused (closed without a word, as the spec says): wrong credentials, or no outbind within
the session's init timer (until then the session itself answers what an unbound ESME may
not get, e.g. a deliver_sm, with ESME_RINVBNDSTS). Every refusal is logged with its reason
and counted in :attr:`OutbindListener.refused`; credentials are never logged.
"""

from __future__ import annotations

import hmac
from typing import Final

import structlog
import trio

from smppcore.config.values import HostPort
from smppcore.net.client import bind
from smppcore.net.connection import PduHook, SmppConnection, open_smpp_connection
from smppcore.net.errors import NetError
from smppcore.protocol.pdu import BindReceiver, Outbind
from smppcore.protocol.session_events import SessionConfig
from smppcore.protocol.states import Role

from .pool import Intake, serve_intake

__all__ = ["OutbindListener"]

log = structlog.get_logger(__name__)

#: How long an accepted connection may take to send its outbind, when the session has no
#: init timer of its own.
_DEFAULT_INIT_SECONDS: Final = 30.0


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class OutbindListener:
    """Serves one connector's outbind port; see the module docstring."""

    def __init__(
        self,
        name: str,
        listen: HostPort,
        *,
        password: str,
        system_id: str | None,
        bind_pdu: BindReceiver,
        session_config: SessionConfig,
        intake: Intake,
        on_pdu: PduHook | None = None,
    ) -> None:
        self.name = name
        self._on_pdu = on_pdu
        self._listen = listen
        self._password = password
        self._system_id = system_id
        self._bind_pdu = bind_pdu
        self._session_config = session_config
        self._intake = intake
        self.port = 0  #: the port listened on (the real one when configured as 0)
        self.bound = 0  #: sessions currently bound through an outbind
        self.refused: dict[str, int] = {}  #: refusals by reason

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self._listen.port, host=self._listen.host)
        self.port = listeners[0].socket.getsockname()[1]
        log.info("connector.outbind_listening", connector=self.name, port=self.port)
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    def _refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        log.warning("connector.outbind_refused", connector=self.name, reason=reason)

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            async with open_smpp_connection(
                stream, Role.ESME, self._session_config, on_pdu=self._on_pdu
            ) as conn:
                outbind = await self._first_outbind(conn)
                if outbind is None:
                    conn.abort("outbind refused")
                    return
                await bind(conn, self._bind_pdu, timeout=self._session_config.response_timeout)
                await self._serve_bound(conn)
        except NetError as exc:
            log.info("connector.outbind_ended", connector=self.name, error=type(exc).__name__)

    async def _first_outbind(self, conn: SmppConnection) -> Outbind | None:
        wait = self._session_config.session_init_timeout or _DEFAULT_INIT_SECONDS
        with trio.move_on_after(wait):
            first = await conn.receive_request()
            if not isinstance(first, Outbind):
                self._refuse("not_outbind")
                return None
            if not _same(first.password, self._password):
                self._refuse("credentials")
                return None
            if self._system_id is not None and not _same(first.system_id, self._system_id):
                self._refuse("credentials")
                return None
            return first
        self._refuse("timeout")
        return None

    async def _serve_bound(self, conn: SmppConnection) -> None:
        self.bound += 1
        log.info("connector.outbind_bound", connector=self.name)
        try:
            await serve_intake(conn, self._intake, self._session_config.response_timeout)
        finally:
            self.bound -= 1
        reason = conn.end_reason.name if conn.end_reason else ""
        log.warning("connector.outbind_lost", connector=self.name, reason=reason)
