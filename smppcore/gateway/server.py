"""The SMSC-role server towards wholesale clients: listener, binds, request dispatch.

Owns: :func:`serve_clients` (one ``[[listeners]]`` entry: TCP or TLS, connection cap, session
timers from the config) and :func:`handle_client` (one connection: bind, then requests).

Dispatch is a table ``command_id → handler``. Each request gets the account's runtime as
the directory holds it *now*, so a SIGHUP reload (owned numbers, rules, caps) applies to
sessions bound before it, and a session of an account the reload removed is answered
``ESME_RINVBNDSTS``. Binds run inline (the session allows one outstanding bind); the
``submit_sm``/``data_sm`` that arrived together are served as one batch (one store request)
and every other request on its own task, all in the connection's own nursery and at most
``window`` at a time, so concurrent submits of one client share the store's group commit and
responses may leave out of order (SMPP allows it). When that many are in flight the reader
stops taking requests; beyond the session's ``max_inbound_pending`` the session itself answers
``ESME_RTHROTTLED``.

The listener is :func:`smppcore.net.server.serve_smpp` (connection cap, TLS, one failing
session never reaches the listener); the peer's IP address for allow-lists and lock-out comes
from :attr:`SmppConnection.peer <smppcore.net.connection.SmppConnection.peer>`.

Stopping: given a :class:`~smppcore.net.drain.ServerDrain`, :func:`serve_clients` drains
(listener closed, new requests refused, every request already read answered, then unbind;
see :mod:`smppcore.net.drain`) and returns; what :func:`handle_client` answers when the
drain's deadline cuts it short is in its docstring.
"""

from __future__ import annotations

import collections
import functools
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import structlog
import trio

from smppcore.config.model import ListenerConfig
from smppcore.gateway.accounts import AccountRuntime
from smppcore.gateway.auth import authenticate
from smppcore.gateway.binds import BindType
from smppcore.gateway.client import ClientSession
from smppcore.gateway.context import Gateway
from smppcore.gateway.manage import handle_cancel_sm, handle_query_sm, handle_replace_sm
from smppcore.gateway.rejection import Rejection
from smppcore.gateway.submit import (
    handle_data_sm,
    handle_submit_multi,
    handle_submit_sm,
    handle_submits,
)
from smppcore.net.connection import SmppConnection
from smppcore.net.drain import DRAIN_STATUS, ServerDrain
from smppcore.net.inflight import InFlight
from smppcore.net.server import listener_port, serve_smpp
from smppcore.protocol.enums import CommandId, CommandStatus
from smppcore.protocol.pdu import Pdu
from smppcore.protocol.session_events import BadPdu, SessionConfig
from smppcore.protocol.states import Role
from smppcore.protocol.tlv import Tlvs

__all__ = ["REQUEST_HANDLERS", "handle_client", "serve_clients", "session_config", "tls_context"]

log = structlog.get_logger(__name__)

RequestHandler = Callable[[ClientSession, AccountRuntime, Pdu], Awaitable[None]]

#: Requests of a bound client, by command id.
REQUEST_HANDLERS: Final[Mapping[int, RequestHandler]] = {
    CommandId.SUBMIT_SM: handle_submit_sm,
    CommandId.DATA_SM: handle_data_sm,
    CommandId.SUBMIT_MULTI: handle_submit_multi,
    CommandId.QUERY_SM: handle_query_sm,
    CommandId.CANCEL_SM: handle_cancel_sm,
    CommandId.REPLACE_SM: handle_replace_sm,
}

_BIND_TYPES: Final[Mapping[int, BindType]] = {
    CommandId.BIND_TRANSMITTER: BindType.TRANSMITTER,
    CommandId.BIND_RECEIVER: BindType.RECEIVER,
    CommandId.BIND_TRANSCEIVER: BindType.TRANSCEIVER,
}
#: What the submit-side handlers need that a receiver bind lacks.
_SUBMIT_COMMANDS: Final = frozenset(REQUEST_HANDLERS)
#: Requests served in batches (:func:`smppcore.gateway.submit.handle_submits`).
_BATCHED: Final = frozenset({CommandId.SUBMIT_SM, CommandId.DATA_SM})
SYSTEM_ID: Final = "smppcore"
_INTERFACE_34: Final = 0x34
_RINVCMDID: Final = int(CommandStatus.ESME_RINVCMDID)
_RINVBNDSTS: Final = int(CommandStatus.ESME_RINVBNDSTS)
_RSYSERR: Final = int(CommandStatus.ESME_RSYSERR)


