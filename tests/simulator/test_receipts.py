"""Receipts: outcome mix, text and TLV forms, registered_delivery rules, id formats."""

from __future__ import annotations

import re
import uuid

import pytest
import trio

from smppcore.protocol.receipt import parse_receipt

from .helpers import HANDSET, SENDER, STATUS_OK, Esme, running_simulator

_STATES = {2: "DELIVRD", 3: "EXPIRED", 5: "UNDELIV", 8: "REJECTD"}


async def _submit_and_collect(
    port: int, n: int, *, registered_delivery: int = 1, receipts: int | None = None
) -> Esme:
    esme = Esme(port)

    def run() -> None:
        esme.bind()
        for i in range(n):
            esme.submit(f"hello {i}", registered_delivery=registered_delivery)
        esme.read_until(responses=n, delivered=n if receipts is None else receipts)

    await trio.to_thread.run_sync(run)
    return esme


async def test_mix_of_outcomes_both_seen() -> None:
    with trio.fail_after(20):
        async with running_simulator(outcomes={"DELIVRD": 0.5, "UNDELIV": 0.5}) as sim:
            esme = await _submit_and_collect(sim.port, 40)
            stats = [parse_receipt(Esme.receipt_text(p)).stat for p in esme.delivered]
            assert set(stats) == {"DELIVRD", "UNDELIV"}
            await sim.wait_for_receipts(40)
            counts = sim.stats().receipts_sent
            assert counts["DELIVRD"] + counts["UNDELIV"] == 40
            await trio.to_thread.run_sync(esme.close)


async def test_all_rejected() -> None:
    with trio.fail_after(20):
        async with running_simulator(outcomes={"REJECTD": 1.0}) as sim:
            esme = await _submit_and_collect(sim.port, 10)
            assert all(p.esm_class == 0x04 for p in esme.delivered)
            assert {parse_receipt(Esme.receipt_text(p)).stat for p in esme.delivered} == {"REJECTD"}
            await sim.wait_for_receipts(10)
            assert sim.stats().receipts_sent == {"REJECTD": 10}
            await trio.to_thread.run_sync(esme.close)


async def test_text_receipt_layout_ids_and_swapped_addresses() -> None:
    with trio.fail_after(20):
        async with running_simulator() as sim:
            esme = await _submit_and_collect(sim.port, 3)
            ids = [Esme.field(r, "message_id") for r in esme.responses]
            assert all(r.status == STATUS_OK for r in esme.responses)
            assert len(set(ids)) == 3
            for pdu in esme.delivered:
                text = Esme.receipt_text(pdu)
                assert re.fullmatch(
                    r"id:\S+ sub:001 dlvrd:001 submit date:\d{10} done date:\d{10}"
                    r" stat:DELIVRD err:000 text:hello \d",
                    text,
                ), text
                assert Esme.field(pdu, "source_addr") == HANDSET
                assert Esme.field(pdu, "destination_addr") == SENDER
                assert pdu.receipted_message_id is None
            receipted = [parse_receipt(Esme.receipt_text(p)).message_id for p in esme.delivered]
            assert sorted(str(i) for i in receipted) == sorted(ids)
            await trio.to_thread.run_sync(esme.close)


@pytest.mark.parametrize("form", ["tlv", "both"])
async def test_tlv_receipts(form: str) -> None:
    with trio.fail_after(20):
        async with running_simulator(receipt_form=form, outcomes={"EXPIRED": 1.0}) as sim:
            esme = await _submit_and_collect(sim.port, 2)
            ids = sorted(Esme.field(r, "message_id") for r in esme.responses)
            assert sorted(Esme.field(p, "receipted_message_id") for p in esme.delivered) == ids
            assert {_STATES[p.message_state] for p in esme.delivered} == {"EXPIRED"}
            texts = [Esme.receipt_text(p) for p in esme.delivered]
            if form == "tlv":
                assert texts == ["", ""]
            else:
                assert all("stat:EXPIRED" in t for t in texts)
            await trio.to_thread.run_sync(esme.close)


async def test_registered_delivery_rules() -> None:
    """0: no receipt; 2: failures only; 1: always (one receipt ends the read)."""
    with trio.fail_after(20):
        async with running_simulator(outcomes={"DELIVRD": 1.0}) as sim:
            esme = Esme(sim.port)

            def run() -> None:
                esme.bind()
                esme.submit("none", registered_delivery=0)
                esme.submit("failure only", registered_delivery=2)
                esme.submit("always", registered_delivery=1)
                esme.read_until(responses=3, delivered=1)

            await trio.to_thread.run_sync(run)
            await sim.wait_for_receipts(1)
            assert sim.stats().receipts_sent == {"DELIVRD": 1}
            assert "text:always" in Esme.receipt_text(esme.delivered[0])
            sim.configure(outcomes={"UNDELIV": 1.0})

            def fail() -> None:
                esme.submit("fails", registered_delivery=2)
                esme.read_until(responses=4, delivered=2)

            await trio.to_thread.run_sync(fail)
            assert "stat:UNDELIV" in Esme.receipt_text(esme.delivered[1])
            await trio.to_thread.run_sync(esme.close)


@pytest.mark.parametrize(
    ("form", "pattern"),
    [("decimal", r"[1-9][0-9]{9}"), ("hex", r"[0-9a-f]{8}"), ("uuid", None)],
)
async def test_id_formats(form: str, pattern: str | None) -> None:
    with trio.fail_after(20):
        async with running_simulator(id_format=form) as sim:
            esme = await _submit_and_collect(sim.port, 3, registered_delivery=0, receipts=0)
            ids = [Esme.field(r, "message_id") for r in esme.responses]
            assert len(set(ids)) == 3
            for message_id in ids:
                if pattern is None:
                    assert str(uuid.UUID(message_id)) == message_id
                else:
                    assert re.fullmatch(pattern, message_id), message_id
            await trio.to_thread.run_sync(esme.close)


async def test_receipt_waits_for_a_receiver_bind() -> None:
    """A transmitter gets no receipts; a receiver bound later gets the queued ones."""
    with trio.fail_after(20):
        async with running_simulator() as sim:
            tx = Esme(sim.port)

            def send() -> None:
                tx.bind("transmitter")
                tx.submit("queued")
                tx.read_until(responses=1)

            await trio.to_thread.run_sync(send)
            assert sim.stats().deliveries_pending == 1
            rx = Esme(sim.port)

            def receive() -> None:
                rx.bind("receiver")
                rx.read_until(delivered=1)

            await trio.to_thread.run_sync(receive)
            assert "stat:DELIVRD" in Esme.receipt_text(rx.delivered[0])
            assert sim.stats().binds == {"transmitter": 1, "receiver": 1}
            await trio.to_thread.run_sync(tx.close)
            await trio.to_thread.run_sync(rx.close)
