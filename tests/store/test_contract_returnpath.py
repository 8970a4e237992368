"""The Store contract for the return path's records: finals with their receipts, the receipt
look-up, pending receipts, parts of long replies and node-owned delivery leases.

Runs once per backend (the ``store`` fixture in conftest.py), like ``test_contract.py``.
"""

from __future__ import annotations

import json

import attrs
import pytest
import trio

from smppcore.store.base import (
    DeliveryItem,
    DeliveryKind,
    FinalResult,
    IdMapEntry,
    MtAck,
    MtFinal,
    MtState,
    PendingReceipt,
    ReplyPart,
    Store,
)

from .test_contract import NUMBER, OTHER, T0, dlv, ids_leased, mt


def receipt(message_id: str, item_id: str | None = None, **kw: object) -> DeliveryItem:
    fields: dict[str, object] = {
        "id": item_id or f"r:{message_id}",
        "account": "acme",
        "kind": DeliveryKind.RECEIPT,
        "source_addr": OTHER,
        "destination_addr": "31337",
        "short_message": f"id:{message_id} stat:DELIVRD".encode(),
        "message_id": message_id,
        "created_at": T0,
    }
    fields.update(kw)
    return DeliveryItem(**fields)  # type: ignore[arg-type]


async def leasable(store: Store, account: str = "acme", now: float = T0) -> list[str]:
    return [d.id for d in await store.lease_delivery(account, 100, 30.0, now)]


# --- finals -------------------------------------------------------------------------------


async def test_finalise_sets_the_state_and_queues_the_receipt(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("m1"), mt("m2")])
        await store.lease_mt("up1", 10, 30.0, T0)
        await store.ack_mt([MtAck("m1")])
        results = await store.finalise_mt(
            [
                MtFinal("m1", MtState.DELIVERED, T0 + 5, receipt=receipt("m1")),
                MtFinal("m2", MtState.UNDELIVERABLE, T0 + 6, error_code=0x45),
            ]
        )
        assert results == [FinalResult.FINALISED, FinalResult.FINALISED]
        one, two = await store.get_mt("m1"), await store.get_mt("m2")
        assert one is not None and two is not None
        assert (one.state, one.payload, one.final_at) == (MtState.DELIVERED, b"", T0 + 5)
        assert (two.state, two.error_code, two.lease_until) == (MtState.UNDELIVERABLE, 0x45, 0)
        # The leased one is done with: it never comes back, and no longer counts as queued.
        assert await ids_leased(store, now=T0 + 10_000) == []
        assert await store.count_queued("acme") == 0
        assert await leasable(store) == ["r:m1"]


async def test_a_final_message_never_changes_and_its_repeat_queues_nothing(
    store: Store,
) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("m1", state=MtState.ENROUTE)])
        await store.finalise_mt([MtFinal("m1", MtState.DELIVERED, T0, receipt=receipt("m1"))])
        again = await store.finalise_mt(
            [
                MtFinal("m1", MtState.UNDELIVERABLE, T0 + 1, 0x45, receipt("m1", "r2:m1")),
                MtFinal("gone", MtState.DELIVERED, T0 + 1, receipt=receipt("gone")),
            ]
        )
        assert again == [FinalResult.ALREADY_FINAL, FinalResult.MISSING]
        stored = await store.get_mt("m1")
        assert stored is not None
        assert (stored.state, stored.error_code, stored.final_at) == (MtState.DELIVERED, 0, T0)
        assert await leasable(store) == ["r:m1"]


async def test_one_message_twice_in_one_call_is_finalised_by_the_first(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("m1", state=MtState.ENROUTE)])
        results = await store.finalise_mt(
            [
                MtFinal("m1", MtState.EXPIRED, T0, receipt=receipt("m1", "first")),
                MtFinal("m1", MtState.DELIVERED, T0, receipt=receipt("m1", "second")),
            ]
        )
        assert results == [FinalResult.FINALISED, FinalResult.ALREADY_FINAL]
        stored = await store.get_mt("m1")
        assert stored is not None and stored.state is MtState.EXPIRED
        assert await leasable(store) == ["first"]


async def test_final_state_and_receipt_are_atomic_under_concurrent_finals(store: Store) -> None:
    """Many finals of the same messages race (two receipts, a failure report, ...): each
    message is finalised exactly once and exactly its finaliser's receipt is queued."""
    with trio.fail_after(20):
        ids = [f"m{i:02d}" for i in range(20)]
        await store.enqueue_mt([mt(i, state=MtState.ENROUTE) for i in ids])
        won: dict[str, list[str]] = {i: [] for i in ids}

        async def finaliser(tag: str, state: MtState) -> None:
            for i in ids:
                (result,) = await store.finalise_mt(
                    [MtFinal(i, state, T0, receipt=receipt(i, f"{tag}:{i}"))]
                )
                if result is FinalResult.FINALISED:
                    won[i].append(tag)

        async with trio.open_nursery() as nursery:
            for tag, state in (("a", MtState.DELIVERED), ("b", MtState.EXPIRED),
                               ("c", MtState.REJECTED)):  # fmt: skip
                nursery.start_soon(finaliser, tag, state)
        queued = set(await leasable(store))
        assert all(len(tags) == 1 for tags in won.values()), won
        assert queued == {f"{tags[0]}:{i}" for i, tags in won.items()}
        expected = {"a": MtState.DELIVERED, "b": MtState.EXPIRED, "c": MtState.REJECTED}
        for i, tags in won.items():
            stored = await store.get_mt(i)
            assert stored is not None and stored.state is expected[tags[0]]


