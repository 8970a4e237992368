"""trio shell around the sans-I/O SMPP session: connections, listener, bind client, TLS.

Public API re-exported here; see :mod:`smppcore.net.connection` (one session over a
stream), :mod:`smppcore.net.server` (``serve_smpp``), :mod:`smppcore.net.client`
(``open_bind_client``) and :mod:`smppcore.net.errors`.
"""

from .client import Backoff, BindClient, bind, connect_smpp, open_bind_client
from .connection import SmppConnection, open_smpp_connection
from .errors import (
    BindFailed,
    ConnectionLost,
    NetError,
    RequestFailedError,
    RequestTimeout,
    SessionClosed,
    WindowTimeout,
)
from .peer import PeerAddress, peer_address
from .server import listener_port, serve_smpp, serve_smpp_listeners

__all__ = [
    "Backoff",
    "BindClient",
    "BindFailed",
    "ConnectionLost",
    "NetError",
    "PeerAddress",
    "RequestFailedError",
    "RequestTimeout",
    "SessionClosed",
    "SmppConnection",
    "WindowTimeout",
    "bind",
    "connect_smpp",
    "listener_port",
    "open_bind_client",
    "open_smpp_connection",
    "peer_address",
    "serve_smpp",
    "serve_smpp_listeners",
]
