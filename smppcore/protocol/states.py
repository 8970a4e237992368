"""SMPP bind states and the command/state table (reference §2.1, §2.2).

Owns: :class:`SessionState`, :class:`Role` and :data:`TRANSITIONS`, the one table that says
which request may be *sent by whom* in which state and which state a successful exchange
leads to.  Everything missing from the table is not allowed: the receiving side answers
``ESME_RINVBNDSTS`` (``ESME_RALYBND`` for a bind on a bound session), the sending side
refuses to send it.

Footnotes of the reference applied here: replace_sm is accepted in BOUND_TRX (v5.0);
data_sm goes ESME→SMSC in TX, SMSC→ESME in RX and both ways in TRX; enquire_link (and
generic_nack, which is a response and therefore not in this table) are allowed in every
connected state; binds are accepted in OUTBOUND (v5.0).  The v5.0 broadcast commands are
listed for TX/TRX.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from .enums import CommandId

__all__ = [
    "BIND_COMMANDS",
    "BOUND_STATES",
    "TRANSITIONS",
    "Role",
    "SessionState",
    "allowed",
    "next_state",
]


class SessionState(enum.Enum):
    """Session states of reference §2.1 (v5.0 names for OUTBOUND and UNBOUND)."""

    OPEN = "open"
    OUTBOUND = "outbound"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBOUND = "unbound"
    CLOSED = "closed"


class Role(enum.Enum):
    """Which side of the protocol an endpoint plays; also the *sender* of a request."""

    ESME = "esme"
    SMSC = "smsc"

    @property
    def peer(self) -> Role:
        return Role.SMSC if self is Role.ESME else Role.ESME


BOUND_STATES = frozenset({SessionState.BOUND_TX, SessionState.BOUND_RX, SessionState.BOUND_TRX})

#: bind request → the state an ``ESME_ROK`` response leads to.
BIND_COMMANDS: Mapping[CommandId, SessionState] = MappingProxyType(
    {
        CommandId.BIND_TRANSMITTER: SessionState.BOUND_TX,
        CommandId.BIND_RECEIVER: SessionState.BOUND_RX,
        CommandId.BIND_TRANSCEIVER: SessionState.BOUND_TRX,
    }
)

_S = SessionState
_ESME = Role.ESME
_SMSC = Role.SMSC


def _build() -> dict[tuple[SessionState, CommandId, Role], SessionState]:
    table: dict[tuple[SessionState, CommandId, Role], SessionState] = {}

    def allow(states: tuple[SessionState, ...], command: CommandId, sender: Role) -> None:
        for state in states:
            # Most exchanges leave the state alone; binds, outbind and unbind move it.
            if command in BIND_COMMANDS:
                after = BIND_COMMANDS[command]
            elif command is CommandId.OUTBIND:
                after = _S.OUTBOUND
            elif command is CommandId.UNBIND:
                after = _S.UNBOUND
            else:
                after = state
            table[(state, command, sender)] = after

    tx_trx = (_S.BOUND_TX, _S.BOUND_TRX)
    rx_trx = (_S.BOUND_RX, _S.BOUND_TRX)
    bound = (_S.BOUND_TX, _S.BOUND_RX, _S.BOUND_TRX)
    for bind in BIND_COMMANDS:
        allow((_S.OPEN, _S.OUTBOUND), bind, _ESME)
    for command in (
        CommandId.QUERY_SM,
        CommandId.SUBMIT_SM,
        CommandId.REPLACE_SM,  # footnote 1: TRX too
        CommandId.CANCEL_SM,
        CommandId.SUBMIT_MULTI,
        CommandId.BROADCAST_SM,
        CommandId.QUERY_BROADCAST_SM,
        CommandId.CANCEL_BROADCAST_SM,
    ):
        allow(tx_trx, command, _ESME)
    allow(rx_trx, CommandId.DELIVER_SM, _SMSC)
    allow(rx_trx, CommandId.ALERT_NOTIFICATION, _SMSC)
    # footnote 2: data_sm ESME→SMSC in TX, SMSC→ESME in RX, both in TRX.
    allow(tx_trx, CommandId.DATA_SM, _ESME)
    allow(rx_trx, CommandId.DATA_SM, _SMSC)
    for sender in (_ESME, _SMSC):
        allow(bound, CommandId.UNBIND, sender)
        allow((_S.OPEN, _S.OUTBOUND, *bound, _S.UNBOUND), CommandId.ENQUIRE_LINK, sender)
    allow((_S.OPEN,), CommandId.OUTBIND, _SMSC)
    return table


#: ``(state, request command, sender) → state after a successful exchange``.
TRANSITIONS: Mapping[tuple[SessionState, CommandId, Role], SessionState] = MappingProxyType(
    _build()
)


def allowed(state: SessionState, command: int, sender: Role) -> bool:
    """Whether ``sender`` may send request ``command`` in ``state``."""
    try:
        key = (state, CommandId(command), sender)
    except ValueError:
        return False
    return key in TRANSITIONS


def next_state(state: SessionState, command: int, sender: Role) -> SessionState | None:
    """The state a successful exchange of ``command`` leads to, or None if not allowed."""
    try:
        return TRANSITIONS.get((state, CommandId(command), sender))
    except ValueError:
        return None
