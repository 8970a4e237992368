"""The in-process gateway the MT/auth/server tests drive: SQLite store in tmp_path, fresh
metrics, ``serve_clients`` on 127.0.0.1 port 0; clients are smpplib (sync, in a thread) or our
own ESME-role connection for the PDUs smpplib lacks (submit_multi, cancel_sm, replace_sm)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import smpplib.client
import smpplib.smpp
import trio

from smppcore.config.model import (
    AccountConfig,
    Config,
    ListenerConfig,
    RouteConfig,
)
from smppcore.config.values import Cidr, NumberPattern, RouteTarget
from smppcore.gateway.context import Gateway, build_gateway
from smppcore.gateway.server import serve_clients
from smppcore.metrics import Metrics
from smppcore.net.client import bind, connect_smpp
from smppcore.net.connection import SmppConnection, open_smpp_connection
from smppcore.passwords import hash_password
from smppcore.protocol.pdu import BindTransceiver
from smppcore.protocol.states import Role
from smppcore.store.sqlite import open_sqlite_store

PASSWORD = "s3cretpw"
#: Cheap scrypt for tests (the cost parameter is part of the hash string).
_HASH = hash_password(PASSWORD, n=2**4, r=1, p=1)
FIXED_LINE = "27211234567"  # Cape Town fixed line: valid, not reply-capable
LISTENER = ListenerConfig(host="127.0.0.1", port=0, window=16)


def account(system_id: str, *numbers: str, **kw: Any) -> AccountConfig:
    return AccountConfig(
        system_id=system_id,
        password_hash=_HASH,
        source_numbers=tuple(NumberPattern.from_config(n) for n in numbers),
        **kw,
    )


def make_config(*extra: AccountConfig, **kw: Any) -> Config:
    accounts = (
        account("acme", "27600000000-27600000099", FIXED_LINE),
        account("other", "27600000100-27600000199"),
        account("lan", "27600000200", allowed_ips=(Cidr.from_config("10.0.0.0/8"),)),
        *extra,
    )
    routes = (RouteConfig(connectors=(RouteTarget("sim"),), prefix="27"),)
    return Config(accounts=accounts, routes=routes, listeners=(LISTENER,), **kw)


class Clock:
    """Injected wall clock: tests move time by hand."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def running_gateway(
    tmp_path: Path,
    config: Config | None = None,
    *,
    clock: Callable[[], float] | None = None,
    connectors: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[Gateway, int]]:
    config = config or make_config()
    async with open_sqlite_store(tmp_path / "gw.sqlite3", hash_secret=b"k" * 32) as store:
        gateway = build_gateway(config, store, Metrics(), connectors or {}, clock=clock or Clock())
        async with trio.open_nursery() as nursery:
            port = await nursery.start(functools.partial(serve_clients, gateway, LISTENER, port=0))
            yield gateway, port
            nursery.cancel_scope.cancel()


def rejected(gateway: Gateway, account_name: str, reason: str) -> float:
    value = gateway.metrics.registry.get_sample_value(
        "smppcore_submits_total",
        {"account": account_name, "result": "rejected", "reason": reason},
    )
    return value or 0.0


def accepted(gateway: Gateway, account_name: str) -> float:
    value = gateway.metrics.registry.get_sample_value(
        "smppcore_submits_total", {"account": account_name, "result": "accepted", "reason": ""}
    )
    return value or 0.0


def smpplib_client(port: int) -> smpplib.client.Client:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    return client


def request(client: smpplib.client.Client, command: str, **fields: Any) -> Any:
    """Send one request with smpplib and read its response (sync)."""
    pdu = smpplib.smpp.make_pdu(command, client=client, **fields)
    client.send_pdu(pdu)
    while True:
        resp = client.read_pdu()
        if resp.command != "enquire_link":
            return resp


def submit(client: smpplib.client.Client, source: str, destination: str, **kw: Any) -> Any:
    fields: dict[str, Any] = {
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "source_addr": source,
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": destination,
        "short_message": b"hello",
    }
    fields.update(kw)
    return request(client, "submit_sm", **fields)


@asynccontextmanager
async def esme(
    port: int, system_id: str = "acme", password: str = PASSWORD
) -> AsyncIterator[SmppConnection]:
    """Our own ESME-role connection, bound as transceiver."""
    stream = await connect_smpp("127.0.0.1", port)
    async with open_smpp_connection(stream, Role.ESME) as conn:
        await bind(conn, BindTransceiver(system_id=system_id, password=password))
        yield conn


def message_id_of(resp: Any) -> str:
    raw = getattr(resp, "message_id", b"") or b""
    return raw.decode() if isinstance(raw, bytes) else str(raw)
