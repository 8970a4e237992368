"""Error answers: a mix of error statuses, an error on a chosen part, duplicates counted."""

from __future__ import annotations

from collections import Counter

import attrs
import pytest
import trio

from connectors.simulator import FaultError, Faults, PartError
from connectors.simulator.faults import _CHECKS
from smppcore.net.client import open_bind_client
from smppcore.net.connection import SmppConnection
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.pdu import BindTransceiver, Pdu, SubmitSm
from smppcore.protocol.segment import SplitMode, split_text
from smppcore.protocol.tlv import Tlvs

from .helpers import HANDSET, PASSWORD, SENDER, SYSTEM_ID, http, running_simulator

_BIND = BindTransceiver(system_id=SYSTEM_ID, password=PASSWORD)
_VENDOR = 0x401
_MIX = {CommandStatus.ESME_RSYSERR: 0.2, CommandStatus.ESME_RSUBMITFAIL: 0.1, _VENDOR: 0.05}


def _single(i: int) -> SubmitSm:
    return SubmitSm(
        source_addr=SENDER,
        destination_addr=HANDSET,
        registered_delivery=1,
        short_message=b"mix %d" % i,
    )


def _parts(mode: SplitMode, reference: int) -> list[SubmitSm]:
    """A three-part message to HANDSET, tied together the ``mode`` way."""
    split = split_text("Part " + "0123456789" * 35, mode=mode, reference=reference)
    assert split.total == 3
    out: list[SubmitSm] = []
    for seg in split.segments:
        tlvs = Tlvs()
        if seg.sar is not None:
            tlvs = Tlvs.of(
                sar_msg_ref_num=seg.sar.msg_ref_num,
                sar_total_segments=seg.sar.total_segments,
                sar_segment_seqnum=seg.sar.segment_seqnum,
            )
        out.append(
            SubmitSm(
                source_addr=SENDER,
                destination_addr=HANDSET,
                esm_class=0x40 if seg.esm_class_udhi else 0,
                data_coding=seg.data_coding,
                short_message=seg.short_message,
                tlvs=tlvs,
            )
        )
    return out


async def _send(port: int, pdus: list[SubmitSm]) -> list[Pdu]:
    async with open_bind_client("127.0.0.1", port, _BIND) as client:
        return [await client.request(pdu) for pdu in pdus]


async def _answer_deliveries(conn: SmppConnection) -> None:
    async for request in conn:
        await conn.respond(request, request.response())


async def test_error_status_mix() -> None:
    n = 400
    with trio.fail_after(30):
        async with running_simulator(faults=Faults(error_statuses=_MIX)) as sim:
            async with open_bind_client(
                "127.0.0.1", sim.port, _BIND, handler=_answer_deliveries
            ) as client:
                responses = [await client.request(_single(i)) for i in range(n)]
                statuses = Counter(r.command_status for r in responses)
                # one receipt per accepted submit, none for the errors
                await sim.wait_for_receipts(statuses[0])
            assert set(statuses) == {0, *_MIX}
            # Loose: 400 draws at 20 % / 10 % / 5 % (the seed fixes them; this only guards
            # against a mix that ignores its shares).
            assert 40 < statuses[CommandStatus.ESME_RSYSERR] < 120
            assert statuses[CommandStatus.ESME_RSUBMITFAIL] < statuses[CommandStatus.ESME_RSYSERR]
            assert all(
                getattr(r, "message_id", "") == "" for r in responses if r.command_status != 0
            )
            accepted = statuses[0]
            stats = sim.stats()
            for status, count in statuses.items():
                assert stats.answered(status) == count
            assert stats.submits["VENDOR_0x00000401"] == statuses[_VENDOR]
            assert stats.receipts_total == accepted
            assert len(sim.messages(HANDSET)) == accepted
            assert stats.accepted_duplicates == 0


async def test_error_mix_over_http_with_string_keys() -> None:
    with trio.fail_after(20):
        async with running_simulator() as sim:
            status, body = await trio.to_thread.run_sync(
                http, sim.control_port, "POST", "/faults", {"error_statuses": {"0x45": 1.0}}
            )
            assert status == 200 and body["error_statuses"] == {"69": 1.0}
            assert sim.faults.error_statuses == {0x45: 1.0}
            responses = await _send(sim.port, [_single(i) for i in range(3)])
            assert [r.command_status for r in responses] == [0x45] * 3
            # What GET /faults answers is accepted back as it is.
            _, current = await trio.to_thread.run_sync(http, sim.control_port, "GET", "/faults")
            status, _ = await trio.to_thread.run_sync(
                http, sim.control_port, "POST", "/faults", current
            )
            assert status == 200 and sim.faults.error_statuses == {0x45: 1.0}
            sim.set_faults(error_statuses={})
            responses = await _send(sim.port, [_single(9)])
            assert responses[0].command_status == 0
            assert sim.stats().submits == {"ESME_RSUBMITFAIL": 3, "ESME_ROK": 1}


