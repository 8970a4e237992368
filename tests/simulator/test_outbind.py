"""Outbind: the simulator connects to an ESME, sends outbind, and serves the bind that the
ESME sends back on that connection (reference §2.2.1, §4.1.7)."""

from __future__ import annotations

import socket
from functools import partial

import pytest
import trio

from smppcore.net.client import bind, open_bind_client
from smppcore.net.connection import SmppConnection
from smppcore.net.errors import ConnectionLost
from smppcore.net.server import listener_port, serve_smpp
from smppcore.protocol.pdu import (
    BindReceiver,
    BindTransmitter,
    DeliverSm,
    Outbind,
    Pdu,
    SubmitSm,
)
from smppcore.protocol.receipt import parse_receipt
from smppcore.protocol.states import Role

from .helpers import HANDSET, PASSWORD, SENDER, SYSTEM_ID, running_simulator


class _OutbindEsme:
    """The ESME side: accepts the simulator's connection, reads the outbind, binds as a
    receiver on that connection and answers every deliver_sm."""

    def __init__(self) -> None:
        self.outbinds: list[Pdu] = []
        self.delivered: list[DeliverSm] = []
        self.bound = trio.Event()

    async def __call__(self, conn: SmppConnection) -> None:
        self.outbinds.append(await conn.receive_request())
        await bind(conn, BindReceiver(system_id=SYSTEM_ID, password=PASSWORD))
        self.bound.set()
        async for request in conn:
            if isinstance(request, DeliverSm):
                self.delivered.append(request)
            await conn.respond(request, request.response())


async def test_outbind_then_receipts_and_mo_over_it() -> None:
    esme = _OutbindEsme()
    with trio.fail_after(20):
        async with running_simulator() as sim, trio.open_nursery() as nursery:
            listeners = await nursery.start(
                partial(serve_smpp, esme, "127.0.0.1", 0, role=Role.ESME)
            )
            nursery.start_soon(sim.outbind, "127.0.0.1", listener_port(listeners), "esme1", "pw")
            await esme.bound.wait()
            (outbind,) = esme.outbinds
            assert isinstance(outbind, Outbind)
            assert (outbind.system_id, outbind.password) == ("esme1", "pw")
            assert sim.stats().binds == {"receiver": 1}

            # A message submitted on another bind: its receipt comes over the outbind session.
            transmitter = BindTransmitter(system_id=SYSTEM_ID, password=PASSWORD)
            async with open_bind_client("127.0.0.1", sim.port, transmitter) as client:
                submit = SubmitSm(
                    source_addr=SENDER,
                    destination_addr=HANDSET,
                    registered_delivery=1,
                    short_message=b"over outbind",
                )
                response = await client.request(submit)
            await sim.wait_for_receipts(1)
            sim.inject_mo(HANDSET, SENDER, "reply")
            await sim.wait_for_replies(1)

            receipt, reply = esme.delivered
            assert receipt.esm_class == 0x04
            receipted = parse_receipt(receipt.short_message.decode()).message_id
            assert receipted == getattr(response, "message_id", None)
            assert (reply.source_addr, reply.short_message) == (HANDSET, b"reply")
            assert sim.stats().binds == {"receiver": 1, "transmitter": 1}
            nursery.cancel_scope.cancel()


async def test_outbind_to_nobody_raises_connection_lost() -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with trio.fail_after(20):
        async with running_simulator() as sim:
            with pytest.raises(ConnectionLost):
                await sim.outbind("127.0.0.1", port, "esme1", "pw", connect_timeout=5.0)
