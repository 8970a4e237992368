"""``serve_smpp(..., drain=ServerDrain())`` over real loopback TCP, seen from a raw peer:
the listener closes, new requests are refused at once, what was read is answered before the
unbind, and at the deadline what was never taken is refused and the connection closes."""

from __future__ import annotations

import functools
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from smppcore.net.connection import SmppConnection
from smppcore.net.drain import DRAIN_STATUS, DrainedConnection, DrainStatistics, ServerDrain
from smppcore.net.server import listener_port, serve_smpp
from smppcore.net.testing import SmscResponder
from smppcore.protocol.codec import encode
from smppcore.protocol.enums import CommandId, CommandStatus
from smppcore.protocol.pdu import BindTransceiver, EnquireLink, Pdu, SubmitSm, UnbindResp
from smppcore.protocol.states import BIND_COMMANDS

from .helpers import RawPeer


def submit(seq: int) -> SubmitSm:
    return SubmitSm(
        sequence_number=seq,
        source_addr="447700900001",
        destination_addr="447700900002",
        short_message=b"hi",
    )


@attrs.define
class Gated:
    """Answers binds at once; takes at most ``take`` other requests and answers them only
    once ``release`` is set (a slow store, as the drain sees it)."""

    take: int = 1000
    release: trio.Event = attrs.field(factory=trio.Event)
    taken: list[Pdu] = attrs.field(factory=list)
    conns: list[SmppConnection] = attrs.field(factory=list)
    _answers: SmscResponder = attrs.field(factory=lambda: SmscResponder(record=False))

    async def __call__(self, conn: SmppConnection) -> None:
        self.conns.append(conn)
        async with trio.open_nursery() as nursery:
            async for pdu in conn:
                response = self._answers.answer(pdu)
                assert response is not None
                if pdu.command_id in BIND_COMMANDS:
                    await conn.respond(pdu, response)
                    continue
                self.taken.append(pdu)
                nursery.start_soon(self._answer_later, conn, pdu, response)
                if len(self.taken) >= self.take:
                    await trio.sleep_forever()

    async def _answer_later(self, conn: SmppConnection, pdu: Pdu, response: Pdu) -> None:
        await self.release.wait()
        await conn.respond(pdu, response)

    async def wait_pending(self, n: int) -> None:
        """Until the connection holds ``n`` requests it has read and not answered."""
        while not self.conns or self.conns[0].statistics().inbound_pending < n:  # noqa: ASYNC110
            await trio.sleep(0.01)


async def bound_peer(port: int) -> RawPeer:
    peer = RawPeer(await trio.open_tcp_stream("127.0.0.1", port))
    await peer.send(BindTransceiver(sequence_number=1))
    resp = await peer.read()
    assert resp is not None and resp.command_status == CommandStatus.ESME_ROK
    return peer


async def read_until_unbind(peer: RawPeer) -> tuple[list[Pdu], Pdu]:
    before: list[Pdu] = []
    while True:
        pdu = await peer.read()
        assert pdu is not None, f"closed before the unbind, after {before}"
        if pdu.command_id == CommandId.UNBIND:
            return before, pdu
        before.append(pdu)


async def start_server(nursery: trio.Nursery, handler: Any, drain: ServerDrain) -> int:
    listeners = await nursery.start(
        functools.partial(serve_smpp, handler, "127.0.0.1", 0, drain=drain)
    )
    return listener_port(listeners)


async def test_drain_refuses_new_requests_answers_read_ones_then_unbinds() -> None:
    handler = Gated()
    drained: list[DrainedConnection] = []
    drain = ServerDrain(on_drained=drained.append)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            port = await start_server(nursery, handler, drain)
            peer = await bound_peer(port)
            await peer.send(b"".join(encode(submit(seq)) for seq in (2, 3, 4)))
            await handler.wait_pending(3)

            drain.begin(trio.current_time() + 60)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(OSError):  # the listener is closed: nothing accepts
                await trio.open_tcp_stream("127.0.0.1", port)

            # Arrived after the drain began: answered at once, never given to the handler.
            await peer.send(submit(5))
            refused = await peer.read()
            assert refused is not None and refused.sequence_number == 5
            assert refused.command_status == DRAIN_STATUS
            await peer.send(EnquireLink(sequence_number=6))
            alive = await peer.read()
            assert alive is not None and alive.command_id == CommandId.ENQUIRE_LINK_RESP
            assert [p.sequence_number for p in handler.taken] == [2, 3, 4]

            handler.release.set()
            before, unbind = await read_until_unbind(peer)
            assert sorted((p.sequence_number, p.command_status) for p in before) == [
                (2, 0), (3, 0), (4, 0),
            ]  # fmt: skip
            # Sent before it saw our unbind: still answered, still refused.
            await peer.send(submit(7))
            await peer.send(UnbindResp(sequence_number=unbind.sequence_number))
            late = await peer.read()
            assert late is not None and late.sequence_number == 7
            assert late.command_status == DRAIN_STATUS
            assert await peer.read() is None  # closed by the server
        # serve_smpp returned by itself once its only connection had drained.
    assert drained == [DrainedConnection(answered=3, refused=2, unanswered=0, result="unbound")]
    assert drain.statistics() == DrainStatistics(
        connections=1, unbound=1, answered=3, refused=2, unanswered=0
    )


async def test_at_the_deadline_what_was_never_taken_is_refused_and_the_connection_cut() -> None:
    handler = Gated(take=2)  # takes two, then stops reading its requests
    drain = ServerDrain()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            port = await start_server(nursery, handler, drain)
            peer = await bound_peer(port)
            await peer.send(b"".join(encode(submit(seq)) for seq in (2, 3, 4, 5)))
            await handler.wait_pending(4)
            await trio.testing.wait_all_tasks_blocked()
            assert len(handler.taken) == 2

            drain.begin(trio.current_time() + 0.2)  # the handler never answers: a cut
            before, _unbind = await read_until_unbind(peer)
            # The two never taken are refused; the two taken get no answer from us.
            assert sorted((p.sequence_number, p.command_status) for p in before) == [
                (4, DRAIN_STATUS), (5, DRAIN_STATUS),
            ]  # fmt: skip
            assert await peer.read() is None  # closed without waiting for unbind_resp
    assert drain.statistics() == DrainStatistics(
        connections=1, cut=1, answered=2, refused=0, unanswered=2
    )


async def test_a_peer_that_never_answers_the_unbind_is_closed_at_the_deadline() -> None:
    handler = Gated()
    drain = ServerDrain()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            port = await start_server(nursery, handler, drain)
            peer = await bound_peer(port)
            drain.begin(trio.current_time() + 0.2)
            before, _unbind = await read_until_unbind(peer)
            assert before == []
            assert await peer.read() is None  # no unbind_resp from us: closed anyway
    assert drain.statistics() == DrainStatistics(connections=1, closed=1)
