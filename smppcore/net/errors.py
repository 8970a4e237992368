"""The errors the trio shell raises: transport trouble translated at the boundary.

Owns: :class:`NetError` and its subclasses.  Nothing from trio (``BrokenResourceError``,
``ClosedResourceError``), ``OSError`` or ``ssl`` leaks out of :mod:`smppcore.net`'s public
API; it arrives as one of these, with the original as ``__cause__``.
"""

from __future__ import annotations

from ..protocol.errors import SmppError

__all__ = [
    "BindFailed",
    "ConnectionLost",
    "NetError",
    "RequestFailedError",
    "RequestTimeout",
    "SessionClosed",
    "WindowTimeout",
]


class NetError(SmppError):
    """Base of the network layer's errors."""


class ConnectionLost(NetError):
    """The transport broke or the peer went away (request outcome unknown)."""


class SessionClosed(NetError):
    """The session is closed or closing (unbound, timed out, closed locally)."""


class RequestTimeout(NetError):
    """No response arrived within the response timeout."""


class WindowTimeout(RequestTimeout):
    """No window slot became free in time; the request was never sent."""


class RequestFailedError(NetError):
    """The request will get no usable response (e.g. the response was undecodable)."""


class BindFailed(NetError):
    """The peer refused our bind (``command_status`` says why) or never answered it."""

    def __init__(self, message: str, command_status: int | None = None) -> None:
        super().__init__(message)
        self.command_status = command_status
