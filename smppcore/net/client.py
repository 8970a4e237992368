"""The bind client (ESME role): connect, bind, and optionally keep the bind up.

Owns: :func:`connect_smpp` (TCP or TLS stream, errors translated), :func:`bind` (one bind
exchange, refusal → :class:`BindFailed`) and :func:`open_bind_client`, an async context
manager yielding a :class:`BindClient`.  With ``reconnect=True`` a background task
reconnects after any loss with exponential backoff plus jitter, and requests wait
(bounded) for the next bound connection.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

import attrs
import structlog
import trio

from ..protocol.enums import CommandId, CommandStatus
from ..protocol.pdu import Pdu
from ..protocol.session_events import SessionConfig
from ..protocol.states import BIND_COMMANDS, Role
from .connection import (
    TRANSPORT_ERRORS,
    SmppConnection,
    open_smpp_connection,
    unwrap_exception_group,
)
from .errors import BindFailed, ConnectionLost, NetError, SessionClosed

__all__ = ["Backoff", "BindClient", "bind", "connect_smpp", "open_bind_client"]

log = structlog.get_logger(__name__)

Handler = Callable[[SmppConnection], Awaitable[None]]
_DEFAULT_CONNECT_TIMEOUT: Final = 10.0


async def connect_smpp(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    connect_timeout: float = _DEFAULT_CONNECT_TIMEOUT,
) -> trio.abc.Stream:
    """A connected stream (TLS handshake done, certificate verified, when
    ``ssl_context`` is given); failures raise :class:`ConnectionLost`."""
    try:
        with trio.fail_after(connect_timeout):
            if ssl_context is None:
                return await trio.open_tcp_stream(host, port)
            stream = await trio.open_ssl_over_tcp_stream(host, port, ssl_context=ssl_context)
            try:
                await stream.do_handshake()
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
            return stream
    except trio.TooSlowError as exc:
        raise ConnectionLost(f"connect to {host}:{port} timed out") from exc
    except TRANSPORT_ERRORS as exc:
        raise ConnectionLost(f"connect to {host}:{port} failed: {exc!r}") from exc


async def bind(conn: SmppConnection, bind_pdu: Pdu, *, timeout: float | None = None) -> Pdu:
    """Send ``bind_pdu`` and return the OK response; raise :class:`BindFailed` otherwise."""
    if bind_pdu.command_id not in BIND_COMMANDS:
        raise ValueError(f"not a bind request: {type(bind_pdu).__name__}")
    try:
        response = await conn.request(bind_pdu, timeout=timeout)
    except NetError as exc:
        raise BindFailed(f"bind got no response: {exc}") from exc
    if response.command_id == CommandId.GENERIC_NACK:  # never binds, whatever its status
        raise BindFailed(
            f"bind answered by generic_nack, status {response.command_status:#x}",
            command_status=response.command_status or None,
        )
    if response.command_status != CommandStatus.ESME_ROK:
        raise BindFailed(
            f"bind refused with status {response.command_status:#x}",
            command_status=response.command_status,
        )
    return response


@attrs.frozen(kw_only=True)
class Backoff:
    """Exponential backoff with 'equal jitter': the n-th wait is uniformly drawn from
    ``[d/2, d]`` where ``d = min(maximum, initial * factor**n)``."""

    initial: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    maximum: float = 60.0
    factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))

    def __attrs_post_init__(self) -> None:
        # A zero delay would turn a server that refuses at once into a hot reconnect loop.
        if self.maximum < self.initial:
            raise ValueError(f"maximum {self.maximum} is below initial {self.initial}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class BindClient:
    """A bound ESME connection, or (with reconnect) the current one of a series."""

    def __init__(self, *, wait_timeout: float | None = None) -> None:
        self._conn: SmppConnection | None = None
        self._connected = trio.Event()
        self._binds = 0
        self._last_error: BaseException | None = None
        self._wait_timeout = wait_timeout  # request()'s wait for a connection
        self._final = False  # no further connection will come

    @property
    def connection(self) -> SmppConnection | None:
        """The current bound connection, if any."""
        conn = self._conn
        return conn if conn is not None and not conn.is_closed else None

    @property
    def binds(self) -> int:
        """How many successful binds this client made (reconnects included)."""
        return self._binds

    async def wait_connected(self, timeout: float | None = None) -> SmppConnection:
        """The current bound connection, waiting up to ``timeout`` seconds for one."""
        with trio.move_on_after(timeout if timeout is not None else float("inf")):
            while True:
                conn = self.connection
                if conn is not None:
                    return conn
                if self._final:
                    break
                await self._connected.wait()
        raise ConnectionLost(f"not bound ({self._last_error!r})")

    async def request(self, pdu: Pdu, *, timeout: float | None = None) -> Pdu:
        """:meth:`SmppConnection.request` on the current connection (waits for one up
        to the response timeout when reconnecting)."""
        conn = self.connection  # bound: no cancel scope per request
        if conn is None:
            conn = await self.wait_connected(timeout if timeout is not None else self._wait_timeout)
        return await conn.request(pdu, timeout=timeout)

    def _set(self, conn: SmppConnection | None) -> None:
        self._conn = conn
        if conn is not None:
            self._binds += 1
            self._connected.set()
        elif self._connected.is_set():
            self._connected = trio.Event()

    def _finish(self) -> None:
        """No further connection will come: wake every waiter to fail."""
        self._final = True
        self._connected.set()


async def _run_bound(
    client: BindClient,
    conn: SmppConnection,
    handler: Handler | None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    client._set(conn)
    task_status.started()
    try:
        async with trio.open_nursery() as nursery:
            if handler is not None:
                nursery.start_soon(handler, conn)
            await conn.wait_closed()
            nursery.cancel_scope.cancel()
    finally:
        client._set(None)


async def _maintain(
    client: BindClient,
    host: str,
    port: int,
    bind_pdu: Pdu,
    ssl_context: ssl.SSLContext | None,
    config: SessionConfig | None,
    handler: Handler | None,
    backoff: Backoff,
    rng: random.Random,
) -> None:
    attempt = 0
    while True:
        try:
            stream = await connect_smpp(host, port, ssl_context=ssl_context)
            async with open_smpp_connection(stream, Role.ESME, config) as conn:
                await bind(conn, bind_pdu)
                attempt = 0
                log.info("smpp.bound", host=host, port=port)
                await _run_bound(client, conn, handler)
            client._last_error = SessionClosed(conn.end_reason.value if conn.end_reason else "")
        except NetError as exc:
            client._last_error = exc
            log.warning("smpp.bind_lost", host=host, port=port, error=type(exc).__name__)
        delay = backoff.delay(attempt, rng)
        attempt += 1
        await trio.sleep(delay)


@asynccontextmanager
async def open_bind_client(
    host: str,
    port: int,
    bind_pdu: Pdu,
    *,
    ssl_context: ssl.SSLContext | None = None,
    config: SessionConfig | None = None,
    reconnect: bool = False,
    handler: Handler | None = None,
    backoff: Backoff | None = None,
    rng: random.Random | None = None,
) -> AsyncIterator[BindClient]:
    """Connect and bind as an ESME for the duration of the block.

    Without ``reconnect`` the connection and bind happen before the block starts (errors
    raise :class:`ConnectionLost` / :class:`BindFailed`) and a loss is final.  With
    ``reconnect=True`` the block starts at once and a background task keeps a bind up;
    use :meth:`BindClient.wait_connected` / :meth:`BindClient.request`.  ``handler(conn)``
    runs for each bound connection (to consume incoming deliver_sm, say) and is
    cancelled when that connection ends.  On exit the current bind is unbound.
    """
    client = BindClient(wait_timeout=(config or SessionConfig()).response_timeout)
    try:
        async with trio.open_nursery() as nursery:
            if reconnect:
                nursery.start_soon(
                    _maintain,
                    client,
                    host,
                    port,
                    bind_pdu,
                    ssl_context,
                    config,
                    handler,
                    backoff or Backoff(),
                    rng or random.Random(),
                )
                try:
                    yield client
                finally:
                    client._finish()
                    nursery.cancel_scope.cancel()
            else:
                stream = await connect_smpp(host, port, ssl_context=ssl_context)
                async with open_smpp_connection(stream, Role.ESME, config) as conn:
                    await bind(conn, bind_pdu)

                    async def run_once(task_status: trio.TaskStatus[None]) -> None:
                        try:
                            await _run_bound(client, conn, handler, task_status=task_status)
                        finally:
                            client._finish()  # a loss is final

                    await nursery.start(run_once)
                    yield client
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise unwrap_exception_group(group) from None
