"""Bad input at the gateway edge, live: hypothesis-made garbage over real loopback TCP.

One in-process gateway (``mt_harness.running_gateway``) serves the whole test. Each example
opens its own connection, sends its bytes, half-closes, and reads whatever comes back until
the server closes, all under ``trio.fail_after``. What the server may answer: only
responses (``generic_nack`` or a ``*_resp``) with a defined status, and for the structured
cases the right one. Meanwhile a separate, well-behaved bound client keeps submitting; it
must never see an error, and it is still bound and answered at the end.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smppcore.protocol import DEFAULT_MAX_COMMAND_LENGTH, Framer, encode
from smppcore.protocol.enums import CommandId, CommandStatus
from smppcore.protocol.pdu import PDU_CLASSES, GenericNack, Pdu, SubmitSm

from .mt_harness import esme, running_gateway

_RESPONSE_BIT = 0x80000000
_EXAMPLES = 60
_SOURCE, _DEST = "27600000001", "27821234567"
#: Any status the server may legitimately put in an answer to bad input.
_ERROR_STATUSES = {int(s) for s in CommandStatus if s != CommandStatus.ESME_ROK}
#: Requests that have a response and are never valid with a junk or empty body when unbound
#: (enquire_link and unbind are valid with an empty body; outbind and alert_notification
#: have no response at all).
_ANSWERED_REQUESTS = sorted(
    int(cls.command_id)
    for cls in PDU_CLASSES.values()
    if cls.response_class is not None
    and not int(cls.command_id) & _RESPONSE_BIT
    and cls.command_id not in (CommandId.ENQUIRE_LINK, CommandId.UNBIND)
)
#: Answers that may carry ESME_ROK: a garbage stream can spell a valid enquire_link/unbind.
_MAY_BE_OK = {CommandId.ENQUIRE_LINK_RESP, CommandId.UNBIND_RESP}


def _header(length: int, command_id: int, status: int, seq: int) -> bytes:
    return struct.pack(">IIII", length, command_id, status, seq)


def _good_submit(seq: int) -> bytes:
    pdu = SubmitSm(
        sequence_number=seq,
        source_addr_ton=1, source_addr_npi=1, source_addr=_SOURCE,
        dest_addr_ton=1, dest_addr_npi=1, destination_addr=_DEST,
        short_message=b"hello",
    )  # fmt: skip
    return encode(pdu)


# --- the generated inputs: (kind, bytes, sequence number or None) ---------------------------

_seq = st.integers(1, 0x7FFFFFFF)

garbage = st.tuples(st.just("garbage"), st.binary(min_size=1, max_size=400), st.none())


@st.composite
def truncated(draw: st.DrawFn) -> tuple[str, bytes, int]:
    """A known request whose body is cut short or replaced by junk; the header is honest
    about the length actually sent, so framing survives and the PDU gets an answer."""
    seq = draw(_seq)
    command_id = draw(st.sampled_from(_ANSWERED_REQUESTS))
    if draw(st.booleans()):
        body = _good_submit(seq)[16:]
        body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
        command_id = int(CommandId.SUBMIT_SM)
    else:
        body = draw(st.binary(max_size=300))
    return "truncated", _header(16 + len(body), command_id, 0, seq) + body, seq


@st.composite
def unknown_command(draw: st.DrawFn) -> tuple[str, bytes, int]:
    seq = draw(_seq)
    known = {int(c) for c in CommandId}
    command_id = draw(st.integers(0, 0x7FFFFFFF).filter(lambda c: c not in known))
    body = draw(st.binary(max_size=40))
    return "unknown", _header(16 + len(body), command_id, 0, seq) + body, seq


@st.composite
def bad_length(draw: st.DrawFn) -> tuple[str, bytes, int]:
    """command_length below 16 or above the limit: framing is lost, the connection ends."""
    seq = draw(_seq)
    length = draw(
        st.one_of(st.integers(0, 15), st.integers(DEFAULT_MAX_COMMAND_LENGTH + 1, 0xFFFFFFFF))
    )
    tail = draw(st.binary(max_size=64))
    return "framing", _header(length, int(CommandId.SUBMIT_SM), 0, seq) + tail, seq


@st.composite
def wrong_state(draw: st.DrawFn) -> tuple[str, bytes, int]:
    """A well-formed submit_sm (or query/cancel-like request) on a connection never bound."""
    seq = draw(_seq)
    return "wrong_state", _good_submit(seq), seq


inputs = st.one_of(garbage, truncated(), unknown_command(), bad_length(), wrong_state())


# --- one probe ------------------------------------------------------------------------------


async def _probe(port: int, data: bytes) -> tuple[list[Pdu], bool]:
    """Send ``data`` on a fresh connection, half-close, collect what comes back until the
    server closes. Returns the PDUs and whether the byte stream framed cleanly."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            try:
                await stream.send_all(data)
                await stream.send_eof()
            except trio.BrokenResourceError:
                pass  # the server closed on a framing error before we finished writing
            received = bytearray()
            while True:
                try:
                    chunk = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    break
                if not chunk:
                    break
                received += chunk
    framer = Framer()
    framer.receive_data(bytes(received))
    pdus: list[Pdu] = []
    clean = True
    while (event := framer.next_event()) is not None:
        if isinstance(event, Pdu):
            pdus.append(event)
        else:
            clean = False
    return pdus, clean and framer.buffered == 0


