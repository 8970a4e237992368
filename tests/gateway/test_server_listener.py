"""``serve_clients`` on ``serve_smpp``: TLS listeners, the connection cap, and the client's
real address reaching the allow-list and the bind registry."""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing
import trustme

from smppcore.config.model import ListenerConfig
from smppcore.config.values import Cidr
from smppcore.gateway.context import Gateway, build_gateway
from smppcore.gateway.server import serve_clients
from smppcore.metrics import Metrics
from smppcore.net.client import open_bind_client
from smppcore.net.errors import NetError
from smppcore.protocol.pdu import BindTransceiver
from smppcore.store.sqlite import open_sqlite_store

from .mt_harness import PASSWORD, Clock, account, make_config

LOCAL = account("local", "27600000600", allowed_ips=(Cidr.from_config("127.0.0.1/32"),))
BIND_LOCAL = BindTransceiver(system_id="local", password=PASSWORD)


@asynccontextmanager
async def serving(tmp_path: Path, listener: ListenerConfig) -> AsyncIterator[tuple[Gateway, int]]:
    async with open_sqlite_store(tmp_path / "gw.sqlite3", hash_secret=b"k" * 32) as store:
        gateway = build_gateway(make_config(LOCAL), store, Metrics(), {}, clock=Clock())
        async with trio.open_nursery() as nursery:
            port = await nursery.start(functools.partial(serve_clients, gateway, listener, port=0))
            yield gateway, port
            nursery.cancel_scope.cancel()


def _tls_files(tmp_path: Path) -> tuple[Path, Path, ssl.SSLContext]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(b"".join(pem.bytes() for pem in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key_path))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return cert_path, key_path, client


async def test_tls_listener_binds_with_the_client_address(tmp_path: Path) -> None:
    cert, key, client_ctx = _tls_files(tmp_path)
    listener = ListenerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key)
    with trio.fail_after(20):
        async with serving(tmp_path, listener) as (gateway, port):
            async with open_bind_client("127.0.0.1", port, BIND_LOCAL, ssl_context=client_ctx):
                (registered,) = list(gateway.binds)
                assert registered.account == "local"
                host, _, peer_port = registered.peer.rpartition(":")
                assert host == "127.0.0.1" and int(peer_port) not in (0, port)
            # Plain SMPP to a TLS listener gets nowhere.
            with pytest.raises(NetError):
                async with open_bind_client("127.0.0.1", port, BIND_LOCAL):
                    pass  # pragma: no cover


async def test_connections_beyond_the_cap_are_closed(tmp_path: Path) -> None:
    listener = ListenerConfig(host="127.0.0.1", port=0, max_connections=1)
    with trio.fail_after(20):
        async with serving(tmp_path, listener) as (gateway, port):
            async with open_bind_client("127.0.0.1", port, BIND_LOCAL):
                extra = await trio.open_tcp_stream("127.0.0.1", port)
                assert await extra.receive_some(100) == b""  # closed at once
                await extra.aclose()
                (first,) = list(gateway.binds)
            # The slot frees once the server has finished with the first connection.
            await first.connection.wait_closed()
            await trio.testing.wait_all_tasks_blocked()
            assert gateway.binds.count("local") == 0
            async with open_bind_client("127.0.0.1", port, BIND_LOCAL):
                assert gateway.binds.count("local") == 1
