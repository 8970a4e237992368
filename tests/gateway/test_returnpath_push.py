"""The return path's delivery: pushed from memory to a bound client, queued for an absent one;
receipts matched from the maps of recent submits; what a receipt leaves behind; version-1
records taken over."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio

from smppcore.gateway.context import Gateway
from smppcore.gateway.correlation import _Recent
from smppcore.gateway.legacy import LEGACY_PARTS_ACCOUNT, LEGACY_PENDING_PREFIX
from smppcore.gateway.privacy import erase_msisdn, export_msisdn
from smppcore.net.client import bind, connect_smpp
from smppcore.net.connection import SmppConnection, open_smpp_connection
from smppcore.net.errors import NetError
from smppcore.protocol.pdu import BindReceiver, DeliverSm
from smppcore.protocol.receipt import parse_receipt
from smppcore.protocol.segment import build_concat_udh
from smppcore.protocol.states import Role
from smppcore.store.base import DeliveryItem, DeliveryKind, IdMapEntry, MtMessage, MtState

from .test_receipts import operator_receipt
from .test_replies import HANDSET, mo
from .test_return_harness import (
    CONNECTOR,
    NODE,
    deliver,
    make_config,
    put_message,
    running_gateway,
)


@attrs.define
class _Receiver:
    """A client bound as receiver on our own stack, answering each deliver_sm only when the
    test says so."""

    conn: SmppConnection
    got: list[DeliverSm] = attrs.field(factory=list)
    arrived: trio.Event = attrs.field(factory=trio.Event)
    answer: trio.Event = attrs.field(factory=trio.Event)

    async def serve(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                async for pdu in self.conn:
                    if isinstance(pdu, DeliverSm):
                        self.got.append(pdu)
                        self.arrived.set()
                        nursery.start_soon(self._respond, pdu)
        except NetError:
            pass

    async def _respond(self, pdu: DeliverSm) -> None:
        await self.answer.wait()
        try:
            await self.conn.respond(pdu, pdu.response())
        except NetError:
            pass


@asynccontextmanager
async def receiver(port: int, nursery: trio.Nursery) -> AsyncIterator[_Receiver]:
    stream = await connect_smpp("127.0.0.1", port)
    async with open_smpp_connection(stream, Role.ESME) as conn:
        await bind(conn, BindReceiver(system_id="alpha", password="x"))
        client = _Receiver(conn)
        nursery.start_soon(client.serve)
        yield client


async def _items_of(gw: Gateway, number: str) -> list[dict[str, object]]:
    exported = await export_msisdn(gw.store, number)
    return list(exported["delivery_items"])


async def test_a_bound_client_gets_its_receipt_pushed_without_a_queue_lease(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            gw = run.gateway
            async with receiver(run.port, run.nursery) as client:
                while not gw.binds.receivers("alpha"):
                    await gw.binds.wait_for_change("alpha", 0.05)
                await put_message(gw, "m-push", upstream_ids=["77"])
                assert await deliver(run.return_path, operator_receipt("77")) == 0
                await client.arrived.wait()
                # In flight and durable: written leased to this node, never leased from the
                # queue (a lease from the queue would have counted an attempt).
                (item,) = await _items_of(gw, HANDSET)
                assert (item["lease_owner"], item["attempts"]) == (NODE, 0)
                client.answer.set()
                while await gw.store.delivery_depth("alpha"):  # acked (in a batch)
                    await gw.binds.wait_for_change("alpha", 0.05)
            (pdu,) = client.got
            assert pdu.tlvs.receipted_message_id == "m-push"
            assert parse_receipt(pdu.short_message.decode()).stat == "DELIVRD"


async def test_an_absent_client_gets_its_receipt_from_the_queue_when_it_binds(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            gw = run.gateway
            await put_message(gw, "m-queued", upstream_ids=["78"])
            assert await deliver(run.return_path, operator_receipt("78")) == 0
            (item,) = await _items_of(gw, HANDSET)
            assert (item["lease_owner"], item["attempts"]) == ("", 0)  # free, in the queue
            async with receiver(run.port, run.nursery) as client:
                await client.arrived.wait()
                (item,) = await _items_of(gw, HANDSET)
                assert (item["lease_owner"], item["attempts"]) == (NODE, 1)  # leased, then sent
                client.answer.set()
                while await gw.store.delivery_depth("alpha"):
                    await gw.binds.wait_for_change("alpha", 0.05)
            assert [p.tlvs.receipted_message_id for p in client.got] == ["m-queued"]


async def test_a_receipt_is_matched_from_the_maps_of_recent_submits(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            message = await put_message(gw, "m-recent", upstream_ids=[])
            # The connector tells the return path; the store has no map (yet): the receipt is
            # matched anyway, under the id as the connector normalised it.
            run.return_path.submitted(message, [IdMapEntry(CONNECTOR, "a3f5c", message.id,
                                                           "alpha")])  # fmt: skip
            assert await deliver(run.return_path, operator_receipt("0A3F5C")) == 0
            stored = await gw.store.get_mt("m-recent")
            assert stored is not None and stored.state is MtState.DELIVERED
            assert await gw.store.delivery_depth("alpha") == 1
            assert await gw.store.count_pending_receipts() == 0


async def test_a_recent_map_of_an_erased_message_recreates_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            message = await put_message(gw, "m-erased", upstream_ids=[])
            run.return_path.submitted(message, [IdMapEntry(CONNECTOR, "79", message.id,
                                                           "alpha")])  # fmt: skip
            await erase_msisdn(gw.store, HANDSET, gw.clock())
            assert await deliver(run.return_path, operator_receipt("79")) == 0
            assert await gw.store.get_mt("m-erased") is None
            assert await gw.store.delivery_depth("alpha") == 0
            assert (await export_msisdn(gw.store, HANDSET))["delivery_items"] == []


def _message(i: int) -> MtMessage:
    return MtMessage(id=f"m{i}", account="a", connector="c", source_addr="1",
                     destination_addr="2", payload=b"secret text")  # fmt: skip


def test_recent_maps_are_bounded_by_count_and_age_and_hold_no_text() -> None:
    recent = _Recent(max_entries=3, max_age=10.0)
    for i in range(5):
        recent.add(_message(i), [IdMapEntry("c", f"u{i}", f"m{i}", "a")], now=100.0 + i)
    assert len(recent) == 3  # the two oldest went
    assert recent.take("c", "u0") is None
    found = recent.take("c", "U2")  # any case: taken under the normalised id
    assert found is not None and found.message.id == "m2" and found.message.payload == b""
    assert recent.take("c", "u2") is None  # taken once
    recent.add(_message(9), [IdMapEntry("c", "u9", "m9", "a")], now=200.0)
    assert len(recent) == 1  # u3 and u4 were older than 10 s


async def test_a_held_receipt_keeps_no_text_and_no_number(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    db = tmp_path / "gw.db"
    receipt = operator_receipt("880")
    words = b"my secret words"
    receipt = attrs.evolve(receipt, short_message=receipt.short_message.replace(b"hello", words))
    with trio.fail_after(30):
        async with running_gateway(config, db, deliveries=False) as run:
            assert await deliver(run.return_path, receipt) == 0
            assert await run.gateway.store.count_pending_receipts() == 1
            await run.gateway.store.checkpoint()  # type: ignore[attr-defined]
    with sqlite3.connect(db) as conn:
        rows = list(conn.execute("SELECT * FROM pending_receipts"))
    assert len(rows) == 1
    assert not any(b"secret" in (v if isinstance(v, bytes) else str(v).encode()) for v in rows[0])
    assert not any(HANDSET[2:] in str(v) for v in rows[0])


async def test_version_1_pending_receipts_and_reply_parts_are_taken_over(tmp_path: Path) -> None:
    """What schema 1 kept as delivery items of reserved accounts becomes the records of
    their own kinds when the return path starts; nothing is lost on the way."""
    config = make_config(tmp_path)
    db = tmp_path / "gw.db"
    now = 1_800_000_000.0
    receipt = operator_receipt("990")
    part = mo(build_concat_udh(5, 2, 1) + b"first half", esm_class=0x40)
    with trio.fail_after(30):
        async with running_gateway(config, db, deliveries=False) as run:
            gw = run.gateway
            await put_message(gw, "m-v1")
            await gw.store.enqueue_delivery(
                [
                    DeliveryItem(
                        id="v1-pending", account=LEGACY_PENDING_PREFIX + CONNECTOR,
                        kind=DeliveryKind.RECEIPT, source_addr=receipt.source_addr,
                        destination_addr=receipt.destination_addr, esm_class=0x04,
                        short_message=receipt.short_message, message_id="990",
                        created_at=now, expires_at=now + 3600,
                    ),
                    DeliveryItem(
                        id="v1-part", account=LEGACY_PARTS_ACCOUNT, kind=DeliveryKind.MO,
                        source_addr=part.source_addr, destination_addr=part.destination_addr,
                        esm_class=0x40, short_message=part.short_message,
                        message_id=CONNECTOR, created_at=now, expires_at=now + 3600,
                    ),
                ]
            )  # fmt: skip
        async with running_gateway(config, db) as run:  # the return path runs: takes over
            gw = run.gateway
            assert await gw.store.delivery_depth(LEGACY_PENDING_PREFIX + CONNECTOR) == 0
            assert await gw.store.delivery_depth(LEGACY_PARTS_ACCOUNT) == 0
            assert [p.seq for p in await gw.store.reply_parts()] == [1]
            await gw.store.put_id_maps([IdMapEntry(CONNECTOR, "990", "m-v1", "alpha")])
            while await gw.store.count_pending_receipts():
                await gw.binds.wait_for_change("alpha", 0.05)
            stored = await gw.store.get_mt("m-v1")
            assert stored is not None and stored.state is MtState.DELIVERED
            # the other half of the reply completes the v1 part
            second = mo(build_concat_udh(5, 2, 2) + b" second half", esm_class=0x40)
            assert await deliver(run.return_path, second) == 0
            assert await gw.store.reply_parts() == []
            assert await gw.store.delivery_depth("alpha") == 2  # the receipt and the reply


@pytest.mark.parametrize("count", [1, 3])
async def test_items_held_in_memory_go_back_to_the_queue_when_the_client_goes(
    tmp_path: Path, count: int
) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            gw = run.gateway
            async with receiver(run.port, run.nursery) as client:
                while not gw.binds.receivers("alpha"):
                    await gw.binds.wait_for_change("alpha", 0.05)
                for i in range(count):
                    await put_message(gw, f"m-gone-{i}", upstream_ids=[f"6{i}"])
                    assert await deliver(run.return_path, operator_receipt(f"6{i}")) == 0
                await client.arrived.wait()
            # the client went without answering: its items are freed for whoever comes next
            while any(i["lease_owner"] for i in await _items_of(gw, HANDSET)):
                await gw.binds.wait_for_change("alpha", 0.05)
            assert await gw.store.delivery_depth("alpha") == count


async def test_a_receipt_whose_write_was_cancelled_still_reaches_the_bound_client(
    tmp_path: Path,
) -> None:
    """The operator bind dropped (or the daemon began to stop) while a batch was being made
    durable: the write may have happened, the caller does not know. A receipt it had meant
    to push must then go through the queue, at once, not wait for its lease to run out."""
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            gw = run.gateway
            async with receiver(run.port, run.nursery) as client:
                client.answer.set()
                while not gw.binds.receivers("alpha"):
                    await gw.binds.wait_for_change("alpha", 0.05)
                message = await put_message(gw, "m-cut", upstream_ids=["55"])
                # matched from memory: the write of the final is the batch's first wait
                run.return_path.submitted(message, [IdMapEntry(CONNECTOR, "55", "m-cut",
                                                               "alpha")])  # fmt: skip
                with trio.CancelScope() as scope:
                    scope.cancel()  # at its first wait: the write is handed over by then
                    await run.return_path.operator_deliver(CONNECTOR, [operator_receipt("55")])
                with trio.fail_after(5):  # not the 120 s lease
                    await client.arrived.wait()
                stored = await gw.store.get_mt("m-cut")  # the write happened after all
                assert stored is not None and stored.state is MtState.DELIVERED
            assert [p.tlvs.receipted_message_id for p in client.got] == ["m-cut"]
