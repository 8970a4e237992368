"""Sequence numbers, window, responses, bad input and timers of the sans-I/O session
(time given as plain numbers)."""

from __future__ import annotations

import pytest

from smppcore.protocol.enums import CommandId, CommandStatus
from smppcore.protocol.pdu import (
    BindReceiver,
    BindTransceiver,
    DeliverSm,
    EnquireLink,
    GenericNack,
    Outbind,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from smppcore.protocol.session import (
    MAX_SEQUENCE_NUMBER,
    Session,
    SessionStateError,
    WindowFullError,
)
from smppcore.protocol.session_events import (
    BadPdu,
    EndReason,
    FailureReason,
    RequestFailed,
    RequestReceived,
    RequestRejected,
    ResponseReceived,
    SessionConfig,
    SessionEnded,
    StateChanged,
    UnexpectedResponse,
)
from smppcore.protocol.states import Role, SessionState

from .helpers import drain, feed, sent_pdus, session_in

TRX = SessionState.BOUND_TRX


def test_sequence_numbers_wrap_to_one_and_skip_in_flight() -> None:
    config = SessionConfig(window=5, first_sequence_number=MAX_SEQUENCE_NUMBER - 1)
    esme = Session(Role.ESME, config, now=0)
    bind = esme.send_request(BindTransceiver(), 0)
    assert bind.sequence_number == MAX_SEQUENCE_NUMBER - 1
    feed(esme, bind.response())
    seqs = [esme.send_request(SubmitSm(), 0).sequence_number for _ in range(3)]
    assert seqs == [MAX_SEQUENCE_NUMBER, 1, 2]
    # Settle 1 and 2, keep MAX in flight; walk the counter round again.
    feed(esme, SubmitSmResp(sequence_number=1))
    feed(esme, SubmitSmResp(sequence_number=2))
    esme._next_seq = MAX_SEQUENCE_NUMBER  # as if 2**31 requests went by
    assert esme.send_request(SubmitSm(), 0).sequence_number == 1  # MAX still in flight


def test_directions_have_separate_sequence_spaces() -> None:
    esme = session_in(Role.ESME, TRX)
    ours = esme.send_request(SubmitSm(), 0)
    # The SMSC uses the same number for its own deliver_sm: a request, not our response.
    events = feed(esme, DeliverSm(sequence_number=ours.sequence_number))
    assert [type(e) for e in events] == [RequestReceived]
    assert esme.statistics().requests_in_flight == 1


def test_window_full_and_freed_by_response() -> None:
    esme = session_in(Role.ESME, TRX, SessionConfig(window=2))
    a = esme.send_request(SubmitSm(), 0)
    esme.send_request(SubmitSm(), 0)
    with pytest.raises(WindowFullError):
        esme.send_request(SubmitSm(), 0)
    esme.send_request(EnquireLink(), 0)  # outside the window
    feed(esme, a.response(message_id="1"))
    assert esme.window_available == 1
    esme.send_request(SubmitSm(), 0)


def test_generic_nack_settles_named_request_and_unexpected_is_reported() -> None:
    esme = session_in(Role.ESME, TRX)
    a = esme.send_request(SubmitSm(), 0)
    nack = GenericNack(
        sequence_number=a.sequence_number, command_status=CommandStatus.ESME_RINVCMDLEN
    )
    (event,) = feed(esme, nack)
    assert event == ResponseReceived(a, nack)
    assert esme.window_available == esme.config.window
    late = SubmitSmResp(sequence_number=a.sequence_number, message_id="x")
    assert feed(esme, late) == [UnexpectedResponse(late)]
    b = esme.send_request(SubmitSm(), 0)
    wrong = DeliverSm(sequence_number=b.sequence_number).response()
    assert feed(esme, wrong) == [UnexpectedResponse(wrong)]
    assert esme.statistics().requests_in_flight == 1
    assert sent_pdus(esme)[-1] == b  # nothing was answered to a response


def test_smsc_binds_only_when_application_accepts() -> None:
    smsc = Session(Role.SMSC, now=0)
    (event,) = feed(smsc, BindTransceiver(system_id="acct", sequence_number=5))
    assert isinstance(event, RequestReceived)
    assert smsc.state is SessionState.OPEN
    # A second bind while the first is pending: already bound.
    feed(smsc, BindTransceiver(sequence_number=6))
    assert sent_pdus(smsc)[0].command_status == CommandStatus.ESME_RALYBND
    smsc.send_response(event.pdu.response(command_status=CommandStatus.ESME_RINVPASWD), 0)
    assert smsc.state is SessionState.OPEN
    (event,) = feed(smsc, BindTransceiver(system_id="acct", sequence_number=7))
    smsc.send_response(event.pdu.response(system_id="us"), 0)
    assert smsc.state is TRX
    assert drain(smsc) == [StateChanged(SessionState.OPEN, TRX)]


def test_esme_bind_refused_stays_open_and_may_retry() -> None:
    esme = Session(Role.ESME, now=0)
    bind = esme.send_request(BindTransceiver(), 0)
    events = feed(esme, bind.response(command_status=CommandStatus.ESME_RBINDFAIL))
    assert [type(e) for e in events] == [ResponseReceived]
    assert esme.state is SessionState.OPEN
    esme.send_request(BindTransceiver(), 0)


@pytest.mark.parametrize("initiator", [Role.ESME, Role.SMSC])
def test_unbind_handshake_either_side(initiator: Role) -> None:
    a = session_in(initiator, TRX)
    b = session_in(initiator.peer, TRX)
    pending = a.send_request(SubmitSm() if initiator is Role.ESME else DeliverSm(), 0)
    a.send_unbind(0)
    b.receive_data(a.data_to_send(), 1)
    events_b = drain(b)
    assert SessionEnded(EndReason.UNBOUND, "peer sent unbind") in events_b
    assert b.state is SessionState.UNBOUND
    a.receive_data(b.data_to_send(), 2)  # unbind_resp (request itself still unanswered)
    events_a = drain(a)
    assert a.state is SessionState.UNBOUND
    assert any(isinstance(e, SessionEnded) for e in events_a)
    failed = a.connection_lost(EndReason.UNBOUND)
    assert (
        RequestFailed(pending, FailureReason.SESSION_CLOSED, "unbind handshake completed") in failed
    )
    assert a.state is SessionState.CLOSED
    assert a.statistics().window_used == 0


def test_bad_input_answers() -> None:
    smsc = session_in(Role.SMSC, TRX)
    # unknown command id → generic_nack RINVCMDID with its sequence number, session lives
    smsc.receive_data(bytes.fromhex("00000010 00000099 00000000 0000002A"), 0)
    events = drain(smsc)
    assert isinstance(events[0], BadPdu) and events[0].answered
    (nack,) = sent_pdus(smsc)
    assert nack == GenericNack(sequence_number=42, command_status=CommandStatus.ESME_RINVCMDID)
    # a known request whose body is cut short → its own _resp with a status
    smsc.receive_data(bytes.fromhex("00000012 00000004 00000000 0000002B 0000"), 0)
    drain(smsc)
    (resp,) = sent_pdus(smsc)
    assert resp.command_id == CommandId.SUBMIT_SM_RESP and resp.sequence_number == 43
    assert resp.command_status != CommandStatus.ESME_ROK
    # a broken response is never answered
    smsc.receive_data(bytes.fromhex("00000010 80000099 00000000 0000002C"), 0)
    drain(smsc)
    assert sent_pdus(smsc) == []
    # command_length 8 → generic_nack RINVCMDLEN, then the session ends (framing lost)
    smsc.receive_data(bytes.fromhex("00000008 00000004 00000000 0000002D"), 0)
    events = drain(smsc)
    assert any(isinstance(e, SessionEnded) and e.reason is EndReason.FRAMING_LOST for e in events)
    (nack,) = sent_pdus(smsc)
    assert nack.command_id == CommandId.GENERIC_NACK
    assert nack.command_status == CommandStatus.ESME_RINVCMDLEN


def test_inbound_overload_is_throttled_not_queued() -> None:
    smsc = session_in(Role.SMSC, TRX, SessionConfig(max_inbound_pending=2))
    for seq in (10, 11, 12):
        feed(smsc, SubmitSm(sequence_number=seq))
    (throttled,) = sent_pdus(smsc)
    assert throttled.sequence_number == 12
    assert throttled.command_status == CommandStatus.ESME_RTHROTTLED
    # enquire_link is still answered at once
    feed(smsc, EnquireLink(sequence_number=13))
    assert sent_pdus(smsc)[0].command_id == CommandId.ENQUIRE_LINK_RESP
    smsc.send_response(SubmitSm(sequence_number=10).response(message_id="a"), 0)
    feed(smsc, SubmitSm(sequence_number=14))
    assert smsc.statistics().inbound_pending == 2


# ---------------------------------------------------------------- timers
def test_enquire_link_after_idle_and_dead_peer() -> None:
    cfg = SessionConfig(enquire_link_interval=30, response_timeout=10, session_init_timeout=None)
    esme = session_in(Role.ESME, TRX, cfg)
    assert esme.next_deadline() == 30
    assert esme.handle_timer(29) == []
    assert esme.data_to_send() == b""
    esme.handle_timer(30)
    (enquire,) = sent_pdus(esme)
    assert enquire.command_id == CommandId.ENQUIRE_LINK
    assert esme.next_deadline() == 40
    events = esme.handle_timer(40)
    assert events == [SessionEnded(EndReason.ENQUIRE_LINK_TIMEOUT)]


def test_enquire_link_answered_keeps_session() -> None:
    cfg = SessionConfig(enquire_link_interval=30, response_timeout=10)
    esme = session_in(Role.ESME, TRX, cfg)
    esme.handle_timer(30)
    (enquire,) = sent_pdus(esme)
    assert feed(esme, enquire.response(), now=31) == []
    assert esme.next_deadline() == 61
    assert esme.handle_timer(45) == []


def test_pdu_hook_sees_every_pdu_each_way_automatic_answers_included() -> None:
    seen: list[tuple[str, int, int]] = []
    smsc = Session(Role.SMSC, now=0.0, on_pdu=lambda *pdu: seen.append(pdu))
    feed(smsc, EnquireLink(sequence_number=1))  # answered by the session itself
    smsc.receive_data(bytes.fromhex("00000010 00000099 00000000 0000002A"), 0)  # bad: nacked
    drain(smsc)
    (bind,) = [e for e in feed(smsc, BindTransceiver(sequence_number=3))
               if isinstance(e, RequestReceived)]  # fmt: skip
    smsc.send_response(bind.pdu.response(system_id="smsc"), 0.0)
    nack, rinvcmdid = CommandId.GENERIC_NACK, CommandStatus.ESME_RINVCMDID
    assert seen == [
        ("in", CommandId.ENQUIRE_LINK, 0),
        ("out", CommandId.ENQUIRE_LINK_RESP, 0),
        ("out", nack, rinvcmdid),  # (what did not decode is a BadPdu, counted apart)
        ("in", CommandId.BIND_TRANSCEIVER, 0),
        ("out", CommandId.BIND_TRANSCEIVER_RESP, 0),
    ]


def test_missing_response_fails_request_at_its_deadline() -> None:
    esme = session_in(Role.ESME, TRX, SessionConfig(response_timeout=5, enquire_link_interval=None))
    a = esme.send_request(SubmitSm(), 100)
    b = esme.send_request(SubmitSm(), 102, timeout=1)
    assert esme.next_deadline() == 103
    assert esme.handle_timer(103) == [RequestFailed(b, FailureReason.TIMEOUT, "no response")]
    assert esme.handle_timer(104.9) == []
    assert esme.handle_timer(105) == [RequestFailed(a, FailureReason.TIMEOUT, "no response")]
    assert esme.window_available == esme.config.window
    late = a.response(message_id="x")
    assert feed(esme, late) == [UnexpectedResponse(late)]


def test_session_init_timeout() -> None:
    smsc = Session(Role.SMSC, SessionConfig(session_init_timeout=30), now=0)
    assert smsc.next_deadline() == 30
    assert smsc.handle_timer(30) == [SessionEnded(EndReason.SESSION_INIT_TIMEOUT)]
    assert smsc.next_deadline() is None


def test_inactivity_timeout_starts_unbind() -> None:
    cfg = SessionConfig(inactivity_timeout=300, enquire_link_interval=30, response_timeout=10)
    smsc = session_in(Role.SMSC, TRX, cfg)
    for t in range(30, 300, 30):  # enquire_links keep the link alive but are not activity
        smsc.handle_timer(t)
        (enquire,) = sent_pdus(smsc)
        feed(smsc, enquire.response(), now=t)
    smsc.handle_timer(300)
    assert Unbind in {type(p) for p in sent_pdus(smsc)}
    events = smsc.handle_timer(310)
    assert events == [SessionEnded(EndReason.UNBIND_TIMEOUT)]


def test_no_past_deadline_while_an_unbind_awaits_its_response() -> None:
    """While our unbind is unanswered no enquire_link is sent, so its due time must not
    be reported as a deadline: the timer task would wake, find nothing to do and wake
    again at once until the unbind times out (a busy loop)."""
    cfg = SessionConfig(enquire_link_interval=5, response_timeout=30, session_init_timeout=None)
    esme = session_in(Role.ESME, TRX, cfg)
    esme.send_unbind(1)
    sent_pdus(esme)
    assert esme.next_deadline() == 31  # the unbind's own deadline, not 0 + 5
    assert esme.handle_timer(10) == []
    deadline = esme.next_deadline()
    assert deadline is not None and deadline > 10


def test_undecodable_unbind_resp_still_ends_the_session() -> None:
    """An unbind_resp that does not decode still answers our unbind: the session ends
    (otherwise it stays half-unbound: no keep-alive, no new requests, no end)."""
    cfg = SessionConfig(enquire_link_interval=None, session_init_timeout=None)
    esme = session_in(Role.ESME, TRX, cfg)
    unbind = esme.send_unbind(1)
    sent_pdus(esme)
    # unbind_resp with a 1-octet stray trailer: not a TLV stream
    bad = (17).to_bytes(4, "big") + (0x80000006).to_bytes(4, "big") + bytes(4)
    esme.receive_data(bad + unbind.sequence_number.to_bytes(4, "big") + b"\x00", 2)
    events = drain(esme)
    assert any(isinstance(e, BadPdu) for e in events)
    assert SessionEnded(EndReason.UNBOUND) in events
    assert esme.state is SessionState.UNBOUND


def test_close_fails_everything_in_flight() -> None:
    esme = session_in(Role.ESME, TRX)
    reqs = [esme.send_request(SubmitSm(), 0) for _ in range(3)]
    events = esme.connection_lost(EndReason.PEER_CLOSED)
    failed = [e.request for e in events if isinstance(e, RequestFailed)]
    assert failed == reqs
    assert all(
        e.reason is FailureReason.SESSION_CLOSED for e in events if isinstance(e, RequestFailed)
    )
    assert esme.state is SessionState.CLOSED
    with pytest.raises(SessionStateError):
        esme.send_request(SubmitSm(), 0)


def test_wrong_state_request_is_answered_not_fatal() -> None:
    esme = session_in(Role.ESME, SessionState.BOUND_TX)
    events = feed(esme, DeliverSm(sequence_number=9))
    assert [type(e) for e in events] == [RequestRejected]
    (resp,) = sent_pdus(esme)
    assert resp.command_status == CommandStatus.ESME_RINVBNDSTS
    assert esme.state is SessionState.BOUND_TX
    assert esme.ended is None


def test_outbind_flow_esme_side() -> None:
    """SMSC connects and sends outbind; the ESME application answers with a bind."""
    esme = Session(Role.ESME, now=0)
    smsc = Session(Role.SMSC, now=0)
    smsc.send_request(Outbind(system_id="smsc", password="pw"), 0)
    assert smsc.state is SessionState.OUTBOUND
    esme.receive_data(smsc.data_to_send(), 0)
    events = drain(esme)
    assert isinstance(events[-1], RequestReceived) and esme.state is SessionState.OUTBOUND
    assert esme.data_to_send() == b""  # outbind has no response
    bind = esme.send_request(BindReceiver(system_id="e"), 0)
    smsc.receive_data(esme.data_to_send(), 0)
    (req,) = [e for e in drain(smsc) if isinstance(e, RequestReceived)]
    smsc.send_response(req.pdu.response(system_id="smsc"), 0)
    esme.receive_data(smsc.data_to_send(), 0)
    assert ResponseReceived(bind, req.pdu.response(system_id="smsc")) in drain(esme)
    assert esme.state is SessionState.BOUND_RX and smsc.state is SessionState.BOUND_RX
    stats = esme.statistics()
    assert stats.rejected_requests == 0 and stats.unexpected_responses == 0


def test_an_enquire_link_the_application_sends_gets_its_response() -> None:
    # The keep-alive the session sends itself produces no events; one the application
    # sends is an ordinary request and must be answered to its caller.
    esme = session_in(Role.ESME, TRX, SessionConfig(window=1))
    esme.send_request(SubmitSm(), 0)  # fills the window: enquire_link stays outside it
    ping = esme.send_request(EnquireLink(), 0)
    events = feed(esme, ping.response())
    assert [type(e) for e in events] == [ResponseReceived]
    assert events[0].request == ping


def test_an_enquire_link_the_application_sends_fails_at_its_deadline() -> None:
    esme = session_in(Role.ESME, TRX, SessionConfig(response_timeout=5))
    ping = esme.send_request(EnquireLink(), 0)
    events = esme.handle_timer(6)
    failed = [e for e in events if isinstance(e, RequestFailed)]
    assert [(f.request, f.reason) for f in failed] == [(ping, FailureReason.TIMEOUT)]
    assert esme.ended is EndReason.ENQUIRE_LINK_TIMEOUT
