"""What the simulator records of submits: order, segments, submit_multi, data_sm, windows."""

from __future__ import annotations

import trio

from connectors.simulator import Simulator
from smppcore.net.client import open_bind_client
from smppcore.net.connection import SmppConnection
from smppcore.protocol.pdu import (
    BindTransceiver,
    DataSm,
    DeliverSm,
    Pdu,
    SmeAddress,
    SubmitMulti,
    SubmitSm,
)
from smppcore.protocol.segment import SplitMode, split_text
from smppcore.protocol.tlv import Tlvs

from .helpers import HANDSET, PASSWORD, SENDER, SYSTEM_ID, running_simulator

_BIND = BindTransceiver(system_id=SYSTEM_ID, password=PASSWORD)


class _Receiver:
    """Collects deliver_sm on our own client's connection."""

    def __init__(self) -> None:
        self.delivered: list[DeliverSm] = []

    async def __call__(self, conn: SmppConnection) -> None:
        async for request in conn:
            if isinstance(request, DeliverSm):
                self.delivered.append(request)
            await conn.respond(request, request.response())


async def _submit_all(
    sim: Simulator, pdus: list[Pdu], receiver: _Receiver, receipts: int
) -> list[Pdu]:
    async with open_bind_client("127.0.0.1", sim.port, _BIND, handler=receiver) as client:
        responses = [await client.request(pdu) for pdu in pdus]
        # The receiver records a deliver_sm before answering it, and the simulator counts
        # a receipt only on its deliver_sm_resp: after this wait every receipt is recorded.
        await sim.wait_for_receipts(receipts)
    return responses


async def test_long_message_segments_each_get_an_id_and_a_receipt() -> None:
    text = "Long message " + "0123456789" * 30
    split = split_text(text, mode=SplitMode.UDH8, reference=7)
    pdus: list[Pdu] = [
        SubmitSm(
            source_addr=SENDER,
            destination_addr=HANDSET,
            esm_class=0x40,
            registered_delivery=1,
            data_coding=seg.data_coding,
            short_message=seg.short_message,
        )
        for seg in split.segments
    ]
    receiver = _Receiver()
    with trio.fail_after(20):
        async with running_simulator() as sim:
            responses = await _submit_all(sim, pdus, receiver, 3)
            ids = [getattr(r, "message_id", "") for r in responses]
            assert len(set(ids)) == len(pdus) == 3
            received = sim.messages(HANDSET)
            assert [m.message_id for m in received] == ids
            assert [m.concat.seq for m in received if m.concat] == [1, 2, 3]
            assert "".join(m.text for m in received) == text
            assert sim.stats().receipts_sent == {"DELIVRD": 3}
            assert len(receiver.delivered) == 3
            assert all(d.esm_class == 0x04 for d in receiver.delivered)


async def test_order_per_destination_and_sar_segments() -> None:
    pdus: list[Pdu] = [
        SubmitSm(
            destination_addr=HANDSET,
            short_message=b"part%d" % seq,
            tlvs=Tlvs.of(sar_msg_ref_num=300, sar_total_segments=2, sar_segment_seqnum=seq),
        )
        for seq in (1, 2)
    ]
    pdus += [SubmitSm(destination_addr="447700900555", short_message=b"m%d" % i) for i in range(5)]
    with trio.fail_after(20):
        async with running_simulator() as sim:
            async with open_bind_client("127.0.0.1", sim.port, _BIND) as client:
                for pdu in pdus:
                    await client.request(pdu)
            first = sim.messages(HANDSET)
            assert [m.text for m in first] == ["part1", "part2"]
            assert [(m.concat.reference, m.concat.seq) for m in first if m.concat] == [
                (300, 1),
                (300, 2),
            ]
            assert [m.text for m in sim.messages("447700900555")] == [f"m{i}" for i in range(5)]
            assert set(sim.destinations()) == {HANDSET, "447700900555"}


async def test_submit_multi_and_data_sm() -> None:
    multi = SubmitMulti(
        source_addr=SENDER,
        dest_addresses=(
            SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900001"),
            SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900002"),
        ),
        registered_delivery=1,
        short_message=b"to both",
    )
    data = DataSm(
        source_addr=SENDER,
        destination_addr="447700900003",
        registered_delivery=1,
        tlvs=Tlvs.of(message_payload=b"payload text"),
    )
    receiver = _Receiver()
    with trio.fail_after(20):
        async with running_simulator() as sim:
            responses = await _submit_all(sim, [multi, data], receiver, 3)
            assert all(r.command_status == 0 for r in responses)
            assert sim.messages("447700900001")[0].text == "to both"
            assert sim.messages("447700900002")[0].text == "to both"
            assert sim.messages("447700900003")[0].text == "payload text"
            stats = sim.stats()
            assert stats.submits == {"ESME_ROK": 2}
            assert stats.receipts_sent == {"DELIVRD": 3}  # one per destination
            sources = sorted(d.source_addr for d in receiver.delivered)
            assert sources == ["447700900001", "447700900002", "447700900003"]
            assert {d.destination_addr for d in receiver.delivered} == {SENDER}


async def test_wait_for_submits() -> None:
    with trio.fail_after(20):
        async with running_simulator() as sim:
            async with (
                open_bind_client("127.0.0.1", sim.port, _BIND) as client,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(sim.wait_for_submits, 3)
                for i in range(3):
                    await client.request(
                        SubmitSm(destination_addr=HANDSET, short_message=b"%d" % i)
                    )
            await sim.wait_for_submits(3, accepted_only=True)
            assert sim.stats().submits_received == 3


async def test_accepted_duplicates_and_answers_by_status() -> None:
    """The same data accepted again for the same destination counts as a duplicate: a text
    in one piece, a UDH part, a SAR part; the same data to another destination does not."""
    udh = split_text("Twice " + "0123456789" * 20, mode=SplitMode.UDH8, reference=9)
    part = SubmitSm(
        destination_addr=HANDSET,
        esm_class=0x40,
        data_coding=udh.segments[0].data_coding,
        short_message=udh.segments[0].short_message,
    )
    sar = SubmitSm(
        destination_addr=HANDSET,
        short_message=b"sar part",
        tlvs=Tlvs.of(sar_msg_ref_num=5, sar_total_segments=2, sar_segment_seqnum=1),
    )
    other_sar = SubmitSm(
        destination_addr=HANDSET,
        short_message=b"sar part",
        tlvs=Tlvs.of(sar_msg_ref_num=5, sar_total_segments=2, sar_segment_seqnum=2),
    )
    single = SubmitSm(destination_addr=HANDSET, short_message=b"same text")
    elsewhere = SubmitSm(destination_addr="447700900555", short_message=b"same text")
    with trio.fail_after(20):
        async with running_simulator() as sim:
            async with open_bind_client("127.0.0.1", sim.port, _BIND) as client:
                for pdu in (single, elsewhere, part, sar, other_sar):
                    await client.request(pdu)
                assert sim.stats().accepted_duplicates == 0
                for pdu in (single, part, sar, sar):
                    await client.request(pdu)
            stats = sim.stats()
            assert stats.accepted_duplicates == 4
            assert stats.answered(0) == 9 and stats.answered(0x58) == 0