def test_a_final_needs_a_final_state() -> None:
    with pytest.raises(ValueError, match="ENROUTE"):
        MtFinal("m1", MtState.ENROUTE, T0)


# --- the receipt look-up -------------------------------------------------------------------


async def test_match_receipt_takes_the_first_candidate_with_a_map(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("m-dec"), mt("m-hex", destination_addr=NUMBER)])
        await store.put_id_maps(
            [
                IdMapEntry("up1", "100", "m-dec", "acme", 1, 2, T0 + 99),
                IdMapEntry("up1", "64", "m-hex", "acme", expires_at=T0 + 99),
                IdMapEntry("up1", "gone", "deleted", "acme"),
            ]
        )
        found = await store.match_receipt("up1", ["x", "64", "100"])
        assert found is not None
        assert found.entry == IdMapEntry("up1", "64", "m-hex", "acme", 1, 1, T0 + 99)
        assert found.message == await store.get_mt("m-hex")
        other_order = await store.match_receipt("up1", ["100", "64"])
        assert other_order is not None
        assert (other_order.entry.message_id, other_order.entry.segment) == ("m-dec", 1)
        assert other_order.entry.total_segments == 2
        assert await store.match_receipt("up1", ["nope"]) is None
        assert await store.match_receipt("up2", ["64"]) is None
        assert await store.match_receipt("up1", ["gone"]) is None  # its message is gone
        assert await store.match_receipt("up1", []) is None


# --- pending receipts ------------------------------------------------------------------------


def pending(pid: str, **kw: object) -> PendingReceipt:
    fields: dict[str, object] = {
        "id": pid,
        "connector": "up1",
        "upstream_id": f"U-{pid}",
        "state": 2,
        "err": "000",
        "done_at": T0 - 60,
        "network_error_code": b"\x03\x00\x01",
        "received_at": T0,
        "next_try_at": T0,
        "expires_at": T0 + 600,
    }
    fields.update(kw)
    return PendingReceipt(**fields)  # type: ignore[arg-type]


async def test_pending_receipts_round_trip_and_fall_due_in_order(store: Store) -> None:
    with trio.fail_after(10):
        late, soon = pending("p1", next_try_at=T0 + 5), pending("p2", next_try_at=T0 + 1)
        await store.hold_receipts([late, soon, pending("p3", next_try_at=T0 + 50)])
        assert await store.due_pending_receipts(T0, 10) == []
        assert await store.due_pending_receipts(T0 + 10, 10) == [soon, late]
        assert await store.due_pending_receipts(T0 + 10, 1) == [soon]
        assert await store.count_pending_receipts() == 3
        assert await store.next_pending_receipt_at() == T0 + 1
        # Held again (a retry later, or given up): the record is replaced.
        retry = attrs.evolve(soon, attempts=1, next_try_at=T0 + 20)
        gone = attrs.evolve(late, unmatched=True, expires_at=T0 + 900)
        await store.hold_receipts([retry, gone])
        assert await store.due_pending_receipts(T0 + 10, 10) == []
        assert await store.due_pending_receipts(T0 + 60, 10) == [retry, pending(
            "p3", next_try_at=T0 + 50)]  # fmt: skip
        assert await store.count_pending_receipts() == 2
        assert await store.next_pending_receipt_at() == T0 + 20
        await store.drop_pending_receipts(["p2", "missing"])
        assert [p.id for p in await store.due_pending_receipts(T0 + 60, 10)] == ["p3"]
        await store.drop_pending_receipts(["p3"])
        assert await store.next_pending_receipt_at() is None


async def test_purge_removes_expired_pending_receipts(store: Store) -> None:
    with trio.fail_after(10):
        await store.hold_receipts(
            [pending("old", expires_at=T0 + 10), pending("kept", expires_at=T0 + 1000),
             pending("gave-up", unmatched=True, expires_at=T0 + 10)]
        )  # fmt: skip
        counts = await store.purge(T0 + 20)
        assert counts["pending_receipts"] == 2
        assert [p.id for p in await store.due_pending_receipts(T0 + 20, 10)] == ["kept"]


# --- parts of long replies -----------------------------------------------------------------


def part(key: str, seq: int, **kw: object) -> ReplyPart:
    fields: dict[str, object] = {
        "message_key": key,
        "seq": seq,
        "connector": "up1",
        "source_addr": NUMBER,
        "destination_addr": "31337",
        "esm_class": 0x40,
        "data_coding": 8,
        "short_message": b"\x05\x00\x03\x2a\x02" + bytes([seq]) + b"part",
        "tlvs": b"\x02\x0c\x00\x02\x00\x2a",
        "received_at": T0 + seq,
        "expires_at": T0 + 3600,
    }
    fields.update(kw)
    return ReplyPart(**fields)  # type: ignore[arg-type]


