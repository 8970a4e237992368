"""Every (state, command, direction) against reference §2.2, transcribed independently."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.protocol.enums import CommandId, CommandStatus
from smppcore.protocol.session import SessionStateError
from smppcore.protocol.session_events import (
    RequestReceived,
    RequestRejected,
    SessionEnded,
    StateChanged,
)
from smppcore.protocol.states import Role, SessionState

from .helpers import REQUEST_IDS, STATES, feed, request_of, sent_pdus, session_in

S = SessionState
E, C = Role.ESME, Role.SMSC
OPEN, OUTB, TX, RX, TRX, UNB = S.OPEN, S.OUTBOUND, S.BOUND_TX, S.BOUND_RX, S.BOUND_TRX, S.UNBOUND

# Reference §2.2 (incl. footnotes 1 and 2), written out by hand: sender → allowed states.
REFERENCE: dict[CommandId, dict[Role, set[SessionState]]] = {
    CommandId.BIND_RECEIVER: {E: {OPEN, OUTB}},
    CommandId.BIND_TRANSMITTER: {E: {OPEN, OUTB}},
    CommandId.BIND_TRANSCEIVER: {E: {OPEN, OUTB}},
    CommandId.QUERY_SM: {E: {TX, TRX}},
    CommandId.SUBMIT_SM: {E: {TX, TRX}},
    CommandId.DELIVER_SM: {C: {RX, TRX}},
    CommandId.UNBIND: {E: {TX, RX, TRX}, C: {TX, RX, TRX}},
    CommandId.REPLACE_SM: {E: {TX, TRX}},
    CommandId.CANCEL_SM: {E: {TX, TRX}},
    CommandId.OUTBIND: {C: {OPEN}},
    CommandId.ENQUIRE_LINK: {E: {OPEN, OUTB, TX, RX, TRX, UNB}, C: {OPEN, OUTB, TX, RX, TRX, UNB}},
    CommandId.SUBMIT_MULTI: {E: {TX, TRX}},
    CommandId.ALERT_NOTIFICATION: {C: {RX, TRX}},
    CommandId.DATA_SM: {E: {TX, TRX}, C: {RX, TRX}},
}

COMBOS = [(state, cid, sender) for state in STATES for cid in REQUEST_IDS for sender in Role]


def expected_allowed(state: SessionState, cid: int, sender: Role) -> bool:
    return state in REFERENCE[CommandId(cid)].get(sender, set())


@pytest.mark.parametrize(("state", "cid", "sender"), COMBOS)
def test_receiving(state: SessionState, cid: int, sender: Role) -> None:
    """The receiver (role = sender's peer) answers exactly as the reference says."""
    session = session_in(sender.peer, state)
    request = request_of(cid).__class__(**{**_fields(request_of(cid)), "sequence_number": 77})
    events = feed(session, request)
    answers = sent_pdus(session)
    has_response = type(request).response_class is not None
    if expected_allowed(state, cid, sender):
        assert not any(isinstance(e, RequestRejected) for e in events)
        if cid in (CommandId.ENQUIRE_LINK, CommandId.UNBIND):
            (answer,) = answers
            assert answer.command_id == cid | 0x80000000
            assert answer.command_status == CommandStatus.ESME_ROK
            assert answer.sequence_number == 77
            if cid == CommandId.UNBIND:
                assert session.state is S.UNBOUND
                assert any(isinstance(e, SessionEnded) for e in events)
        else:
            assert answers == []
            assert [e.pdu for e in events if isinstance(e, RequestReceived)] == [request]
            if cid == CommandId.OUTBIND:
                assert StateChanged(OPEN, OUTB) in events
    else:
        assert not any(isinstance(e, RequestReceived) for e in events)
        assert any(isinstance(e, RequestRejected) for e in events)
        if not has_response:
            assert answers == []
        else:
            (answer,) = answers
            assert answer.command_id == cid | 0x80000000
            assert answer.sequence_number == 77
            already = sender is E and cid in (1, 2, 9) and state in (TX, RX, TRX)
            status = CommandStatus.ESME_RALYBND if already else CommandStatus.ESME_RINVBNDSTS
            assert answer.command_status == status
        assert session.state is state


@pytest.mark.parametrize(("state", "cid", "sender"), COMBOS)
def test_sending(state: SessionState, cid: int, sender: Role) -> None:
    """The sending side refuses exactly what the reference forbids."""
    session = session_in(sender, state)
    if expected_allowed(state, cid, sender):
        sent = session.send_request(request_of(cid), 1.0)
        (wire,) = sent_pdus(session)
        assert wire == sent
        assert 1 <= sent.sequence_number <= 0x7FFFFFFF
    else:
        with pytest.raises(SessionStateError):
            session.send_request(request_of(cid), 1.0)
        assert session.data_to_send() == b""


def _fields(pdu: object) -> dict[str, object]:
    import attrs

    return attrs.asdict(pdu, recurse=False)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    state=st.sampled_from(STATES),
    cid=st.sampled_from(REQUEST_IDS),
    sender=st.sampled_from(list(Role)),
    seq=st.integers(0, 0xFFFFFFFF),
)
def test_answers_echo_any_sequence_number(
    state: SessionState, cid: int, sender: Role, seq: int
) -> None:
    """Whatever the peer's sequence number (0 and >= 0x80000000 included), every answer the
    session gives, automatic or by the application, echoes it."""
    session = session_in(sender.peer, state)
    request = request_of(cid).__class__(**{**_fields(request_of(cid)), "sequence_number": seq})
    events = feed(session, request)
    for event in events:
        if isinstance(event, RequestReceived) and type(event.pdu).response_class is not None:
            session.send_response(event.pdu.response(), 2.0)
    for answer in sent_pdus(session):
        assert answer.sequence_number == seq
        assert answer.command_id in (cid | 0x80000000, CommandId.GENERIC_NACK)