def session_config(listener: ListenerConfig) -> SessionConfig:
    return SessionConfig(
        window=listener.window,
        response_timeout=listener.response_timeout,
        enquire_link_interval=listener.enquire_link_interval,
        session_init_timeout=listener.session_init_timeout,
        inactivity_timeout=listener.inactivity_timeout,
        max_inbound_pending=max(100, 4 * listener.window),
    )


def tls_context(listener: ListenerConfig) -> ssl.SSLContext | None:
    if listener.tls_cert is None or listener.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(listener.tls_cert), str(listener.tls_key))
    return context


async def _bind(session: ClientSession, pdu: Pdu) -> None:
    gateway = session.gateway
    bind_type = _BIND_TYPES[pdu.command_id]
    system_id: str = getattr(pdu, "system_id", "")
    password: str = getattr(pdu, "password", "")
    result = await authenticate(gateway, system_id, password, bind_type, session.peer_ip)
    if isinstance(result, Rejection):
        log.info("client.bind_refused", reason=result.reason, peer=session.peer_ip)
        await session.respond(pdu, pdu.response(result.status))
        return
    # No await between the max-binds check in authenticate() and this registration.
    session.account = result
    session.bind = gateway.binds.add(system_id, bind_type, session.conn, session.peer)
    result.metrics.binds[bind_type.value].inc()
    tlvs = Tlvs.of(sc_interface_version=_INTERFACE_34)
    if getattr(pdu, "interface_version", 0) < _INTERFACE_34:
        tlvs = Tlvs()
    log.info("client.bound", account=system_id, bind_type=bind_type.value, peer=session.peer)
    await session.respond(pdu, pdu.response(system_id=SYSTEM_ID, tlvs=tlvs))


async def _run_request(
    session: ClientSession,
    handler: RequestHandler,
    account: AccountRuntime,
    pdu: Pdu,
    in_flight: InFlight,
) -> None:
    try:
        await handler(session, account, pdu)
    except Exception:
        # Never acknowledged: the handler answers only after the store returned.
        log.warning("client.request_failed", command_id=int(pdu.command_id), exc_info=True)
        session.respond_now(pdu, pdu.response(_RSYSERR))
    finally:
        in_flight.give(1)


async def _run_submits(
    session: ClientSession, account: AccountRuntime, pdus: list[Pdu], in_flight: InFlight
) -> None:
    try:
        await handle_submits(session, account, pdus)
    except Exception:
        # Never acknowledged: the batch is answered only after the store returned.
        log.warning("client.request_failed", command_id=int(pdus[0].command_id), exc_info=True)
        for pdu in pdus:
            session.respond_now(pdu, pdu.response(_RSYSERR))
    finally:
        in_flight.give(len(pdus))


async def _dispatch(session: ClientSession, pdu: Pdu) -> AccountRuntime | None:
    """Answer ``pdu`` at once if it cannot be served (or is a bind: binds run inline);
    otherwise return the account to serve it for."""
    command = pdu.command_id
    if command in _BIND_TYPES:
        await _bind(session, pdu)
        return None
    handler = REQUEST_HANDLERS.get(command)
    bind = session.bind
    # The account as configured now: a reload applies to sessions bound before it, and an
    # account removed by a reload may no longer send.
    account = session.gateway.directory.get(bind.account) if bind is not None else None
    if handler is None or account is None or bind is None:
        if type(pdu).response_class is not None:
            status = _RINVCMDID if handler is None else _RINVBNDSTS
            await session.respond(pdu, pdu.response(status))
        return None
    if not bind.bind_type.can_submit and command in _SUBMIT_COMMANDS:
        await session.respond(pdu, pdu.response(_RINVBNDSTS))
        return None
    return account