def _check_answer(kind: str, data: bytes, seq: int | None, pdus: list[Pdu], clean: bool) -> None:
    assert clean, "the server's own bytes must frame"
    for pdu in pdus:
        assert int(pdu.command_id) & _RESPONSE_BIT, f"{kind}: server sent a request {pdu!r}"
        ok_allowed = kind == "garbage" and pdu.command_id in _MAY_BE_OK
        allowed = _ERROR_STATUSES | ({0} if ok_allowed else set())
        assert int(pdu.command_status) in allowed, f"{kind}: {pdu!r}"
    if kind == "wrong_state":
        (pdu,) = pdus
        assert pdu.command_id == CommandId.SUBMIT_SM_RESP
        assert (pdu.sequence_number, pdu.command_status) == (seq, CommandStatus.ESME_RINVBNDSTS)
    elif kind == "unknown":
        (pdu,) = pdus
        assert isinstance(pdu, GenericNack)
        assert (pdu.sequence_number, pdu.command_status) == (seq, CommandStatus.ESME_RINVCMDID)
    elif kind == "truncated":
        assert len(pdus) == 1, f"one answer to one complete (if bad) PDU: {pdus!r}"
        pdu = pdus[0]
        assert pdu.sequence_number == seq
        request_id = struct.unpack_from(">I", data, 4)[0]
        assert int(pdu.command_id) in (request_id | _RESPONSE_BIT, CommandId.GENERIC_NACK)
    elif kind == "framing":
        assert len(pdus) <= 1, pdus
        if pdus:
            assert isinstance(pdus[0], GenericNack)
            assert pdus[0].command_status in (
                CommandStatus.ESME_RINVCMDLEN,
                CommandStatus.ESME_RUNKNOWNERR,
            )


# --- the well-behaved neighbour -------------------------------------------------------------


async def _neighbour(port: int, stop: trio.Event, counts: dict[str, int]) -> None:
    """Bound transceiver doing real work until told to stop; any failure fails the test."""
    async with esme(port) as conn:
        seq_source = iter(range(1, 1_000_000))
        while not stop.is_set():
            with trio.fail_after(10):
                # (not enquire_link: SmppSession marks every enquire_link as its own
                # keepalive, so a caller's conn.request(EnquireLink()) is never woken)
                resp = await conn.request(
                    SubmitSm(
                        source_addr_ton=1, source_addr_npi=1, source_addr=_SOURCE,
                        dest_addr_ton=1, dest_addr_npi=1, destination_addr=_DEST,
                        short_message=f"n{next(seq_source)}".encode(),
                    )
                )  # fmt: skip
                assert resp.command_status == 0, resp
            counts["ok"] += 1
            with trio.move_on_after(0.05):  # 20/s: well under the account throughput
                await stop.wait()
        with trio.fail_after(10):  # still bound and answering at the very end
            resp = await conn.request(
                SubmitSm(
                    source_addr_ton=1, source_addr_npi=1, source_addr=_SOURCE,
                    dest_addr_ton=1, dest_addr_npi=1, destination_addr=_DEST,
                    short_message=b"last",
                )
            )  # fmt: skip
            assert resp.command_status == 0, resp
        counts["final"] = 1


def _decode_errors(gateway: Any) -> float:
    registry = gateway.metrics.registry
    return sum(
        registry.get_sample_value("smppcore_decode_errors_total", {"side": side}) or 0.0
        for side in ("client", "operator")
    )


async def _fuzz(tmp_path: Path) -> dict[str, int]:
    counts = {"ok": 0, "final": 0, "examples": 0}
    async with running_gateway(tmp_path) as (_gateway, port):
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_neighbour, port, stop, counts)

            @settings(
                max_examples=_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=inputs)
            def run(case: tuple[str, bytes, int | None]) -> None:
                kind, data, seq = case
                pdus, clean = trio.from_thread.run(_probe, port, data)
                _check_answer(kind, data, seq, pdus, clean)
                counts["examples"] += 1

            await trio.to_thread.run_sync(run)
            stop.set()
    return counts


async def test_bad_input_is_contained_and_neighbours_keep_working(tmp_path: Path) -> None:
    with trio.fail_after(240):
        counts = await _fuzz(tmp_path)
    assert counts["examples"] >= _EXAMPLES
    assert counts["final"] == 1 and counts["ok"] >= 1


async def test_decode_errors_are_counted(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as (gateway, port):
        before = _decode_errors(gateway)
        with trio.fail_after(10):
            await _probe(port, _header(16, 0x7ABCDEF0, 0, 7))  # unknown command
            await _probe(port, _header(20, int(CommandId.SUBMIT_SM), 0, 8) + b"\xff" * 4)
        assert _decode_errors(gateway) >= before + 2
