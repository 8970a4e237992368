"""The operator bind's intake is pipelined: deliver_sm responses may leave out of order, each
only once the sink returned for its batch (the item is durable), at most ``intake_window``
deliveries are with the sink at once, and a failing sink answers ESME_RX_T_APPN without
taking the bind down.

The connector binds to a peer SMSC of our own (``serve_smpp`` on loopback TCP) that sends
deliver_sm on tasks of their own and records when each response arrives; the sink holds the
batches the test chooses. Sink and peer write to one timeline, so the order of "the sink
returned" and "the response arrived" is the order in which they happened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from connectors.smpp_operator import SmppOperatorConnector
from smppcore.net.connection import SmppConnection
from smppcore.net.errors import NetError
from smppcore.net.server import listener_port, serve_smpp
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.pdu import DeliverSm, EnquireLink, Pdu
from smppcore.protocol.states import BIND_COMMANDS

from .helpers import RecordingSink, connector_config, open_store, running_connector

Timeline = list[tuple[str, str]]  # (what, text): "called", "returned", "raised", "response"


def text_of(pdu: Pdu) -> str:
    assert isinstance(pdu, DeliverSm)
    return pdu.short_message.decode("ascii")


@attrs.define
class GatedSink(RecordingSink):
    """A sink that holds every batch containing a text of ``gates`` until its event is set,
    and raises for a batch containing a text of ``raise_for``; notes each step in
    ``timeline``."""

    gates: dict[str, trio.Event] = attrs.field(factory=dict)
    raise_for: set[str] = attrs.field(factory=set)
    timeline: Timeline = attrs.field(factory=list)
    changed: trio.Event = attrs.field(factory=trio.Event)

    def note(self, what: str, texts: Sequence[str]) -> None:
        self.timeline.extend((what, text) for text in texts)
        self.changed.set()
        self.changed = trio.Event()

    async def operator_deliver(self, connector: str, pdus: Sequence[Any]) -> list[int]:
        texts = [text_of(pdu) for pdu in pdus]
        self.note("called", texts)
        for text in texts:
            if text in self.gates:
                await self.gates[text].wait()
        if self.raise_for.intersection(texts):
            self.note("raised", texts)
            raise RuntimeError("the store is down")
        self.delivered.extend((connector, pdu) for pdu in pdus)
        self.batches.append(len(pdus))
        self.note("returned", texts)
        return [0] * len(pdus)

    async def wait_called(self, text: str) -> None:
        while ("called", text) not in self.timeline:
            await self.changed.wait()


@attrs.define
class PeerSmsc:
    """Accepts the connector's bind, answers whatever else it sends, and sends deliver_sm."""

    timeline: Timeline
    statuses: dict[str, int] = attrs.field(factory=dict)
    conn: SmppConnection | None = None
    bound: trio.Event = attrs.field(factory=trio.Event)
    responded: trio.Event = attrs.field(factory=trio.Event)

    async def __call__(self, conn: SmppConnection) -> None:
        try:
            async for request in conn:
                if type(request).response_class is None:
                    continue
                if request.command_id in BIND_COMMANDS:
                    await conn.respond(request, request.response(system_id="peer"))
                    self.conn = conn
                    self.bound.set()
                else:
                    await conn.respond(request, request.response())
        except NetError:
            pass

    async def deliver(self, text: str) -> None:
        """Send one deliver_sm and note its response (run it on a task of its own)."""
        assert self.conn is not None
        pdu = DeliverSm(
            source_addr_ton=1, source_addr_npi=1, source_addr="447700900001",
            dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900000",
            short_message=text.encode("ascii"),
        )  # fmt: skip
        response = await self.conn.request(pdu)
        self.statuses[text] = response.command_status
        self.timeline.append(("response", text))
        self.responded.set()
        self.responded = trio.Event()

    async def wait_response(self, text: str) -> None:
        while text not in self.statuses:
            await self.responded.wait()

    async def settle(self) -> None:
        """Every deliver_sm sent so far has been read by the connector (an enquire_link
        sent after them is answered) and the connector has done what it will with them."""
        assert self.conn is not None
        await self.conn.request(EnquireLink())
        await trio.testing.wait_all_tasks_blocked(cushion=0.01)


