"""Real loopback TCP: bad peers, the listener's containment, sequence wrap, TLS, reconnect."""

from __future__ import annotations

import errno
import ssl
from typing import Any

import pytest
import trio
import trio.testing
import trustme

from smppcore.net.client import Backoff, open_bind_client
from smppcore.net.connection import SmppConnection
from smppcore.net.errors import BindFailed, ConnectionLost
from smppcore.net.server import listener_port, serve_smpp, serve_smpp_listeners
from smppcore.net.testing import SmscResponder
from smppcore.protocol.enums import CommandId, CommandStatus
from smppcore.protocol.pdu import BindTransceiver, EnquireLink, GenericNack, SubmitSm
from smppcore.protocol.session import MAX_SEQUENCE_NUMBER
from smppcore.protocol.session_events import EndReason, SessionConfig

from .helpers import RawPeer, running_server

BIND = BindTransceiver(system_id="esme1", password="pw")


def _submit() -> SubmitSm:
    return SubmitSm(
        source_addr="447700900001", destination_addr="447700900002", short_message=b"hi"
    )


async def _raw_bound(port: int) -> RawPeer:
    peer = RawPeer(await trio.open_tcp_stream("127.0.0.1", port))
    await peer.send(BindTransceiver(sequence_number=1))
    resp = await peer.read()
    assert resp is not None and resp.command_status == CommandStatus.ESME_ROK
    return peer


async def test_garbage_gets_generic_nack_and_session_survives() -> None:
    responder = SmscResponder()
    with trio.fail_after(10):
        async with running_server(responder) as port:
            peer = await _raw_bound(port)
            await peer.send(bytes.fromhex("00000010 00000099 00000000 00000007"))
            assert await peer.read() == GenericNack(
                sequence_number=7, command_status=CommandStatus.ESME_RINVCMDID
            )
            await peer.send(EnquireLink(sequence_number=8))
            resp = await peer.read()
            assert resp is not None and resp.command_id == CommandId.ENQUIRE_LINK_RESP
            # "HTTP" as command_length: framing is lost → generic_nack RINVCMDLEN, then close
            await peer.send(b"HTTP/1.1 GET /\r\n\r\n")
            nack = await peer.read()
            assert nack is not None and nack.command_id == CommandId.GENERIC_NACK
            assert nack.command_status == CommandStatus.ESME_RINVCMDLEN
            assert await peer.read() is None
            assert responder.connections[0].end_reason is EndReason.FRAMING_LOST


async def test_peer_disconnecting_mid_pdu_harms_nobody() -> None:
    responder = SmscResponder()
    with trio.fail_after(10):
        async with running_server(responder) as port:
            async with open_bind_client("127.0.0.1", port, BIND) as other:
                victim = await _raw_bound(port)
                from smppcore.protocol.codec import encode

                await victim.send(encode(_submit())[:20])
                await victim.stream.aclose()
                bad_conn = responder.connections[1]
                await bad_conn.wait_closed()
                assert bad_conn.end_reason is EndReason.PEER_CLOSED
                resp = await other.request(_submit())
                assert resp.command_status == CommandStatus.ESME_ROK
            async with open_bind_client("127.0.0.1", port, BIND) as again:
                assert (await again.request(_submit())).command_status == 0


async def test_handler_crash_is_contained() -> None:
    responder = SmscResponder()

    async def handler(conn: SmppConnection) -> None:
        request = await conn.receive_request()
        if request.system_id == "crash":  # type: ignore[attr-defined]
            raise RuntimeError("handler bug")
        await conn.respond(request, request.response(system_id="s"))
        await responder(conn)

    with trio.fail_after(10):
        async with (
            running_server(handler) as port,
            open_bind_client("127.0.0.1", port, BIND) as good,
        ):
            with pytest.raises(BindFailed):
                async with open_bind_client("127.0.0.1", port, BindTransceiver(system_id="crash")):
                    pass  # pragma: no cover
            assert (await good.request(_submit())).command_status == 0


async def test_max_connections_bounded() -> None:
    with trio.fail_after(10):
        async with running_server(SmscResponder(), max_connections=1) as port:
            async with open_bind_client("127.0.0.1", port, BIND):
                extra = RawPeer(await trio.open_tcp_stream("127.0.0.1", port))
                assert await extra.read() is None  # closed at once
            with trio.fail_after(5):
                while True:  # the slot frees once the first session finished closing
                    try:
                        async with open_bind_client("127.0.0.1", port, BIND) as c:
                            assert (await c.request(_submit())).command_status == 0
                            break
                    except ConnectionLost:
                        await trio.sleep(0.01)


class _EmfileListener(trio.abc.Listener[trio.abc.Stream]):
    """Wraps a real listener; its first accepts fail as if the process ran out of fds."""

    def __init__(self, inner: trio.abc.Listener[Any], failures: int) -> None:
        self.inner, self.failures = inner, failures

    async def accept(self) -> trio.abc.Stream:
        if self.failures:
            self.failures -= 1
            await trio.lowlevel.checkpoint()
            raise OSError(errno.EMFILE, "Too many open files")
        stream: trio.abc.Stream = await self.inner.accept()
        return stream

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_listener_survives_emfile() -> None:
    (tcp,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    flaky = _EmfileListener(tcp, failures=3)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_smpp_listeners, SmscResponder(), [flaky])
            port = listener_port([tcp])
            async with open_bind_client("127.0.0.1", port, BIND) as client:
                assert (await client.request(_submit())).command_status == 0
            assert flaky.failures == 0
            nursery.cancel_scope.cancel()


