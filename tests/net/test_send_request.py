"""``SmppConnection.send_request``: requests in flight without a task each, answered by
callback, bounded by the window, failed (not lost) when the session ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from smppcore.net.client import bind, connect_smpp
from smppcore.net.connection import SmppConnection, open_smpp_connection
from smppcore.net.errors import NetError
from smppcore.net.server import listener_port, serve_smpp
from smppcore.protocol.pdu import BindTransceiver, Pdu, SubmitSm
from smppcore.protocol.session_events import SessionConfig
from smppcore.protocol.states import Role


class _HoldingSmsc:
    """Binds anyone; answers submit_sm only once ``release`` is set."""

    def __init__(self) -> None:
        self.release = trio.Event()
        self.received = 0
        self.got_one = trio.Event()
        self.conns: list[SmppConnection] = []

    async def __call__(self, conn: SmppConnection) -> None:
        self.conns.append(conn)
        try:
            async with trio.open_nursery() as nursery:
                async for request in conn:
                    if isinstance(request, SubmitSm):
                        self.received += 1
                        self.got_one.set()
                        nursery.start_soon(self._answer_later, conn, request)
                    elif type(request).response_class is not None:
                        await conn.respond(request, request.response())
        except NetError:
            pass

    async def _answer_later(self, conn: SmppConnection, request: Pdu) -> None:
        await self.release.wait()
        try:
            await conn.respond(request, request.response(message_id=f"id{request.sequence_number}"))
        except NetError:
            pass


@asynccontextmanager
async def _bound(smsc: _HoldingSmsc, window: int) -> AsyncIterator[SmppConnection]:
    async with trio.open_nursery() as nursery:
        port = listener_port(await nursery.start(serve_smpp, smsc, "127.0.0.1", 0))
        stream = await connect_smpp("127.0.0.1", port)
        config = SessionConfig(window=window, enquire_link_interval=None, response_timeout=5)
        async with open_smpp_connection(stream, Role.ESME, config) as conn:
            await bind(conn, BindTransceiver(system_id="x", password="y"))
            yield conn
        nursery.cancel_scope.cancel()


def _submit(i: int) -> SubmitSm:
    return SubmitSm(source_addr="27600000001", destination_addr="27821234567",
                    short_message=f"m{i}".encode())  # fmt: skip


async def test_responses_come_by_callback_and_the_window_bounds_what_is_sent() -> None:
    smsc = _HoldingSmsc()
    got: list[tuple[str | None, type | None]] = []
    all_in = trio.Event()

    def done(response: Pdu | None, error: NetError | None) -> None:
        got.append((getattr(response, "message_id", None), type(error) if error else None))
        if len(got) == 3:
            all_in.set()

    with trio.fail_after(10):
        async with _bound(smsc, window=3) as conn:
            assert [conn.send_request(_submit(i), done) for i in range(4)] == [
                True,
                True,
                True,
                False,  # the fourth finds no free slot: nothing sent
            ]
            while smsc.received < 3:
                await smsc.got_one.wait()
                smsc.got_one = trio.Event()
            assert got == []  # nobody answered yet
            smsc.release.set()
            await all_in.wait()
            assert sorted(g[0] or "" for g in got) == ["id2", "id3", "id4"]
            assert all(g[1] is None for g in got)
            assert conn.send_request(_submit(9), lambda r, e: None)  # slots are free again
    assert smsc.received == 4


async def test_a_session_that_ends_fails_what_is_in_flight_and_takes_no_more() -> None:
    smsc = _HoldingSmsc()
    errors: list[NetError | None] = []
    failed = trio.Event()

    def done(response: Pdu | None, error: NetError | None) -> None:
        errors.append(error)
        failed.set()

    with trio.fail_after(10):
        async with _bound(smsc, window=5) as conn:
            assert conn.send_request(_submit(1), done)
            await smsc.got_one.wait()
            smsc.conns[0].abort("test: the SMSC drops the connection")
            await failed.wait()
            await conn.wait_closed()
            assert not conn.send_request(_submit(2), done)
    assert len(errors) == 1 and isinstance(errors[0], NetError)


async def test_a_callback_that_raises_does_not_end_the_session() -> None:
    smsc = _HoldingSmsc()
    smsc.release.set()
    second = trio.Event()

    def broken(response: Pdu | None, error: NetError | None) -> None:
        raise RuntimeError("a bug in the caller")

    with trio.fail_after(10):
        async with _bound(smsc, window=5) as conn:
            assert conn.send_request(_submit(1), broken)
            assert conn.send_request(_submit(2), lambda r, e: second.set())
            await second.wait()
            response = await conn.request(_submit(3))
            assert response.command_status == 0
            assert not conn.is_closed
