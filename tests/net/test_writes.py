"""The writer task: coalesced sends, back-pressure, and a send interrupted half-way."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from smppcore.net.connection import open_smpp_connection
from smppcore.net.errors import SessionClosed
from smppcore.net.testing import SmscResponder
from smppcore.protocol.codec import encode
from smppcore.protocol.enums import CommandId, CommandStatus
from smppcore.protocol.pdu import (
    AlertNotification,
    BindReceiver,
    BindTransceiver,
    DeliverSm,
    EnquireLink,
    SubmitSm,
)
from smppcore.protocol.session_events import SessionConfig
from smppcore.protocol.states import Role, SessionState

from .helpers import RawPeer


class _CountingStream(trio.abc.Stream):
    """A real stream, passed through; records every ``send_all`` it was asked for."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.sends: list[bytes] = []

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.sends.append(bytes(data))
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _StallingStream(_CountingStream):
    """Once armed, the next send writes half its bytes and then never returns."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        super().__init__(inner)
        self.armed = False
        self.stalled = trio.Event()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if not self.armed:
            await super().send_all(data)
            return
        self.sends.append(bytes(data))
        await self.inner.send_all(bytes(data)[: len(data) // 2])
        self.stalled.set()
        await trio.sleep_forever()


def _submit(i: int) -> SubmitSm:
    return SubmitSm(
        sequence_number=i, source_addr="12345", destination_addr="0", short_message=b"x"
    )


async def test_responses_to_one_read_share_few_sends() -> None:
    """100 submits arriving in one write are answered in far fewer than 100 sends."""
    responder = SmscResponder()
    cfg = SessionConfig(max_inbound_pending=1000, enquire_link_interval=None)
    with trio.fail_after(10):
        listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
        port = listener.socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            peer = RawPeer(await trio.open_tcp_stream("127.0.0.1", port))
            counting = _CountingStream(await listener.accept())

            async def serve() -> None:
                async with open_smpp_connection(counting, Role.SMSC, cfg) as conn:
                    await responder(conn)

            nursery.start_soon(serve)
            await peer.send(BindTransceiver(sequence_number=1))
            bind_resp = await peer.read()
            assert bind_resp is not None and bind_resp.command_status == 0
            sends_before = len(counting.sends)
            await peer.send(b"".join(encode(_submit(i)) for i in range(2, 102)))
            seen = set()
            for _ in range(100):
                resp = await peer.read()
                assert resp is not None and resp.command_id == CommandId.SUBMIT_SM_RESP
                seen.add(resp.sequence_number)
            assert seen == set(range(2, 102))
            assert len(counting.sends) - sends_before < 20
            await peer.stream.aclose()
        await listener.aclose()


async def test_send_interrupted_half_way_breaks_the_session() -> None:
    """A write cut off mid-PDU: nothing more is written (not even an unbind), the
    connection ends and further calls raise."""
    left, right = trio.testing.memory_stream_pair()
    stalling = _StallingStream(right)
    cfg = SessionConfig(enquire_link_interval=None)
    with trio.fail_after(10):
        async with open_smpp_connection(stalling, Role.SMSC, cfg) as smsc:
            peer = RawPeer(left)
            await peer.send(BindTransceiver(sequence_number=1))
            bind_request = await smsc.receive_request()
            await smsc.respond(bind_request, bind_request.response(system_id="s"))
            assert await peer.read() is not None  # bind_resp, whole
            await peer.send(_submit(2))
            request = await smsc.receive_request()
            stalling.armed = True
            sends = len(stalling.sends)
            await smsc.respond(request, request.response(message_id="1"))
            await stalling.stalled.wait()  # the writer is now stuck half-way
            smsc.abort("test")
            await smsc.wait_closed()
            assert len(stalling.sends) == sends + 1  # no final flush, no unbind
            with pytest.raises(SessionClosed):
                await smsc.respond(request, request.response(message_id="2"))
        assert await peer.read() is None  # half a PDU, then EOF


class _GatedStream(_CountingStream):
    """Sends pass through only while ``gate`` is set (a peer that stopped reading)."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        super().__init__(inner)
        self.gate = trio.Event()
        self.gate.set()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.gate.wait()
        await super().send_all(data)


async def test_respond_waits_while_the_writer_is_far_behind() -> None:
    """With the peer not reading, respond() stops returning once ~64 KiB are queued, and
    carries on when the peer reads again; every response arrives, in order."""
    left, right = trio.testing.memory_stream_pair()
    gated = _GatedStream(right)
    total = 5000  # ~100 KiB of submit_sm_resp: beyond the back-pressure mark
    cfg = SessionConfig(max_inbound_pending=total + 10, enquire_link_interval=None)
    answered = 0
    with trio.fail_after(30):
        async with (
            open_smpp_connection(gated, Role.SMSC, cfg) as smsc,
            trio.open_nursery() as nursery,
        ):
            peer = RawPeer(left)
            await peer.send(BindTransceiver(sequence_number=1))
            bind_request = await smsc.receive_request()
            await smsc.respond(bind_request, bind_request.response(system_id="s"))
            assert await peer.read() is not None
            gated.gate = trio.Event()  # the peer stops reading

            async def answer_all() -> None:
                nonlocal answered
                async for request in smsc:
                    await smsc.respond(request, request.response(message_id=f"{answered:08x}"))
                    answered += 1

            nursery.start_soon(answer_all)
            await peer.send(b"".join(encode(_submit(i)) for i in range(2, total + 2)))
            while answered == 0:
                await trio.testing.wait_all_tasks_blocked()
            await trio.testing.wait_all_tasks_blocked()
            assert 0 < answered < total  # held back, not buffering everything
            gated.gate.set()
            for i in range(2, total + 2):
                resp = await peer.read()
                assert resp is not None and resp.sequence_number == i
            assert answered == total
            await peer.stream.aclose()  # no unbind handshake to wait for
            await smsc.wait_closed()
            nursery.cancel_scope.cancel()


