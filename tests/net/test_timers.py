"""Timer behaviour of the trio shell under trio's MockClock (autojump) over memory streams."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from smppcore.net.client import bind, open_bind_client
from smppcore.net.connection import SmppConnection, open_smpp_connection
from smppcore.net.errors import ConnectionLost, RequestTimeout, SessionClosed, WindowTimeout
from smppcore.net.testing import SmscResponder
from smppcore.protocol.pdu import BindTransceiver, SubmitSm
from smppcore.protocol.session import Session
from smppcore.protocol.session_events import EndReason, RequestReceived, SessionConfig
from smppcore.protocol.states import Role, SessionState


async def _silent_after_bind(conn: SmppConnection) -> None:
    """An SMSC that accepts the bind, then never answers anything."""
    request = await conn.receive_request()
    await conn.respond(request, request.response(system_id="smsc"))
    await trio.sleep_forever()


async def test_enquire_link_sent_after_idle(autojump_clock: trio.testing.MockClock) -> None:
    left, right = trio.testing.memory_stream_pair()
    quiet = SessionConfig(enquire_link_interval=None)
    esme_cfg = SessionConfig(enquire_link_interval=30, response_timeout=10)
    with trio.fail_after(1000):
        async with (
            open_smpp_connection(right, Role.SMSC, quiet) as smsc,
            trio.open_nursery() as nursery,
        ):
            responder = SmscResponder()
            nursery.start_soon(responder, smsc)
            async with open_smpp_connection(left, Role.ESME, esme_cfg) as esme:
                await bind(esme, BindTransceiver())
                before = smsc.statistics().pdus_in
                await trio.sleep(95)
                # three idle periods → three enquire_links, all answered by the SMSC session
                assert smsc.statistics().pdus_in - before == 3
                assert esme.state is SessionState.BOUND_TRX
                assert responder.received[1:] == []  # never reached the application
            nursery.cancel_scope.cancel()


async def test_missing_response_fails_at_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    left, right = trio.testing.memory_stream_pair()
    cfg = SessionConfig(response_timeout=7, enquire_link_interval=None)
    with trio.fail_after(1000):
        async with (
            open_smpp_connection(right, Role.SMSC, cfg) as smsc,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(_silent_after_bind, smsc)
            async with open_smpp_connection(left, Role.ESME, cfg) as esme:
                await bind(esme, BindTransceiver())
                start = trio.current_time()
                with pytest.raises(RequestTimeout):
                    await esme.request(SubmitSm())
                assert trio.current_time() - start == pytest.approx(7)
                assert esme.statistics().window_used == 0
            nursery.cancel_scope.cancel()


async def test_window_wait_is_bounded(autojump_clock: trio.testing.MockClock) -> None:
    left, right = trio.testing.memory_stream_pair()
    cfg = SessionConfig(window=1, response_timeout=100, enquire_link_interval=None)
    with trio.fail_after(1000):
        async with (
            open_smpp_connection(right, Role.SMSC, cfg) as smsc,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(_silent_after_bind, smsc)
            async with open_smpp_connection(left, Role.ESME, cfg) as esme:
                await bind(esme, BindTransceiver())
                nursery.start_soon(esme.request, SubmitSm())
                await trio.sleep(1)
                with pytest.raises(WindowTimeout):
                    await esme.request(SubmitSm(), window_timeout=5)
                assert esme.statistics().window_used == 1
                nursery.cancel_scope.cancel()


async def _bind_then_freeze(stream: trio.abc.Stream) -> None:
    """A raw peer: answers the bind, then neither reads nor writes (but keeps TCP open)."""
    peer = Session(Role.SMSC, now=0)
    while True:
        peer.receive_data(await stream.receive_some(1000), 0)
        event = peer.next_event()
        if isinstance(event, RequestReceived):
            peer.send_response(event.pdu.response(system_id="smsc"), 0)
            await stream.send_all(peer.data_to_send())
            break
    await trio.sleep_forever()


async def test_dead_peer_detected(autojump_clock: trio.testing.MockClock) -> None:
    """The peer answers the bind and then goes silent: the unanswered enquire_link ends
    the session and the request in flight fails with a clear error."""
    left, right = trio.testing.memory_stream_pair()
    esme_cfg = SessionConfig(enquire_link_interval=30, response_timeout=10)
    with trio.fail_after(5000):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_bind_then_freeze, right)
            async with open_smpp_connection(left, Role.ESME, esme_cfg) as esme:
                await bind(esme, BindTransceiver())
                with pytest.raises(SessionClosed, match="enquire_link"):
                    await esme.request(SubmitSm(), timeout=500)
                assert esme.end_reason is EndReason.ENQUIRE_LINK_TIMEOUT
                assert esme.is_closed
                assert trio.current_time() < 500
            nursery.cancel_scope.cancel()


async def test_session_init_timeout_closes(autojump_clock: trio.testing.MockClock) -> None:
    left, right = trio.testing.memory_stream_pair()
    with trio.fail_after(1000):
        async with open_smpp_connection(
            right, Role.SMSC, SessionConfig(session_init_timeout=15)
        ) as smsc:
            await smsc.wait_closed()
            assert smsc.end_reason is EndReason.SESSION_INIT_TIMEOUT
            assert await left.receive_some(100) == b""


async def test_close_unbinds_within_a_bound_even_if_peer_is_dead(
    autojump_clock: trio.testing.MockClock,
) -> None:
    left, right = trio.testing.memory_stream_pair()
    cfg = SessionConfig(enquire_link_interval=None)
    with trio.fail_after(1000):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_bind_then_freeze, right)
            async with open_smpp_connection(left, Role.ESME, cfg, unbind_timeout=4) as esme:
                await bind(esme, BindTransceiver())
                start = trio.current_time()
            assert esme.is_closed
            assert 4 <= trio.current_time() - start < 10
            nursery.cancel_scope.cancel()


async def test_errors_leave_as_themselves_not_groups() -> None:
    left, _right = trio.testing.memory_stream_pair()
    with trio.fail_after(10), pytest.raises(KeyError):
        async with open_smpp_connection(left, Role.ESME, SessionConfig()):
            raise KeyError("body")
    # connecting to a closed port: our own error, no ExceptionGroup, no OSError
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    with trio.fail_after(10), pytest.raises(ConnectionLost):
        async with open_bind_client("127.0.0.1", port, BindTransceiver()):
            pass  # pragma: no cover