@asynccontextmanager
async def peer_and_connector(
    tmp_path: Path, sink: GatedSink, **options: Any
) -> AsyncIterator[tuple[PeerSmsc, SmppOperatorConnector, trio.Nursery]]:
    """The peer SMSC listening, the connector bound to it, and a nursery for deliveries."""
    peer = PeerSmsc(sink.timeline)
    async with trio.open_nursery() as outer:
        listeners = await outer.start(serve_smpp, peer, "127.0.0.1", 0)
        config = connector_config([listener_port(listeners)], binds=1, options=options)
        async with open_store(tmp_path) as store, running_connector(config, store, sink) as c:
            await peer.bound.wait()
            async with trio.open_nursery() as deliveries:
                yield peer, c, deliveries
        outer.cancel_scope.cancel()


def at(timeline: Timeline, what: str, text: str) -> int:
    return timeline.index((what, text))


async def test_responses_go_out_of_order_each_after_its_batch_is_durable(
    tmp_path: Path,
) -> None:
    held = {text: trio.Event() for text in ("A", "B", "C")}
    sink = GatedSink(gates=held)
    timeline = sink.timeline
    with trio.fail_after(15):
        async with peer_and_connector(tmp_path, sink, intake_window=3) as (peer, connector, n):
            # A is held by the sink; X, sent after it, is answered while A still is not.
            n.start_soon(peer.deliver, "A")
            await sink.wait_called("A")
            n.start_soon(peer.deliver, "X")
            await peer.wait_response("X")
            assert "A" not in peer.statuses

            # B and C held too: the intake window (3) is full.
            for text in ("B", "C"):
                n.start_soon(peer.deliver, text)
                await sink.wait_called(text)
            n.start_soon(peer.deliver, "D")
            await peer.settle()
            assert ("called", "D") not in timeline  # read, but not handed to the sink
            assert set(peer.statuses) == {"X"}

            # A's batch finishes: its response goes, and D gets A's room.
            held["A"].set()
            await peer.wait_response("D")
            assert not ({"B", "C"} & set(peer.statuses))
            held["B"].set()
            held["C"].set()
            await peer.wait_response("B")
            await peer.wait_response("C")
            assert connector.intake.batches == 5
    assert peer.statuses == dict.fromkeys("ABCDX", 0)
    responses = [text for what, text in timeline if what == "response"]
    assert responses.index("X") < responses.index("A")  # out of order: X came after A
    for text in "ABCDX":
        # Never before the sink returned for it: the item was durable first.
        assert at(timeline, "returned", text) < at(timeline, "response", text)
    assert at(timeline, "returned", "A") < at(timeline, "called", "D")
    assert sink.batches == [1] * 5


async def test_a_failing_sink_answers_retry_later_and_the_bind_stays_up(
    tmp_path: Path,
) -> None:
    sink = GatedSink(raise_for={"boom"})
    with trio.fail_after(15):
        async with peer_and_connector(tmp_path, sink) as (peer, connector, n):
            n.start_soon(peer.deliver, "boom")
            await peer.wait_response("boom")
            assert peer.statuses["boom"] == CommandStatus.ESME_RX_T_APPN == 0x64
            assert connector.intake.sink_failures == 1
            n.start_soon(peer.deliver, "after")
            await peer.wait_response("after")
            assert peer.conn is not None and not peer.conn.is_closed
            assert connector.is_up()
            assert connector.pool.slots[0].binds == 1  # the same bind, never lost
    assert peer.statuses["after"] == 0
    assert [text_of(pdu) for _, pdu in sink.delivered] == ["after"]
    assert sink.timeline.index(("raised", "boom")) < sink.timeline.index(("response", "boom"))
