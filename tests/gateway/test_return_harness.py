"""Shared pieces of the return-path tests (no tests here).

* :func:`make_config`: accounts, one operator connector, keywords;
* :func:`running_gateway`: a SQLite store in a temp dir, a :class:`Gateway`, a minimal
  client-facing listener (real TCP on 127.0.0.1, port 0) that registers binds in the
  gateway's :class:`BindRegistry`, and the gateway's one :class:`ReturnPath`, running;
* :func:`deliver`: one operator PDU through the return path, its status back;
* :func:`receive_with_smpplib`: a real third-party ESME (smpplib, in a thread) that binds
  as a receiver and collects deliver_sm, answering with the statuses it is given.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import smpplib.client
import trio

from smppcore.config.model import (
    AccountConfig,
    Config,
    ConnectorConfig,
    DaemonConfig,
    KeywordSet,
    PolicyConfig,
)
from smppcore.config.values import HostPort, NumberPattern
from smppcore.gateway.binds import BindType
from smppcore.gateway.context import Gateway, build_gateway
from smppcore.gateway.delivery import DeliveryPolicy
from smppcore.gateway.returnpath import ReturnPath, ReturnPathOptions
from smppcore.metrics import Metrics
from smppcore.net.connection import SmppConnection
from smppcore.net.errors import NetError
from smppcore.net.server import listener_port, serve_smpp
from smppcore.protocol.pdu import BindReceiver, BindTransceiver, BindTransmitter, Pdu
from smppcore.store.base import IdMapEntry, MtMessage, MtState, Store
from smppcore.store.sqlite import open_sqlite_store

SECRET = b"return-path-test-secret-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_missing() -> str | None:
    try:
        import smppcore.store.redis  # noqa: F401

        with socket.create_connection(("127.0.0.1", 6379), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(64).startswith(b"+PONG"):
                return "no Redis answering PING on 127.0.0.1:6379"
    except Exception as exc:
        return f"no usable Redis: {exc!r}"
    return None


_REDIS_MISSING = _redis_missing()
_REQUIRE_REDIS = os.environ.get("SMPPCORE_REQUIRE_REDIS") == "1"
#: Parametrise a test over the stores: ``@pytest.mark.parametrize("backend", BACKENDS)``, and
#: take the ``backend_prefix`` fixture (import ``backend_prefix_fixture`` into the module).
BACKENDS = [
    "sqlite",
    pytest.param(
        "redis",
        marks=[pytest.mark.redis]
        + (
            [pytest.mark.skip(reason=_REDIS_MISSING)]
            if _REDIS_MISSING and not _REQUIRE_REDIS
            else []
        ),
    ),
]


@pytest.fixture(name="backend_prefix")
def backend_prefix_fixture(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite; for Redis a key prefix of this test's own, deleted afterwards."""
    if request.node.callspec.params.get("backend") != "redis":
        yield None
        return
    prefix = f"smppcore-rp-test:{uuid.uuid4().hex}:"
    yield prefix
    import redis

    client: Any = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


CONNECTOR = "op"
FAST = DeliveryPolicy(backoff_min=0.05, backoff_max=0.2, poll_interval=0.05, lease_seconds=30)


def account(
    system_id: str, *numbers: str, receipt_mode: str = "final", temporary: bool = False
) -> AccountConfig:
    return AccountConfig(
        system_id=system_id,
        password_hash="unused-in-these-tests",
        source_numbers=tuple(NumberPattern.from_config(n) for n in numbers),
        receipt_mode=receipt_mode,  # type: ignore[arg-type]
        temporary=temporary,
    )


def make_config(
    tmp_path: Path,
    accounts: Sequence[AccountConfig] = (),
    *,
    confirmation_text: str | None = None,
) -> Config:
    if not accounts:
        accounts = (account("alpha", "27600000001-27600000099"),)
    keywords = {"default": KeywordSet(confirmation_text=confirmation_text)}
    return Config(
        daemon=DaemonConfig(data_dir=tmp_path),
        accounts=tuple(accounts),
        connectors=(
            ConnectorConfig(
                name=CONNECTOR,
                hosts=(HostPort("127.0.0.1", 1),),
                system_id="gw",
                password="x",
            ),
        ),
        policy=PolicyConfig(default_country="ZA", keywords=keywords),
    )


_BIND_TYPES: dict[type[Pdu], BindType] = {
    BindReceiver: BindType.RECEIVER,
    BindTransceiver: BindType.TRANSCEIVER,
    BindTransmitter: BindType.TRANSMITTER,
}


def client_handler(gateway: Gateway) -> Callable[[SmppConnection], Any]:
    """A stand-in for the client listener: accept any bind, register it, answer the rest."""

    async def handler(conn: SmppConnection) -> None:
        bind = None
        try:
            async for request in conn:
                bind_type = _BIND_TYPES.get(type(request))
                if bind_type is not None and isinstance(
                    request, BindReceiver | BindTransceiver | BindTransmitter
                ):
                    await conn.respond(request, request.response(system_id="gw"))
                    bind = gateway.binds.add(request.system_id, bind_type, conn, "test")
                elif type(request).response_class is not None:
                    await conn.respond(request, request.response())
        except NetError:
            pass
        finally:
            if bind is not None:
                gateway.binds.remove(bind)

    return handler


@attrs.define
class Running:
    gateway: Gateway
    port: int
    nursery: trio.Nursery
    return_path: ReturnPath