async def test_reply_parts_round_trip_oldest_first_and_a_resent_part_stays(
    store: Store,
) -> None:
    with trio.fail_after(10):
        a2, b1, a1 = part("a", 2), part("b", 1, source_addr=OTHER), part("a", 1)
        await store.put_reply_parts([a2, b1])
        await store.put_reply_parts([a1, part("a", 2, short_message=b"resent")])
        assert await store.reply_parts() == [a2, b1, a1]
        assert await store.reply_parts(limit=1) == [a2]
        await store.drop_reply_parts(["a", "never"])
        assert await store.reply_parts() == [b1]


async def test_a_joined_reply_replaces_its_parts_in_one_request(store: Store) -> None:
    with trio.fail_after(10):
        await store.put_reply_parts([part("a", 1), part("a", 2), part("b", 1)])
        whole = dlv("joined", short_message=b"partpart")
        await store.enqueue_delivery([whole], done_parts=["a"])
        assert [p.message_key for p in await store.reply_parts()] == ["b"]
        assert await leasable(store) == ["joined"]


async def test_reply_parts_are_exported_erased_and_purged(store: Store) -> None:
    with trio.fail_after(10):
        await store.put_reply_parts(
            [part("mine", 1, source_addr="+" + NUMBER), part("other", 1, source_addr=OTHER),
             part("old", 1, source_addr=OTHER, expires_at=T0 + 5)]
        )  # fmt: skip
        data = await store.export("00" + NUMBER)
        json.dumps(data)
        assert [p["message_key"] for p in data["reply_parts"]] == ["mine"]
        assert data["reply_parts"][0]["short_message"] == part("mine", 1).short_message.hex()
        counts = await store.erase(NUMBER, T0)
        assert counts["reply_parts"] == 1
        assert (await store.export(NUMBER))["reply_parts"] == []
        assert (await store.purge(T0 + 10))["reply_parts"] == 1
        assert [p.message_key for p in await store.reply_parts()] == ["other"]


# --- node-owned delivery leases --------------------------------------------------------------


async def test_an_item_queued_leased_is_held_until_released_or_expired(store: Store) -> None:
    with trio.fail_after(10):
        mine = dlv("mine", lease_owner="node-a", lease_until=T0 + 120)
        await store.enqueue_delivery([mine, dlv("free")])
        assert [d.id for d in await store.lease_delivery("acme", 10, 1000.0, T0)] == ["free"]
        (expired,) = await store.lease_delivery("acme", 10, 300.0, T0 + 121, "node-b")
        assert (expired.id, expired.lease_owner, expired.attempts) == ("mine", "node-b", 1)
        await store.nack_delivery("mine", T0 + 130)  # given back, to be tried from T0 + 130
        assert await leasable(store, now=T0 + 129) == []
        (back,) = await store.lease_delivery("acme", 10, 30.0, T0 + 130, "node-c")
        assert (back.id, back.lease_owner) == ("mine", "node-c")


async def test_release_frees_what_one_node_holds_and_only_that(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_delivery(
            [dlv("pushed", lease_owner="node-a", lease_until=T0 + 120),
             dlv("leased", created_at=T0 + 1), dlv("theirs", created_at=T0 + 2)]
        )  # fmt: skip
        got = await store.lease_delivery("acme", 1, 120.0, T0, "node-a")
        assert [(d.id, d.lease_owner, d.attempts) for d in got] == [("leased", "node-a", 1)]
        assert [d.id for d in await store.lease_delivery("acme", 1, 120.0, T0, "node-b")] == [
            "theirs"
        ]
        assert await store.release_deliveries("node-a") == 2
        assert await store.release_deliveries("node-a") == 0
        again = await store.lease_delivery("acme", 10, 30.0, T0 + 1, "node-c")
        assert sorted((d.id, d.attempts) for d in again) == [("leased", 2), ("pushed", 1)]
        # node-b's lease was not touched.
        assert await store.release_deliveries("node-b") == 1


async def test_a_finalised_receipt_can_go_in_leased(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("m1", state=MtState.ENROUTE)])
        pushed = receipt("m1", lease_owner="node-a", lease_until=T0 + 120)
        await store.finalise_mt([MtFinal("m1", MtState.DELIVERED, T0, receipt=pushed)])
        assert await leasable(store) == []
        assert await store.release_deliveries("node-a") == 1
        assert await leasable(store) == ["r:m1"]


async def test_acks_of_many_items_in_one_call(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_delivery([dlv(f"d{i}") for i in range(5)])
        await store.lease_delivery("acme", 10, 30.0, T0, "node-a")
        await store.ack_deliveries(["d0", "d2", "d4", "missing"])
        assert await store.delivery_depth("acme") == 2
        assert await store.release_deliveries("node-a") == 2
        assert await leasable(store) == ["d1", "d3"]
