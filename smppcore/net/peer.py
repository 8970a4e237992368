"""The remote address of a connection.

Owns: :class:`PeerAddress` (host and port of the other end) and :func:`peer_address`, which
reads it from a trio stream: a ``SocketStream`` directly, a TLS stream through its
``transport_stream``.  Streams without a socket (``trio.testing`` memory streams, stapled
streams) have no peer address: ``None``.
"""

from __future__ import annotations

import socket

import attrs
import trio

__all__ = ["PeerAddress", "peer_address"]


@attrs.frozen
class PeerAddress:
    """An IP peer; ``str()`` is ``host:port`` (``[host]:port`` for IPv6)."""

    host: str
    port: int

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


def peer_address(stream: trio.abc.Stream) -> PeerAddress | None:
    """The address ``stream``'s socket is connected to, or ``None`` if it has none (not a
    socket stream, not an IP socket, or already disconnected)."""
    inner: trio.abc.Stream = stream
    while isinstance(inner, trio.SSLStream):
        inner = inner.transport_stream
    if not isinstance(inner, trio.SocketStream):
        return None
    sock = inner.socket
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        address = sock.getpeername()
    except OSError:  # the peer is gone already
        return None
    return PeerAddress(host=str(address[0]), port=int(address[1]))