NODE = "test-node"


@asynccontextmanager
async def running_gateway(
    config: Config,
    db: Path,
    *,
    policy: DeliveryPolicy = FAST,
    options: ReturnPathOptions | None = None,
    deliveries: bool = True,
    redis_prefix: str | None = None,
) -> AsyncIterator[Running]:
    """``redis_prefix``: use the Redis store (tests' server, database 15) under that prefix
    instead of SQLite at ``db``. ``options`` (else defaults with ``policy``) configure the
    return path; with ``deliveries=False`` it is built but not run (nothing is delivered to
    clients, nothing retried)."""
    async with AsyncExitStack() as stack:
        store: Store
        if redis_prefix is not None:
            from smppcore.store.redis import open_redis_store

            store = await stack.enter_async_context(
                open_redis_store(REDIS_URL, hash_secret=SECRET, key_prefix=redis_prefix)
            )
        else:
            store = await stack.enter_async_context(
                open_sqlite_store(db, hash_secret=SECRET, synchronous="NORMAL")
            )
        gateway = build_gateway(config, store, Metrics(), {})
        return_path = ReturnPath(
            gateway, options or ReturnPathOptions(delivery=policy), node_id=NODE
        )
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(serve_smpp, client_handler(gateway), "127.0.0.1", 0)
            if deliveries:
                await nursery.start(return_path.run)
            yield Running(gateway, listener_port(listeners), nursery, return_path)
            nursery.cancel_scope.cancel()


async def deliver(return_path: ReturnPath, pdu: Pdu, connector: str = CONNECTOR) -> int:
    """``pdu`` from the operator ``connector`` through the return path; its status."""
    (status,) = await return_path.operator_deliver(connector, [pdu])
    return status


async def put_message(
    gateway: Gateway,
    message_id: str,
    *,
    account_name: str = "alpha",
    source: str = "27600000001",
    destination: str = "27821234567",
    registered_delivery: int = 1,
    upstream_ids: Sequence[str] = (),
) -> MtMessage:
    """A submitted message (ENROUTE) with an id map per upstream id (one per segment)."""
    now = gateway.clock()
    message = MtMessage(
        id=message_id,
        account=account_name,
        connector=CONNECTOR,
        source_addr=source,
        destination_addr=destination,
        registered_delivery=registered_delivery,
        payload=b"hello",
        submitted_at=now - 5,
        expires_at=now + 3600,
        state=MtState.ENROUTE,
    )
    await gateway.store.enqueue_mt([message])
    total = len(upstream_ids)
    await gateway.store.put_id_maps(
        [
            IdMapEntry(CONNECTOR, up, message_id, account_name, i + 1, total, now + 3600)
            for i, up in enumerate(upstream_ids)
        ]
    )
    return message


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


@attrs.frozen
class Received:
    """One deliver_sm as smpplib decoded it, and the status the client answered."""

    status: int
    source_addr: str | None
    destination_addr: str | None
    esm_class: int
    short_message: bytes
    receipted_message_id: str | None
    message_state: int | None
    message_payload: bytes | None
    data_coding: int

    @property
    def text(self) -> str:
        return (self.message_payload or self.short_message).decode("latin-1")


def _smpplib_receive(
    port: int, system_id: str, count: int, statuses: list[int], deadline: float
) -> list[Received]:
    received: list[Received] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = smpplib.client.Client(
            "127.0.0.1", port, timeout=0.2, allow_unknown_opt_params=True
        )

    def on_message(pdu: Any) -> int:
        status = statuses.pop(0) if statuses else 0
        payload = getattr(pdu, "message_payload", None)
        received.append(
            Received(
                status=status,
                source_addr=_text(pdu.source_addr),
                destination_addr=_text(pdu.destination_addr),
                esm_class=int(pdu.esm_class),
                short_message=bytes(pdu.short_message or b""),
                receipted_message_id=_text(getattr(pdu, "receipted_message_id", None)),
                message_state=getattr(pdu, "message_state", None),
                message_payload=payload.encode("latin-1") if isinstance(payload, str) else payload,
                data_coding=int(pdu.data_coding),
            )
        )
        return status

    client.set_message_received_handler(on_message)
    client.connect()
    try:
        client.bind_receiver(system_id=system_id, password="pw")
        while sum(1 for r in received if r.status == 0) < count and time.monotonic() < deadline:
            _read(client)
        try:
            client.unbind()
        except Exception:  # a late deliver_sm instead of unbind_resp: just disconnect
            pass
    finally:
        client.disconnect()
    return received


def _read(client: Any) -> None:
    try:
        pdu = client.read_pdu()
    except TimeoutError:
        return
    if pdu.command == "deliver_sm":
        client._message_received(pdu)
    elif pdu.command == "enquire_link":
        client._enquire_link_received(pdu)


async def receive_with_smpplib(
    port: int,
    system_id: str,
    count: int,
    *,
    statuses: Sequence[int] = (),
    timeout: float = 10.0,
) -> list[Received]:
    """Bind as ``system_id`` (receiver) and collect deliver_sm until ``count`` were accepted
    (answered 0) or ``timeout`` passes; answer the first ones with ``statuses``."""
    deadline = time.monotonic() + timeout
    return await trio.to_thread.run_sync(
        _smpplib_receive, port, system_id, count, list(statuses), deadline
    )
