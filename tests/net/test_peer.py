"""``SmppConnection.peer``: the remote address over TCP and TLS, ``None`` without a socket."""

from __future__ import annotations

import ssl

import trio
import trio.testing
import trustme

from smppcore.net.connection import SmppConnection, open_smpp_connection
from smppcore.net.peer import PeerAddress, peer_address
from smppcore.net.testing import SmscResponder
from smppcore.protocol.states import Role

from .helpers import running_server


class _PeerRecorder:
    """A ``serve_smpp`` handler that notes the peer of the connection it serves."""

    def __init__(self) -> None:
        self.peer: PeerAddress | None = None
        self.seen = trio.Event()

    async def __call__(self, conn: SmppConnection) -> None:
        self.peer = conn.peer
        self.seen.set()
        await conn.wait_closed()

    async def wait_peer(self) -> PeerAddress | None:
        await self.seen.wait()
        return self.peer


async def test_peer_over_plain_tcp() -> None:
    recorder = _PeerRecorder()
    with trio.fail_after(10):
        async with running_server(recorder) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            local_host, local_port = stream.socket.getsockname()[:2]
            async with open_smpp_connection(stream, Role.ESME) as conn:
                assert conn.peer == PeerAddress("127.0.0.1", port)
                assert str(conn.peer) == f"127.0.0.1:{port}"
                assert await recorder.wait_peer() == PeerAddress(local_host, local_port)


async def test_peer_through_tls() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    recorder = _PeerRecorder()
    with trio.fail_after(10):
        async with running_server(recorder, ssl_context=server_ctx) as port:
            tcp = await trio.open_tcp_stream("127.0.0.1", port)
            local_host, local_port = tcp.socket.getsockname()[:2]
            tls = trio.SSLStream(tcp, client_ctx, server_hostname="127.0.0.1")
            async with open_smpp_connection(tls, Role.ESME) as conn:
                assert conn.peer == PeerAddress("127.0.0.1", port)
                await tls.do_handshake()
                assert tls.version() is not None  # the bytes really go through TLS
                assert await recorder.wait_peer() == PeerAddress(local_host, local_port)


async def test_no_peer_on_memory_streams() -> None:
    left, _right = trio.testing.memory_stream_pair()
    with trio.fail_after(10):
        async with open_smpp_connection(left, Role.ESME, unbind_timeout=0.1) as conn:
            assert conn.peer is None


async def test_no_peer_once_the_socket_is_closed() -> None:
    with trio.fail_after(10):
        async with running_server(SmscResponder()) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            assert peer_address(stream) == PeerAddress("127.0.0.1", port)
            await stream.aclose()
            assert peer_address(stream) is None


def test_ipv6_peer_is_bracketed() -> None:
    assert str(PeerAddress("::1", 2775)) == "[::1]:2775"
    assert str(PeerAddress("192.0.2.1", 2775)) == "192.0.2.1:2775"
