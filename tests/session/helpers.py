"""Drive sans-I/O sessions without sockets: build one in any state, feed it PDUs."""

from __future__ import annotations

from smppcore.protocol.codec import decode, encode
from smppcore.protocol.enums import CommandId
from smppcore.protocol.pdu import (
    PDU_CLASSES,
    AlertNotification,
    BindTransceiver,
    Outbind,
    Pdu,
    SmeAddress,
    SubmitMulti,
    Unbind,
)
from smppcore.protocol.session import Session
from smppcore.protocol.session_events import Event, RequestReceived, SessionConfig
from smppcore.protocol.states import Role, SessionState

REQUEST_IDS = sorted(cid for cid in PDU_CLASSES if not cid & 0x80000000)
STATES = [s for s in SessionState if s is not SessionState.CLOSED]


def request_of(command_id: int) -> Pdu:
    if command_id == CommandId.SUBMIT_MULTI:
        return SubmitMulti(dest_addresses=(SmeAddress(destination_addr="1"),))
    return PDU_CLASSES[command_id]()


def drain(session: Session) -> list[Event]:
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


def feed(session: Session, pdu: Pdu, now: float = 0.0) -> list[Event]:
    session.receive_data(encode(pdu), now)
    return drain(session)


def sent_pdus(session: Session) -> list[Pdu]:
    data = session.data_to_send()
    out = []
    while data:
        length = int.from_bytes(data[:4], "big")
        out.append(decode(data[:length]))
        data = data[length:]
    return out


def session_in(role: Role, state: SessionState, config: SessionConfig | None = None) -> Session:
    """A session of ``role`` brought to ``state`` by a real exchange; outbox emptied."""
    session = Session(role, config, now=0.0)
    bound = {
        SessionState.BOUND_TX: "BindTransmitter",
        SessionState.BOUND_RX: "BindReceiver",
        SessionState.BOUND_TRX: "BindTransceiver",
    }
    if state is SessionState.OUTBOUND:
        if role is Role.ESME:
            feed(session, Outbind(system_id="smsc", sequence_number=1))
        else:
            session.send_request(Outbind(system_id="smsc"), 0.0)
    elif state in bound or state is SessionState.UNBOUND:
        name = bound.get(state, "BindTransceiver")
        bind_cls = next(c for c in PDU_CLASSES.values() if c.__name__ == name)
        if role is Role.ESME:
            request = session.send_request(bind_cls(system_id="e", password="p"), 0.0)
            feed(session, request.response(system_id="smsc"))
        else:
            (event,) = [
                e
                for e in feed(session, bind_cls(sequence_number=1))
                if isinstance(e, RequestReceived)
            ]
            session.send_response(event.pdu.response(system_id="smsc"), 0.0)
        if state is SessionState.UNBOUND:
            feed(session, Unbind(sequence_number=2))
    drain(session)
    session.data_to_send()
    assert session.state is state, (role, state, session.state)
    return session


__all__ = [
    "REQUEST_IDS",
    "STATES",
    "AlertNotification",
    "BindTransceiver",
    "drain",
    "feed",
    "request_of",
    "sent_pdus",
    "session_in",
]