async def test_sequence_numbers_cross_the_wrap_over_tcp() -> None:
    responder = SmscResponder()
    config = SessionConfig(window=10, first_sequence_number=MAX_SEQUENCE_NUMBER - 4)
    with trio.fail_after(10):
        async with running_server(responder) as port:
            async with (
                open_bind_client("127.0.0.1", port, BIND, config=config) as client,
                trio.open_nursery() as nursery,
            ):
                for _ in range(20):
                    nursery.start_soon(client.request, _submit())
            seqs = [p.sequence_number for p in responder.received]
            assert seqs[0] == MAX_SEQUENCE_NUMBER - 4  # the bind
            assert MAX_SEQUENCE_NUMBER in seqs and 1 in seqs and 0 not in seqs
            assert max(seqs) <= MAX_SEQUENCE_NUMBER
            assert len(set(seqs)) == len(seqs)


def _tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    untrusting = ssl.create_default_context()
    trustme.CA().configure_trust(untrusting)
    return server, client, untrusting


async def test_tls_round_trip_and_verification() -> None:
    server_ctx, client_ctx, untrusting = _tls_contexts()
    responder = SmscResponder()
    with trio.fail_after(10):
        async with running_server(responder, ssl_context=server_ctx) as port:
            async with open_bind_client("127.0.0.1", port, BIND, ssl_context=client_ctx) as client:
                resp = await client.request(_submit())
                assert resp.command_status == 0 and resp.message_id  # type: ignore[attr-defined]
            with pytest.raises(ConnectionLost):
                async with open_bind_client("127.0.0.1", port, BIND, ssl_context=untrusting):
                    pass  # pragma: no cover
            async with open_bind_client("127.0.0.1", port, BIND, ssl_context=client_ctx) as c2:
                assert (await c2.request(_submit())).command_status == 0


async def test_reconnecting_client_rebinds_after_server_restart() -> None:
    responder = SmscResponder()
    backoff = Backoff(initial=0.02, maximum=0.1)
    with trio.fail_after(15):
        async with trio.open_nursery() as outer:
            server_scope = trio.CancelScope()

            async def run_server(port: int, task_status: Any) -> None:
                with server_scope:
                    await serve_smpp(responder, "127.0.0.1", port, task_status=task_status)

            port = listener_port(await outer.start(run_server, 0))
            async with open_bind_client(
                "127.0.0.1", port, BIND, reconnect=True, backoff=backoff
            ) as client:
                first = await client.wait_connected(5)
                assert (await client.request(_submit())).command_status == 0
                server_scope.cancel()
                await first.wait_closed()
                assert first.end_reason is EndReason.UNBOUND  # the server unbound us
                await trio.sleep(0.2)  # a few failed reconnects with backoff
                server_scope = trio.CancelScope()
                await outer.start(run_server, port)
                second = await client.wait_connected(5)
                assert second is not first
                assert (await client.request(_submit())).command_status == 0
                assert client.binds == 2
            outer.cancel_scope.cancel()


async def test_client_without_reconnect_fails_requests_after_a_loss() -> None:
    """Without reconnect a loss is final: a later request raises at once instead of
    waiting for a connection that will never come."""
    responder = SmscResponder()
    with trio.fail_after(10):
        async with (
            running_server(responder) as port,
            open_bind_client("127.0.0.1", port, BIND) as client,
        ):
            conn = client.connection
            assert conn is not None
            assert (await client.request(_submit())).command_status == 0
            conn.abort("test")
            await conn.wait_closed()
            with pytest.raises(ConnectionLost):
                await client.request(_submit())
            with pytest.raises(ConnectionLost):
                await client.wait_connected()


async def test_bind_answered_by_generic_nack_with_status_zero_is_refused() -> None:
    """A generic_nack (even with command_status 0) does not bind the session: bind()
    raises BindFailed instead of handing over a connection that cannot submit."""

    async def handler(conn: SmppConnection) -> None:
        request = await conn.receive_request()
        await conn.respond(request, GenericNack(sequence_number=request.sequence_number))
        await conn.wait_closed()

    with trio.fail_after(10):
        async with running_server(handler) as port:
            with pytest.raises(BindFailed):
                async with open_bind_client("127.0.0.1", port, BIND):
                    pass  # pragma: no cover


@pytest.mark.parametrize(
    "kwargs", [{"initial": 0}, {"initial": -1}, {"factor": 0.5}, {"initial": 2, "maximum": 1}]
)
def test_backoff_refuses_values_that_allow_a_hot_loop(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


async def test_a_crashing_handler_leaves_no_personal_data_in_the_log() -> None:
    """The listener logs a handler's failure by type: the text of an arbitrary exception
    may carry a number or message text, which never go to the log."""
    from structlog.testing import capture_logs

    async def handler(conn: SmppConnection) -> None:
        await conn.receive_request()
        raise ValueError("no route for 27821234567")

    with trio.fail_after(10), capture_logs() as logs:
        async with running_server(handler) as port:
            peer = RawPeer(await trio.open_tcp_stream("127.0.0.1", port))
            await peer.send(BindTransceiver(sequence_number=1))
            assert await peer.read() is None  # closed without an answer
            await trio.testing.wait_all_tasks_blocked()  # the listener logs after the close
    failed = [entry for entry in logs if entry["event"] == "smpp.session_failed"]
    assert [entry["error"] for entry in failed] == ["ValueError"]
    assert "27821234567" not in repr(logs)
