"""Events a :class:`~smppcore.protocol.session.Session` reports, and its value types.

Owns: the frozen event classes (what happened on the session), the reasons a request
fails or a session ends, :class:`SessionConfig` (limits and timer lengths) and
:class:`SessionStatistics` (what the metrics layer reads).
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from .framer import DecodeFailure
from .pdu import Pdu
from .states import Role, SessionState

__all__ = [
    "BadPdu",
    "EndReason",
    "Event",
    "FailureReason",
    "RequestFailed",
    "RequestReceived",
    "RequestRejected",
    "ResponseReceived",
    "SessionConfig",
    "SessionEnded",
    "SessionStatistics",
    "StateChanged",
    "UnexpectedResponse",
]


class FailureReason(enum.Enum):
    """Why a request of ours got no (usable) response."""

    TIMEOUT = "timeout"
    SESSION_CLOSED = "session closed"
    BAD_RESPONSE = "undecodable response"


class EndReason(enum.Enum):
    """Why the session wants its transport closed."""

    UNBOUND = "unbind handshake completed"
    PEER_CLOSED = "peer closed the connection"
    TRANSPORT_ERROR = "transport error"
    FRAMING_LOST = "framing lost (bad command_length)"
    ENQUIRE_LINK_TIMEOUT = "peer did not answer enquire_link"
    UNBIND_TIMEOUT = "peer did not answer unbind"
    SESSION_INIT_TIMEOUT = "no bind within session_init_timeout"
    LOCAL_CLOSE = "closed locally"


@attrs.frozen
class RequestReceived:
    """The peer sent a request the application must handle (and answer, if it has a
    response).  Binds surface here in the SMSC role: the application decides."""

    pdu: Pdu


@attrs.frozen
class ResponseReceived:
    """A response (or a generic_nack) settled one of our outstanding requests."""

    request: Pdu
    response: Pdu


@attrs.frozen
class RequestFailed:
    """One of our outstanding requests will never get a response."""

    request: Pdu
    reason: FailureReason
    detail: str = ""


@attrs.frozen
class UnexpectedResponse:
    """A response that matches nothing outstanding (late, duplicate or wrong command)."""

    pdu: Pdu


@attrs.frozen
class RequestRejected:
    """A request the session answered by itself with an error status (wrong bind state,
    already bound, too many pending requests) or dropped (no response PDU exists)."""

    pdu: Pdu
    command_status: int


@attrs.frozen
class BadPdu:
    """Bytes that did not decode; ``answered`` says whether a response was sent."""

    failure: DecodeFailure
    answered: bool


@attrs.frozen
class StateChanged:
    old: SessionState
    new: SessionState


@attrs.frozen
class SessionEnded:
    """The session is over: flush :meth:`data_to_send`, close the transport, then call
    :meth:`Session.connection_lost` (which fails whatever is still in flight)."""

    reason: EndReason
    detail: str = ""


Event = (
    RequestReceived
    | ResponseReceived
    | RequestFailed
    | UnexpectedResponse
    | RequestRejected
    | BadPdu
    | StateChanged
    | SessionEnded
)


_positive = attrs.validators.gt(0)
_positive_float = attrs.validators.gt(0.0)


def _optional_positive(_inst: Any, attribute: Any, value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be positive or None, got {value!r}")


@attrs.frozen(kw_only=True)
class SessionConfig:
    """Limits and timer lengths (seconds) for one session; None disables a timer."""

    window: int = attrs.field(default=10, validator=_positive)
    response_timeout: float = attrs.field(default=30.0, validator=_positive_float)
    enquire_link_interval: float | None = attrs.field(default=30.0, validator=_optional_positive)
    session_init_timeout: float | None = attrs.field(default=30.0, validator=_optional_positive)
    inactivity_timeout: float | None = attrs.field(default=None, validator=_optional_positive)
    max_inbound_pending: int = attrs.field(default=100, validator=_positive)
    max_command_length: int = attrs.field(default=70_000, validator=_positive)
    enquire_link_before_bind: bool = False
    first_sequence_number: int = attrs.field(default=1, validator=_positive)


@attrs.frozen(kw_only=True)
class SessionStatistics:
    role: Role
    state: SessionState
    window_size: int
    window_used: int
    requests_in_flight: int
    inbound_pending: int
    pdus_in: int
    pdus_out: int
    bytes_in: int
    bytes_out: int
    bad_pdus: int
    rejected_requests: int
    #: Of ``rejected_requests``: those refused because :meth:`Session.refuse_requests` was called.
    refused_requests: int
    unexpected_responses: int
    last_activity: float | None