@pytest.mark.parametrize("mode", [SplitMode.UDH8, SplitMode.UDH16, SplitMode.SAR])
async def test_error_on_a_chosen_part_then_the_retry_succeeds(mode: SplitMode) -> None:
    first, second = _parts(mode, reference=41), _parts(mode, reference=42)
    faults = Faults(part_error={"part": 2, "status": CommandStatus.ESME_RSYSERR})
    with trio.fail_after(20):
        async with running_simulator(faults=faults) as sim:
            responses = await _send(sim.port, first)
            assert [r.command_status for r in responses] == [0, 0x08, 0]
            retry = await _send(sim.port, [first[1]])
            assert retry[0].command_status == 0
            # "times" is 1: the part 2 of the next message is accepted at once.
            responses = await _send(sim.port, second)
            assert [r.command_status for r in responses] == [0, 0, 0]
            got = [(m.concat.reference, m.concat.seq) for m in sim.messages(HANDSET) if m.concat]
            assert got == [(41, 1), (41, 3), (41, 2), (42, 1), (42, 2), (42, 3)]
            stats = sim.stats()
            assert stats.answered(0x08) == 1 and stats.answered(0) == 6
            assert stats.accepted_duplicates == 0
            # A part accepted a second time is counted, whichever way it is tied together.
            again = await _send(sim.port, [first[0]])
            assert again[0].command_status == 0
            assert sim.stats().accepted_duplicates == 1


async def test_part_error_times_and_restart_of_its_count() -> None:
    parts = _parts(SplitMode.UDH8, reference=7)
    with trio.fail_after(20):
        async with running_simulator() as sim:
            sim.set_faults(part_error={"part": 3, "status": "0x401", "times": 2})
            assert sim.faults.part_error == PartError(part=3, status=0x401, times=2)
            statuses = [r.command_status for r in await _send(sim.port, parts + [parts[2]] * 2)]
            assert statuses == [0, 0, _VENDOR, _VENDOR, 0]
            sim.set_faults(throttle_share=0.0)  # other switches leave the count alone
            assert (await _send(sim.port, [parts[2]]))[0].command_status == 0
            # Set again (over HTTP): a fresh count.
            status, body = await trio.to_thread.run_sync(
                http,
                sim.control_port,
                "POST",
                "/faults",
                {"part_error": {"part": 3, "status": 1025, "times": 1}},
            )
            assert status == 200 and body["part_error"] == {"part": 3, "status": 1025, "times": 1}
            statuses = [r.command_status for r in await _send(sim.port, [parts[2]] * 2)]
            assert statuses == [_VENDOR, 0]
            # A message in one piece has no part 3 (nor any part).
            sim.set_faults(part_error={"part": 1, "status": 8})
            assert (await _send(sim.port, [_single(1)]))[0].command_status == 0
            sim.set_faults(part_error=None)
            assert (await _send(sim.port, [parts[0]]))[0].command_status == 0
            assert sim.stats().accepted_duplicates == 3  # parts[2] twice more, parts[0] once


@pytest.mark.parametrize(
    "changes",
    [
        {"error_statuses": {8: 0.6, 0x45: 0.5}},
        {"error_statuses": {0: 0.1}},
        {"error_statuses": {"zero": 0.1}},
        {"error_statuses": {"8": 0.1, "0x8": 0.1}},
        {"error_statuses": {8: 1.5}},
        {"error_statuses": {2**32: 0.1}},
        {"error_statuses": [8, 0.1]},
        {"part_error": {"part": 0, "status": 8}},
        {"part_error": {"part": 256, "status": 8}},
        {"part_error": {"part": 1}},
        {"part_error": {"part": 1, "status": 0}},
        {"part_error": {"part": 1, "status": 8, "times": 0}},
        {"part_error": {"part": 1, "status": 8, "when": "now"}},
        {"part_error": 2},
        {"rate_limit": -1},
        {"rate_limit": float("inf")},
        {"rate_limit": True},
        {"freeze": "yes"},
    ],
)
def test_bad_new_fault_settings_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(FaultError):
        Faults().updated(changes)


def test_every_switch_has_a_check() -> None:
    assert set(_CHECKS) == set(attrs.fields_dict(Faults))


def test_faults_are_checked_however_they_are_built() -> None:
    with pytest.raises(FaultError):
        Faults(error_statuses={8: 2.0})
    with pytest.raises(FaultError):
        PartError(part=1, status=-1)
    faults = Faults(error_statuses={"0x08": 0.25}, part_error={"part": 2, "status": "8"})
    assert faults.error_statuses == {8: 0.25}
    assert faults.part_error == PartError(part=2, status=8, times=1)
    with pytest.raises(TypeError):
        faults.error_statuses[8] = 1.0  # type: ignore[index]
    assert Faults().updated(faults.as_dict()) == faults
