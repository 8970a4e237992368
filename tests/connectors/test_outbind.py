"""Outbind: the operator's SMSC connects to us, we bind as a receiver on that connection and
take its deliver_sm; wrong credentials or another first PDU are refused by closing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from smppcore.config.values import HostPort
from smppcore.net.connection import SmppConnection, open_smpp_connection
from smppcore.net.server import listener_port, serve_smpp
from smppcore.net.testing import SmscResponder
from smppcore.protocol.pdu import BindReceiver, DeliverSm, EnquireLink, Outbind
from smppcore.protocol.session_events import SessionConfig
from smppcore.protocol.states import Role

from .helpers import (
    NAME,
    SYSTEM_ID,
    RecordingSink,
    connector_config,
    open_store,
    running_connector,
    running_simulator,
    wait_for,
)

SMSC_ID = "opsmsc"
OUTBIND_PASSWORD = "obpass"


@asynccontextmanager
async def smsc_side(port: int) -> AsyncIterator[SmppConnection]:
    """The SMSC's end of an outbind connection to our listener."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with open_smpp_connection(stream, Role.SMSC, SessionConfig()) as conn:
        yield conn


def _config(port: int, **changes: object) -> object:
    return connector_config(
        [port], outbind_listen=HostPort("127.0.0.1", 0), outbind_password=OUTBIND_PASSWORD,
        outbind_system_id=SMSC_ID, **changes,
    )  # fmt: skip


async def test_an_outbind_is_bound_as_receiver_and_its_deliveries_reach_the_sink(
    tmp_path: Path,
) -> None:
    sink = RecordingSink()
    with trio.fail_after(20):
        async with open_store(tmp_path) as store, trio.open_nursery() as nursery:
            port = listener_port(await nursery.start(serve_smpp, SmscResponder(), "127.0.0.1", 0))
            async with running_connector(_config(port), store, sink) as connector:  # type: ignore[arg-type]
                assert connector.outbind is not None
                async with smsc_side(connector.outbind.port) as conn:
                    await conn.send(Outbind(system_id=SMSC_ID, password=OUTBIND_PASSWORD))
                    request = await conn.receive_request()
                    assert isinstance(request, BindReceiver)
                    assert request.system_id == SYSTEM_ID
                    await conn.respond(request, request.response(system_id=SMSC_ID))
                    mo = DeliverSm(
                        source_addr="447700900123", destination_addr="447700900000",
                        short_message=b"hello",
                    )  # fmt: skip
                    response = await conn.request(mo)
                    assert response.command_status == 0
                    assert connector.outbind.bound == 1
                    assert (await conn.request(EnquireLink())).command_status == 0
            nursery.cancel_scope.cancel()
    assert [(name, pdu.short_message) for name, pdu in sink.delivered] == [(NAME, b"hello")]


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (Outbind(system_id=SMSC_ID, password="wrong"), "credentials"),
        (Outbind(system_id="someone", password=OUTBIND_PASSWORD), "credentials"),
    ],
)
async def test_a_bad_outbind_is_refused_by_closing(
    tmp_path: Path, first: Outbind, reason: str
) -> None:
    sink = RecordingSink()
    with trio.fail_after(20):
        async with open_store(tmp_path) as store, trio.open_nursery() as nursery:
            port = listener_port(await nursery.start(serve_smpp, SmscResponder(), "127.0.0.1", 0))
            async with running_connector(_config(port), store, sink) as connector:  # type: ignore[arg-type]
                assert connector.outbind is not None
                async with smsc_side(connector.outbind.port) as conn:
                    await conn.send(first)
                    await conn.wait_closed()
                assert connector.outbind.refused == {reason: 1}
                assert connector.outbind.bound == 0
            nursery.cancel_scope.cancel()
    assert sink.delivered == []


async def test_the_simulators_outbind_binds_and_delivers_through_the_connector(
    tmp_path: Path,
) -> None:
    """Our simulator as the operator: it outbinds to the connector's listener (which binds
    with the connector's own account) and a handset reply comes in over the connector."""
    sink = RecordingSink()
    with trio.fail_after(20):
        async with open_store(tmp_path) as store, running_simulator() as sim:
            config = _config(sim.port)
            async with running_connector(config, store, sink) as connector:  # type: ignore[arg-type]
                assert connector.outbind is not None
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(
                        sim.outbind, "127.0.0.1", connector.outbind.port, SMSC_ID,
                        OUTBIND_PASSWORD,
                    )  # fmt: skip
                    await wait_for(
                        lambda: connector.outbind is not None and connector.outbind.bound == 1
                    )
                    sim.inject_mo("447700900123", "447700900000", "reply via outbind")
                    await wait_for(lambda: len(sink.delivered) == 1)
                    nursery.cancel_scope.cancel()
    ((name, pdu),) = sink.delivered
    assert name == NAME and isinstance(pdu, DeliverSm)
