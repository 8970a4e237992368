"""The SMPP listener (SMSC role): ``serve_smpp`` runs until cancelled, or until drained.

Owns: accepting TCP (optionally TLS) connections, the bound on concurrent connections
and the containment of misbehaving peers: each connection runs ``handler(conn)`` inside
:func:`~smppcore.net.connection.open_smpp_connection`; whatever one handler raises is
logged and ends that connection only.  Accept errors such as EMFILE are handled by
``trio.serve_listeners`` (it logs and retries after a short sleep).

Given a :class:`~smppcore.net.drain.ServerDrain`, the server stops gracefully once the
drain begins: the listeners close first, every connection is drained (its requests
answered, then unbound; see :mod:`smppcore.net.drain`) and the call returns when the last
connection has closed.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
import trio

from ..protocol.errors import SmppError
from ..protocol.session_events import SessionConfig
from ..protocol.states import Role
from .connection import BadPduHook, PduHook, SmppConnection, open_smpp_connection
from .drain import ServerDrain

__all__ = ["Handler", "listener_port", "serve_smpp", "serve_smpp_listeners"]

log = structlog.get_logger(__name__)

Handler = Callable[[SmppConnection], Awaitable[None]]


async def serve_smpp_listeners(
    handler: Handler,
    listeners: Sequence[trio.abc.Listener[Any]],
    *,
    config: SessionConfig | None = None,
    max_connections: int = 1000,
    unbind_timeout: float = 5.0,
    role: Role = Role.SMSC,
    on_bad_pdu: BadPduHook | None = None,
    on_pdu: PduHook | None = None,
    drain: ServerDrain | None = None,
    task_status: trio.TaskStatus[list[trio.abc.Listener[Any]]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve SMPP on ready-made listeners until cancelled, or, with ``drain``, until the
    drain has begun and every connection has closed.

    ``role`` is the side we play on accepted connections: SMSC normally, ESME for a
    listener that accepts outbind.

    Connections beyond ``max_connections`` are closed at once.  ``task_status.started``
    receives the listeners (see :func:`listener_port`).
    """
    limiter = trio.CapacityLimiter(max_connections)

    async def serve_one(stream: trio.abc.Stream) -> None:
        try:
            limiter.acquire_nowait()
        except trio.WouldBlock:
            log.warning("smpp.connection_rejected", reason="max_connections")
            await trio.aclose_forcefully(stream)
            return
        try:
            async with open_smpp_connection(
                stream,
                role,
                config,
                unbind_timeout=unbind_timeout,
                on_bad_pdu=on_bad_pdu,
                on_pdu=on_pdu,
            ) as conn:
                if drain is None:
                    await handler(conn)
                else:
                    await drain.serve(conn, handler)
        except Exception as exc:
            # One peer's (or handler's) failure never reaches the listener. Only our own
            # errors' text is logged: another exception's may carry a number or message text.
            detail = str(exc) if isinstance(exc, SmppError) else ""
            log.warning("smpp.session_failed", error=type(exc).__name__, detail=detail)
        finally:
            limiter.release()
            await trio.aclose_forcefully(stream)

    if drain is None:
        await trio.serve_listeners(serve_one, list(listeners), task_status=task_status)
    async with trio.open_nursery() as connections:
        with trio.CancelScope() as accepting:
            connections.start_soon(_cancel_when_begun, drain, accepting)
            # Connections run in ``connections``: closing the listeners leaves them be.
            await trio.serve_listeners(
                serve_one, list(listeners), handler_nursery=connections, task_status=task_status
            )
        # The drain began: serve_listeners has closed the listeners on its way out; the
        # nursery now waits for the connections to finish their drains.


async def _cancel_when_begun(drain: ServerDrain, scope: trio.CancelScope) -> None:
    await drain.wait_begun()
    scope.cancel()


async def serve_smpp(
    handler: Handler,
    host: str | None,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    config: SessionConfig | None = None,
    max_connections: int = 1000,
    unbind_timeout: float = 5.0,
    role: Role = Role.SMSC,
    on_bad_pdu: BadPduHook | None = None,
    on_pdu: PduHook | None = None,
    drain: ServerDrain | None = None,
    task_status: trio.TaskStatus[list[trio.abc.Listener[Any]]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``host:port`` (port 0: any free port) and serve SMPP until cancelled, or
    until ``drain`` (if given) has begun and every connection has closed.

    With ``ssl_context`` (a server context holding the certificate) every connection is
    TLS.  Use ``port = listener_port(await nursery.start(serve_smpp, ...))``.
    """
    tcp = await trio.open_tcp_listeners(port, host=host)
    listeners: list[trio.abc.Listener[Any]] = list(tcp)
    if ssl_context is not None:
        listeners = [
            trio.SSLListener(listener, ssl_context, https_compatible=False) for listener in tcp
        ]
    await serve_smpp_listeners(
        handler,
        listeners,
        config=config,
        max_connections=max_connections,
        unbind_timeout=unbind_timeout,
        role=role,
        on_bad_pdu=on_bad_pdu,
        on_pdu=on_pdu,
        drain=drain,
        task_status=task_status,
    )


def listener_port(listeners: Sequence[trio.abc.Listener[Any]]) -> int:
    """The TCP port the first listener is bound to (works through ``SSLListener``)."""
    listener: Any = listeners[0]
    while isinstance(listener, trio.SSLListener):
        listener = listener.transport_listener
    return int(listener.socket.getsockname()[1])
