"""The freeze fault: connections stay open, the simulator reads but writes nothing."""

from __future__ import annotations

import attrs
import pytest
import trio

from connectors.simulator import Faults
from smppcore.net.client import open_bind_client
from smppcore.net.connection import SmppConnection
from smppcore.net.errors import BindFailed, RequestTimeout
from smppcore.protocol.enums import CommandId
from smppcore.protocol.pdu import BindTransceiver, DeliverSm, EnquireLink, SubmitSm
from smppcore.protocol.session_events import SessionConfig
from tests.net.helpers import RawPeer

from .helpers import HANDSET, PASSWORD, SENDER, SYSTEM_ID, http, running_simulator

_BIND = BindTransceiver(system_id=SYSTEM_ID, password=PASSWORD)


class _Receiver:
    def __init__(self) -> None:
        self.delivered: list[DeliverSm] = []

    async def __call__(self, conn: SmppConnection) -> None:
        async for request in conn:
            if isinstance(request, DeliverSm):
                self.delivered.append(request)
            await conn.respond(request, request.response())


def _submit(text: str) -> SubmitSm:
    return SubmitSm(source_addr=SENDER, destination_addr=HANDSET, short_message=text.encode())


async def test_frozen_writes_nothing_on_the_wire_and_keeps_the_connection() -> None:
    """A raw peer: while frozen, neither submit_sm_resp nor enquire_link_resp comes back and
    the connection stays open; after the thaw only the new requests are answered."""
    with trio.fail_after(20):
        async with running_simulator() as sim:
            peer = RawPeer(await trio.open_tcp_stream("127.0.0.1", sim.port))
            await peer.send(attrs.evolve(_BIND, sequence_number=1))
            bound = await peer.read()
            assert bound is not None and bound.command_status == 0
            sim.set_faults(freeze=True)
            await peer.send(attrs.evolve(_submit("frozen"), sequence_number=2))
            await peer.send(EnquireLink(sequence_number=3))
            await sim.wait_for_submits(1)  # read, and not answered:
            with trio.move_on_after(0.3) as quiet:
                await peer.read()
            assert quiet.cancelled_caught
            sim.set_faults(freeze=False)
            await peer.send(EnquireLink(sequence_number=4))
            await peer.send(attrs.evolve(_submit("thawed"), sequence_number=5))
            answers = [await peer.read(), await peer.read()]
            assert [(a.command_id, a.sequence_number) for a in answers if a] == [
                (CommandId.ENQUIRE_LINK_RESP, 4),
                (CommandId.SUBMIT_SM_RESP, 5),
            ]
            assert [m.text for m in sim.messages(HANDSET)] == ["thawed"]
            await peer.stream.aclose()


async def test_freeze_then_thaw_with_our_client() -> None:
    receiver = _Receiver()
    with trio.fail_after(20):
        async with running_simulator() as sim:
            async with open_bind_client("127.0.0.1", sim.port, _BIND, handler=receiver) as client:
                conn = await client.wait_connected()
                assert (await client.request(_submit("before"))).command_status == 0
                sim.set_faults(freeze=True)
                sim.inject_mo(HANDSET, SENDER, "while frozen")
                with pytest.raises(RequestTimeout):
                    await client.request(_submit("frozen"), timeout=0.3)
                await sim.wait_for_submits(2)  # the frozen submit was read
                assert receiver.delivered == []  # the MO waits for the thaw
                stats = sim.stats()
                assert stats.submits_frozen == 1 and stats.submits == {"ESME_ROK": 1}

                status, body = await trio.to_thread.run_sync(
                    http, sim.control_port, "POST", "/faults", {"freeze": False}
                )
                assert status == 200 and body["freeze"] is False
                assert (await client.request(_submit("after"))).command_status == 0
                await sim.wait_for_replies(1)
                assert [d.short_message for d in receiver.delivered] == [b"while frozen"]
                # The frozen submit's answer never came, not even late.
                assert conn.statistics().unexpected_responses == 0
                assert client.binds == 1 and not conn.is_closed
            assert [m.text for m in sim.messages(HANDSET)] == ["before", "after"]
            stats = sim.stats()
            assert stats.submits == {"ESME_ROK": 2}
            assert stats.submits_frozen == 1 and stats.submits_received == 3
            assert stats.binds == {"transceiver": 1}


async def test_a_bind_while_frozen_does_not_bind() -> None:
    quick = SessionConfig(response_timeout=0.3)
    with trio.fail_after(20):
        async with running_simulator(faults=Faults(freeze=True)) as sim:
            with pytest.raises(BindFailed):
                async with open_bind_client("127.0.0.1", sim.port, _BIND, config=quick):
                    pass
            assert sim.stats().binds == {} and sim.stats().sessions_bound == 0
            sim.set_faults(freeze=False)
            async with open_bind_client("127.0.0.1", sim.port, _BIND) as client:
                assert (await client.request(_submit("thawed"))).command_status == 0
            assert sim.stats().binds == {"transceiver": 1}