async def test_response_queued_before_abort_still_goes_out() -> None:
    """respond() returns once queued; an abort() right after drops the connection
    without an unbind, but what was queued is written first (whole)."""
    left, right = trio.testing.memory_stream_pair()
    cfg = SessionConfig(enquire_link_interval=None)
    with trio.fail_after(10):
        async with open_smpp_connection(right, Role.SMSC, cfg) as smsc:
            peer = RawPeer(left)
            await peer.send(BindTransceiver(sequence_number=1))
            bind_request = await smsc.receive_request()
            await smsc.respond(bind_request, bind_request.response(system_id="s"))
            assert await peer.read() is not None
            await peer.send(_submit(2))
            request = await smsc.receive_request()
            await smsc.respond(request, request.response(message_id="1"))
            smsc.abort("test")
            resp = await peer.read()
            assert resp is not None and resp.command_id == CommandId.SUBMIT_SM_RESP
            assert resp.sequence_number == 2
            assert await peer.read() is None  # then EOF, no unbind


async def test_reader_stops_reading_while_the_peer_does_not_read() -> None:
    """A peer that floods enquire_link (answered by the session itself) and never reads
    the answers: the reader stops taking bytes once ~64 KiB of answers are queued instead
    of buffering an answer for everything; when the peer reads again, all answers come."""
    left, right = trio.testing.memory_stream_pair()
    gated = _GatedStream(right)
    gated.gate = trio.Event()  # the peer never reads until told
    total = 20_000  # 320 KB of enquire_link, as many octets of answers
    flood = b"".join(encode(EnquireLink(sequence_number=i)) for i in range(1, total + 1))
    cfg = SessionConfig(enquire_link_interval=None, session_init_timeout=None)
    with trio.fail_after(30):
        async with open_smpp_connection(gated, Role.SMSC, cfg) as smsc:
            peer = RawPeer(left)
            await peer.send(flood)
            await trio.testing.wait_all_tasks_blocked()
            assert smsc.statistics().bytes_in < len(flood) // 2  # held back
            gated.gate.set()
            for i in range(1, total + 1):
                resp = await peer.read()
                assert resp is not None and resp.command_id == CommandId.ENQUIRE_LINK_RESP
                assert resp.sequence_number == i
            assert smsc.statistics().bytes_in == len(flood)
            await peer.stream.aclose()
            await smsc.wait_closed()


async def test_request_beyond_a_full_incoming_channel_is_answered() -> None:
    """alert_notification has no response, so the session does not count it; a flood of
    them fills the incoming channel while the application is busy. A deliver_sm arriving
    then cannot be queued: it is answered ESME_RTHROTTLED instead of never."""
    left, right = trio.testing.memory_stream_pair()
    cfg = SessionConfig(max_inbound_pending=4, enquire_link_interval=None)
    with trio.fail_after(10):
        async with (
            open_smpp_connection(right, Role.ESME, cfg) as esme,
            trio.open_nursery() as nursery,
        ):
            peer = RawPeer(left)
            nursery.start_soon(esme.request, BindReceiver(system_id="e", password="p"))
            bind = await peer.read()
            assert bind is not None
            await peer.send(bind.response(system_id="smsc"))
            await peer.send(
                b"".join(encode(AlertNotification(sequence_number=i)) for i in range(2, 52))
            )
            await peer.send(DeliverSm(sequence_number=52, short_message=b"x"))
            resp = await peer.read()
            assert resp is not None and resp.command_id == CommandId.DELIVER_SM_RESP
            assert resp.sequence_number == 52
            assert resp.command_status == CommandStatus.ESME_RTHROTTLED
            await peer.stream.aclose()  # no unbind handshake to wait for
            await esme.wait_closed()
            nursery.cancel_scope.cancel()


async def test_request_while_unbinding_raises_a_net_error() -> None:
    """Once our unbind is on its way the session takes no new requests; request() says
    so with SessionClosed (a NetError, what callers handle), not a local protocol error."""
    left, right = trio.testing.memory_stream_pair()
    cfg = SessionConfig(enquire_link_interval=None)
    with trio.fail_after(10):
        async with (
            open_smpp_connection(right, Role.ESME, cfg) as esme,
            trio.open_nursery() as nursery,
        ):
            peer = RawPeer(left)
            nursery.start_soon(esme.request, BindTransceiver(system_id="e", password="p"))
            bind = await peer.read()
            assert bind is not None
            await peer.send(bind.response(system_id="smsc"))
            while esme.state is not SessionState.BOUND_TRX:
                await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(esme.unbind)
            unbind = await peer.read()
            assert unbind is not None and unbind.command_id == CommandId.UNBIND
            with pytest.raises(SessionClosed):
                await esme.request(_submit(0))
            await peer.send(unbind.response())
            await esme.wait_closed()
