"""``Session.refuse_requests``: a stopping server answers every new request itself and keeps
serving what it took before, enquire_link and the unbind handshake."""

from __future__ import annotations

from smppcore.protocol.enums import CommandId, CommandStatus
from smppcore.protocol.pdu import (
    BindTransceiver,
    EnquireLink,
    QuerySm,
    SubmitSm,
    Unbind,
    UnbindResp,
)
from smppcore.protocol.session import Session
from smppcore.protocol.session_events import RequestReceived, RequestRejected
from smppcore.protocol.states import Role, SessionState

from .helpers import feed, sent_pdus, session_in

THROTTLED = int(CommandStatus.ESME_RTHROTTLED)


def test_requests_after_the_call_are_answered_with_the_status_and_earlier_ones_stay_open() -> None:
    smsc = session_in(Role.SMSC, SessionState.BOUND_TRX)
    (taken,) = feed(smsc, SubmitSm(sequence_number=10))
    assert isinstance(taken, RequestReceived)
    smsc.refuse_requests(THROTTLED)
    assert smsc.refusing

    late = SubmitSm(sequence_number=11)
    assert feed(smsc, late) == [RequestRejected(late, THROTTLED)]
    query = QuerySm(sequence_number=12)
    assert feed(smsc, query) == [RequestRejected(query, THROTTLED)]
    assert feed(smsc, EnquireLink(sequence_number=13)) == []
    answers = sent_pdus(smsc)
    assert [(p.command_id, p.sequence_number, p.command_status) for p in answers] == [
        (CommandId.SUBMIT_SM_RESP, 11, THROTTLED),
        (CommandId.QUERY_SM_RESP, 12, THROTTLED),
        (CommandId.ENQUIRE_LINK_RESP, 13, 0),
    ]
    # The request taken before the call is still the application's to answer.
    assert smsc.statistics().inbound_pending == 1
    smsc.send_response(taken.pdu.response(message_id="m1"), 0.0)
    (resp,) = sent_pdus(smsc)
    assert (resp.sequence_number, resp.command_status) == (10, 0)
    stats = smsc.statistics()
    assert stats.inbound_pending == 0
    assert stats.refused_requests == 2 and stats.rejected_requests == 2


def test_refusing_lasts_through_our_unbind_and_the_handshake_completes() -> None:
    smsc = session_in(Role.SMSC, SessionState.BOUND_TRX)
    smsc.refuse_requests(THROTTLED)
    unbind = smsc.send_unbind(0.0)
    sent_pdus(smsc)
    # What the peer sent before it saw our unbind gets the same answer as before it.
    late = SubmitSm(sequence_number=20)
    assert feed(smsc, late) == [RequestRejected(late, THROTTLED)]
    (refusal,) = sent_pdus(smsc)
    assert refusal.command_status == THROTTLED
    feed(smsc, UnbindResp(sequence_number=unbind.sequence_number))
    assert smsc.state is SessionState.UNBOUND and smsc.ended is not None


def test_the_peers_own_unbind_is_served_while_refusing() -> None:
    smsc = session_in(Role.SMSC, SessionState.BOUND_TX)
    smsc.refuse_requests(THROTTLED)
    feed(smsc, Unbind(sequence_number=30))
    (resp,) = sent_pdus(smsc)
    assert resp.command_id == CommandId.UNBIND_RESP and resp.command_status == 0
    assert smsc.ended is not None


def test_a_bind_on_a_refusing_session_is_refused_and_binds_nothing() -> None:
    smsc = Session(Role.SMSC, now=0.0)
    smsc.refuse_requests(THROTTLED)
    bind = BindTransceiver(system_id="acct", sequence_number=1)
    assert feed(smsc, bind) == [RequestRejected(bind, THROTTLED)]
    (resp,) = sent_pdus(smsc)
    assert resp.command_id == CommandId.BIND_TRANSCEIVER_RESP
    assert resp.command_status == THROTTLED
    assert smsc.state is SessionState.OPEN