async def handle_client(gateway: Gateway, session: ClientSession, window: int) -> None:
    """Serve one connection until its session ends; unregisters its bind afterwards.

    What has arrived when the reader looks (up to ``window``) is served together: the
    ``submit_sm``/``data_sm`` among it as one batch (one store request for all), every other
    request on its own task; binds inline, in their place. At most ``window`` requests are
    being served at once.

    Draining (:mod:`smppcore.net.drain`): once the connection stops taking requests the loop
    ends after the last request already read, and this returns when each of them has been
    answered: a submit the store made durable with its message id, any other with its
    status. Cancelled (the drain's deadline, or a stop without drain):

    * requests read but not yet started (waiting for room in the window) are answered
      ``DRAIN_STATUS`` (``ESME_RTHROTTLED``) at once: no store request saw them, so the
      "no" is true, nothing of them is forwarded, and a resubmission is no duplicate;
    * a submit whose store write had returned was answered in that same step (the submit
      handlers queue their answers after the store request without a checkpoint), so a
      message made durable always has its answer queued before the connection closes;
    * a request being served (its task started) is left unanswered. For a submit that
      means it is waiting on the store, for the durable write or for the queue-cap count
      before it, and a write's outcome is unknown to us: SQLite may still commit a write
      it was handed, Redis waits for the reply and the cancelled caller drops it. OK
      would be a lie if the write failed, an error a lie if it landed (the message is
      then forwarded, and a client told "failed" believes it was not sent). Silence is
      the honest answer: a client that resends what got no answer makes at worst a
      duplicate (the invariants allow duplicates, never a loss). (A count wrote nothing,
      but the two are not told apart: either way the store was still busy with what had
      been read before the drain when the bound ran out, which at 10 s by default a
      healthy store never is.) Other requests being served (query_sm, cancel_sm,
      replace_sm) are left unanswered alike.
    """
    in_flight = InFlight(window)
    conn = session.conn
    try:
        async with trio.open_nursery() as nursery:
            todo: collections.deque[Pdu] = collections.deque()  # read, not yet started
            batch: list[Pdu] = []  # taken out of todo, not yet started
            try:
                async for first in conn:
                    todo.extend((first, *conn.receive_ready(window - 1)))
                    batch_account: AccountRuntime | None = None
                    while todo:
                        pdu = todo[0]
                        account = await _dispatch(session, pdu)
                        if (
                            account is not None
                            and pdu.command_id in _BATCHED
                            and (batch_account is None or account is batch_account)
                        ):
                            batch.append(todo.popleft())
                            batch_account = account
                            continue
                        if account is not None:
                            await in_flight.take(1)
                            handler = REQUEST_HANDLERS[pdu.command_id]
                            nursery.start_soon(
                                _run_request, session, handler, account, pdu, in_flight
                            )
                        todo.popleft()
                    if batch and batch_account is not None:
                        await in_flight.take(len(batch))
                        started, batch = batch, []
                        nursery.start_soon(_run_submits, session, batch_account, started, in_flight)
            except trio.Cancelled:
                for pdu in (*batch, *todo):
                    if type(pdu).response_class is not None:
                        session.respond_now(pdu, pdu.response(DRAIN_STATUS))
                raise
    finally:
        bind = session.bind
        if bind is not None:
            gateway.binds.remove(bind)
            if session.account is not None:
                session.account.metrics.binds[bind.bind_type.value].dec()
            session.bind = None
            # UNBOUND: the client unbound; PEER_CLOSED: it dropped the connection; ...
            end = session.conn.end_reason
            log.info("client.unbound", account=bind.account, bind_type=bind.bind_type.value,
                     peer=session.peer, reason=end.name if end is not None else "")  # fmt: skip


async def serve_clients(
    gateway: Gateway,
    listener: ListenerConfig,
    *,
    port: int | None = None,
    drain: ServerDrain | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve one client listener until cancelled, or, with ``drain``, until the drain has
    begun and every connection of this listener has closed; ``task_status.started(port)``.

    ``port`` overrides the configured one (``0`` in tests)."""
    config = session_config(listener)
    decode_errors = gateway.metrics.decode_errors.labels("client")

    def count_bad_pdu(_event: BadPdu) -> None:
        decode_errors.inc()

    async def serve_one(conn: SmppConnection) -> None:
        peer = conn.peer
        # No socket address (the peer vanished already): an IP no allow-list contains.
        ip, shown = (peer.host, str(peer)) if peer is not None else ("", ":0")
        await handle_client(gateway, ClientSession(gateway, conn, ip, shown), config.window)

    serve = functools.partial(
        serve_smpp,
        serve_one,
        listener.host,
        listener.port if port is None else port,
        ssl_context=tls_context(listener),
        config=config,
        max_connections=listener.max_connections,
        role=Role.SMSC,
        on_bad_pdu=count_bad_pdu,
        on_pdu=gateway.metrics.pdu_counter("client"),
        drain=drain,
    )
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(serve)
        task_status.started(listener_port(listeners))
