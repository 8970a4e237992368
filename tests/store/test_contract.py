"""The Store contract: every method's behaviour, written against the protocol only.

Runs once per backend (see the ``store`` fixture in conftest.py); both must pass unchanged.
"""

from __future__ import annotations

import json

import attrs
import pytest
import trio

from smppcore.store.base import (
    AuditEvent,
    Conversation,
    DeliveryItem,
    DeliveryKind,
    IdMapEntry,
    MtAck,
    MtChanges,
    MtFinal,
    MtMessage,
    MtState,
    Store,
)

T0 = 1_800_000_000.0
NUMBER = "27600000001"
OTHER = "27600000002"


def mt(mid: str, **kw: object) -> MtMessage:
    fields: dict[str, object] = {
        "id": mid,
        "account": "acme",
        "connector": "up1",
        "source_addr": "ACME",
        "destination_addr": OTHER,
        "payload": b"hello " + mid.encode(),
        "submitted_at": T0,
    }
    fields.update(kw)
    return MtMessage(**fields)  # type: ignore[arg-type]


def dlv(iid: str, **kw: object) -> DeliveryItem:
    fields: dict[str, object] = {
        "id": iid,
        "account": "acme",
        "kind": DeliveryKind.MO,
        "source_addr": OTHER,
        "destination_addr": "31337",
        "short_message": b"reply " + iid.encode(),
        "created_at": T0,
    }
    fields.update(kw)
    return DeliveryItem(**fields)  # type: ignore[arg-type]


async def ids_leased(
    store: Store, connector: str = "up1", limit: int = 100, now: float = T0
) -> list[str]:
    return [m.id for m in await store.lease_mt(connector, limit, 30.0, now)]


# --- MT queue ---------------------------------------------------------------------------------


async def test_enqueue_then_get_returns_the_same_record(store: Store) -> None:
    with trio.fail_after(10):
        m = mt(
            "m1",
            source_addr="+27600000003",
            source_addr_ton=1,
            dest_addr_npi=0,
            service_type="CMT",
            esm_class=0x40,
            protocol_id=1,
            priority=2,
            registered_delivery=1,
            data_coding=8,
            payload=bytes(range(256)),
            tlvs=b"\x14\x24\x00\x02\x00\x00",
            not_before=T0 + 5,
            validity_until=T0 + 3600,
            expires_at=T0 + 86400,
        )
        await store.enqueue_mt([m])
        assert await store.get_mt("m1") == m
        assert await store.get_mt("missing") is None


async def test_enqueue_of_an_existing_id_is_a_harmless_no_op(store: Store) -> None:
    """A retried enqueue (after an ambiguous failure: a lost connection, a cancellation) must
    not raise nor change the message already queued, leased or acked; the others of the same
    call are still enqueued."""
    with trio.fail_after(10):
        await store.enqueue_mt([mt("m1"), mt("m2")])
        (leased,) = await store.lease_mt("up1", 1, 30.0, T0)
        assert leased.id == "m1"
        await store.enqueue_mt([mt("m1", payload=b"changed"), mt("m3")])
        await store.enqueue_mt([mt("m2", priority=3)])
        assert await store.enqueue_mt_unless_suppressed([mt("m2"), mt("m4")], [[], []]) == [
            False,
            False,
        ]
        again = await store.get_mt("m1")
        assert again is not None
        assert (again.state, again.attempts, again.payload) == (MtState.LEASED, 0, b"hello m1")
        assert await ids_leased(store) == ["m2", "m3", "m4"]
        assert await store.count_queued("acme") == 4


async def test_enqueue_of_an_existing_delivery_id_is_a_harmless_no_op(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_delivery([dlv("d1")])
        (leased,) = await store.lease_delivery("acme", 10, 30.0, T0)
        await store.enqueue_delivery([dlv("d1", short_message=b"changed"), dlv("d2")])
        # d1 stays leased (not handed out twice) and unchanged; d2 is new.
        assert [d.id for d in await store.lease_delivery("acme", 10, 30.0, T0)] == ["d2"]
        back = await store.lease_delivery("acme", 10, 30.0, T0 + 31)
        assert back[0] == attrs.evolve(leased, attempts=2, lease_until=pytest.approx(T0 + 61))


async def test_lease_order_is_priority_then_age(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt(
            [
                mt("old-low", priority=0, submitted_at=T0 - 30),
                mt("new-high", priority=3, submitted_at=T0 - 1),
                mt("old-high", priority=3, submitted_at=T0 - 20),
                mt("mid", priority=1, submitted_at=T0 - 50),
                mt("other-connector", connector="up2", priority=3, submitted_at=T0 - 60),
            ]
        )
        assert await ids_leased(store, limit=2) == ["old-high", "new-high"]
        assert await ids_leased(store) == ["mid", "old-low"]
        assert await ids_leased(store) == []
        assert await ids_leased(store, connector="up2") == ["other-connector"]


async def test_equal_priority_and_age_leave_in_enqueue_order(store: Store) -> None:
    with trio.fail_after(10):
        names = [f"m{i:02d}" for i in range(20)]
        for name in names:
            await store.enqueue_mt([mt(name)])
        assert await ids_leased(store) == names


async def test_lease_marks_leased_and_is_not_an_attempt(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("m1")])
        (leased,) = await store.lease_mt("up1", 10, 30.0, T0)
        assert leased.state is MtState.LEASED
        assert leased.attempts == 0
        assert leased.lease_until == pytest.approx(T0 + 30.0)
        assert leased.payload == b"hello m1"
        stored = await store.get_mt("m1")
        assert stored is not None
        assert (stored.state, stored.attempts) == (MtState.LEASED, 0)


async def test_not_before_holds_a_message_back(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("later", not_before=T0 + 20), mt("now")])
        assert await ids_leased(store, now=T0) == ["now"]
        assert await ids_leased(store, now=T0 + 19) == []
        assert await ids_leased(store, now=T0 + 20) == ["later"]


async def test_expired_lease_returns_the_message(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("m1")])
        assert await ids_leased(store, now=T0) == ["m1"]
        assert await ids_leased(store, now=T0 + 29) == []
        again = await store.lease_mt("up1", 10, 30.0, T0 + 31)
        assert [m.id for m in again] == ["m1"]
        assert again[0].attempts == 0  # nobody said it was submitted
        assert again[0].lease_until == pytest.approx(T0 + 61)


async def test_concurrent_leases_never_share_a_message(store: Store) -> None:
    with trio.fail_after(20):
        await store.enqueue_mt([mt(f"m{i:03d}") for i in range(60)])
        got: list[list[str]] = []

        async def worker() -> None:
            for _ in range(10):
                got.append(await ids_leased(store, limit=3))

        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(worker)
        flat = [i for batch in got for i in batch]
        assert sorted(flat) == [f"m{i:03d}" for i in range(60)]


async def test_ack_sets_enroute_and_keeps_the_text(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("sent"), mt("queued")])
        await store.lease_mt("up1", 1, 30.0, T0)
        await store.ack_mt([MtAck("sent")])
        await store.ack_mt([MtAck("queued")])  # not leased: left alone
        sent = await store.get_mt("sent")
        queued = await store.get_mt("queued")
        assert sent is not None and queued is not None
        assert sent.state is MtState.ENROUTE
        assert sent.payload == b"hello sent"
        assert queued.state is MtState.QUEUED
        # Acked messages never come back, however late it gets.
        assert await ids_leased(store, now=T0 + 10_000) == ["queued"]


async def test_nack_requeues_for_retry_at(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("m1")])
        await store.lease_mt("up1", 10, 30.0, T0)
        await store.nack_mt("m1", T0 + 100, 0x58)
        stored = await store.get_mt("m1")
        assert stored is not None
        assert stored.state is MtState.QUEUED
        assert stored.error_code == 0x58
        assert await ids_leased(store, now=T0 + 99) == []
        (again,) = await store.lease_mt("up1", 10, 30.0, T0 + 100)
        assert again.id == "m1"
        assert again.attempts == 1


async def test_a_nack_of_an_unsent_message_is_not_an_attempt(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("behind")])
        await store.lease_mt("up1", 10, 30.0, T0)
        await store.nack_mt("behind", T0 + 5, 0, attempted=False)
        (again,) = await store.lease_mt("up1", 10, 30.0, T0 + 5)
        assert (again.id, again.attempts) == ("behind", 0)
        await store.nack_mt("behind", T0 + 10, 0x08)
        (third,) = await store.lease_mt("up1", 10, 30.0, T0 + 10)
        assert (third.attempts, third.error_code) == (1, 0x08)


async def test_accept_part_stores_the_map_and_the_progress(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("long"), mt("queued")])
        await store.lease_mt("up1", 1, 30.0, T0)
        part1 = IdMapEntry("up1", "U1", "long", "acme", 1, 3, T0 + 3600)
        part2 = IdMapEntry("up1", "U2", "long", "acme", 2, 3, T0 + 3600)
        await store.accept_part(part1)
        await store.accept_part(part2)
        await store.nack_mt("long", T0 + 5, 0x08)
        (again,) = await store.lease_mt("up1", 1, 30.0, T0 + 5)
        assert (again.id, again.parts_accepted, again.attempts) == ("long", 2, 1)
        assert await store.get_id_map("up1", "U1") == part1
        assert await store.get_id_map("up1", "U2") == part2
        # A message that is not leased gets the map only.
        other = IdMapEntry("up1", "U9", "queued", "acme", 1, 2, T0 + 3600)
        await store.accept_part(other)
        queued = await store.get_mt("queued")
        assert queued is not None and queued.parts_accepted == 0
        assert await store.get_id_map("up1", "U9") == other


async def test_record_segment_accumulates_and_reports_repeats(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("m1")])
        first = await store.record_segment("m1", 2, MtState.DELIVERED)
        assert (dict(first.states), first.repeated) == ({2: 2}, False)
        second = await store.record_segment("m1", 1, MtState.UNDELIVERABLE)
        assert (dict(second.states), second.repeated) == ({1: 5, 2: 2}, False)
        again = await store.record_segment("m1", 2, MtState.EXPIRED)
        assert (dict(again.states), again.repeated) == ({1: 5, 2: 2}, True)
        stored = await store.get_mt("m1")
        assert stored is not None
        assert dict(stored.segment_states) == {1: 5, 2: 2}
        missing = await store.record_segment("missing", 1, MtState.DELIVERED)
        assert (dict(missing.states), missing.repeated) == ({}, False)


async def test_cancel_only_while_queued_and_only_own_account(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("queued"), mt("leased", priority=3)])
        assert await ids_leased(store, limit=1) == ["leased"]
        assert not await store.cancel_mt("queued", "someone-else", T0)
        assert not await store.cancel_mt("leased", "acme", T0)
        assert not await store.cancel_mt("missing", "acme", T0)
        assert await store.cancel_mt("queued", "acme", T0 + 1)
        assert not await store.cancel_mt("queued", "acme", T0 + 2)
        cancelled = await store.get_mt("queued")
        assert cancelled is not None
        assert cancelled.state is MtState.DELETED
        assert cancelled.payload == b""
        assert await ids_leased(store, now=T0 + 10_000) == ["leased"]


async def test_replace_only_while_queued_and_only_given_fields(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([mt("queued", data_coding=0), mt("leased", priority=3)])
        assert await ids_leased(store, limit=1) == ["leased"]
        changes = MtChanges(payload=b"new text", not_before=T0 + 50)
        assert not await store.replace_mt("queued", "someone-else", changes)
        assert not await store.replace_mt("leased", "acme", changes)
        assert not await store.replace_mt("missing", "acme", changes)
        before = await store.get_mt("queued")
        assert await store.replace_mt("queued", "acme", changes)
        after = await store.get_mt("queued")
        assert before is not None
        assert after == attrs.evolve(before, payload=b"new text", not_before=T0 + 50)
        assert await store.replace_mt(
            "queued",
            "acme",
            MtChanges(data_coding=8, registered_delivery=1, validity_until=T0 + 900),
        )
        after = await store.get_mt("queued")
        assert after is not None
        assert (after.data_coding, after.registered_delivery, after.validity_until) == (
            8,
            1,
            T0 + 900,
        )
        assert after.payload == b"new text"


async def test_count_queued_and_queue_depth(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt(
            [
                mt("a1"),
                mt("a2", priority=3),
                mt("a3", connector="up2"),
                mt("b1", account="beta"),
            ]
        )
        assert await store.count_queued("acme") == 3
        assert await store.count_queued("beta") == 1
        assert await store.count_queued("nobody") == 0
        assert await store.queue_depth("up1") == 3
        assert await store.queue_depth("up2") == 1
        assert await ids_leased(store, limit=1) == ["a2"]
        # A leased message still counts: it is not done yet.
        assert await store.count_queued("acme") == 3
        assert await store.queue_depth("up1") == 3
        await store.finalise_mt([MtFinal("a2", MtState.DELIVERED, T0)])
        assert await store.count_queued("acme") == 2
        assert await store.queue_depth("up1") == 2
        assert await store.cancel_mt("a1", "acme", T0)
        assert await store.count_queued("acme") == 1


# --- id maps and conversations -----------------------------------------------------------------


async def test_id_maps_put_get_overwrite_and_purge(store: Store) -> None:
    with trio.fail_after(10):
        e1 = IdMapEntry("up1", "ABC123", "m1", "acme", 1, 2, expires_at=T0 + 100)
        e2 = IdMapEntry("up1", "ABC124", "m1", "acme", 2, 2, expires_at=T0 + 200)
        e3 = IdMapEntry("up2", "ABC123", "m9", "beta", expires_at=0.0)
        await store.put_id_maps([e1, e2, e3])
        assert await store.get_id_map("up1", "ABC123") == e1
        assert await store.get_id_map("up2", "ABC123") == e3
        assert await store.get_id_map("up1", "nope") is None
        moved = attrs.evolve(e1, message_id="m2")
        await store.put_id_maps([moved])
        assert await store.get_id_map("up1", "ABC123") == moved
        counts = await store.purge(T0 + 150)
        assert counts["id_maps"] == 1
        assert await store.get_id_map("up1", "ABC123") is None
        assert await store.get_id_map("up1", "ABC124") == e2
        # expires_at 0 means no expiry of its own.
        assert await store.get_id_map("up2", "ABC123") == e3


async def test_conversations_any_number_form_and_latest_wins(store: Store) -> None:
    with trio.fail_after(10):
        await store.put_conversations([Conversation("+" + NUMBER, "31337", "acme", T0, T0 + 100)])
        for form in (NUMBER, "+" + NUMBER, "00" + NUMBER):
            found = await store.get_conversation(form, "31337")
            assert found is not None
            assert found.account == "acme"
        assert await store.get_conversation(OTHER, "31337") is None
        await store.put_conversations([Conversation(NUMBER, "31337", "beta", T0 + 5, T0 + 300)])
        found = await store.get_conversation("+" + NUMBER, "31337")
        assert found is not None
        assert (found.account, found.updated_at) == ("beta", T0 + 5)
        await store.put_conversations([Conversation(OTHER, "31337", "acme", T0, T0 + 100)])
        counts = await store.purge(T0 + 200)
        assert counts["conversations"] == 1
        assert await store.get_conversation(OTHER, "31337") is None
        assert await store.get_conversation(NUMBER, "31337") is not None


# --- suppression -----------------------------------------------------------------------------


async def test_suppression_scopes(store: Store) -> None:
    with trio.fail_after(10):
        assert await store.add_suppression("31337", "+" + NUMBER, "STOP", T0)
        assert not await store.add_suppression("31337", NUMBER, "STOP", T0 + 1)
        assert await store.add_suppression("acme", OTHER, "STOP", T0)
        assert await store.is_suppressed(["31337"], "00" + NUMBER)
        assert await store.is_suppressed(["44444", "31337"], NUMBER)
        assert not await store.is_suppressed(["44444"], NUMBER)
        assert not await store.is_suppressed([], NUMBER)
        assert await store.is_suppressed(["acme"], OTHER)
        assert not await store.is_suppressed(["beta"], OTHER)
        assert not await store.is_suppressed(["31337"], OTHER)
        assert await store.remove_suppression("31337", NUMBER)
        assert not await store.remove_suppression("31337", NUMBER)
        assert not await store.is_suppressed(["31337"], NUMBER)
        assert await store.is_suppressed(["acme"], OTHER)


async def test_suppression_entries_hold_only_keyed_hashes(store: Store) -> None:
    with trio.fail_after(10):
        await store.add_suppression("31337", "+" + NUMBER, "STOP", T0)
        await store.add_suppression("acme", OTHER, "UNSUBSCRIBE", T0 + 1)
        entries = await store.list_suppressions()
        pairs = {(e.scope_hash, e.recipient_hash, e.keyword) for e in entries}
        assert pairs == {
            (store.hash_msisdn("31337"), store.hash_msisdn(NUMBER), "STOP"),
            (store.hash_msisdn("acme"), store.hash_msisdn(OTHER), "UNSUBSCRIBE"),
        }
        text = repr(entries)
        for clear in (NUMBER, OTHER, "31337", "acme"):
            assert clear not in text
        assert store.hash_msisdn("+" + NUMBER) == store.hash_msisdn("00" + NUMBER)
        assert store.hash_msisdn(NUMBER) != store.hash_msisdn(OTHER)


# --- delivery queues --------------------------------------------------------------------------


async def test_delivery_lease_oldest_first_per_account(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_delivery(
            [
                dlv("d-new", created_at=T0 - 1),
                dlv("d-old", created_at=T0 - 10),
                dlv("d-later", created_at=T0 - 20, not_before=T0 + 50),
                dlv("d-beta", account="beta", created_at=T0 - 30),
            ]
        )
        assert await store.delivery_depth("acme") == 3
        first = await store.lease_delivery("acme", 10, 100.0, T0)
        assert [d.id for d in first] == ["d-old", "d-new"]
        assert [d.attempts for d in first] == [1, 1]
        assert first[0].lease_until == pytest.approx(T0 + 100)
        assert first[0].short_message == b"reply d-old"
        assert await store.lease_delivery("acme", 10, 30.0, T0 + 1) == []
        later = await store.lease_delivery("acme", 10, 30.0, T0 + 50)
        assert [d.id for d in later] == ["d-later"]
        assert [d.id for d in await store.lease_delivery("beta", 10, 30.0, T0)] == ["d-beta"]


async def test_delivery_ack_nack_and_lease_expiry(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_delivery([dlv("d1"), dlv("d2", created_at=T0 + 1), dlv("d3")])
        leased = await store.lease_delivery("acme", 10, 30.0, T0 + 1)
        assert {d.id for d in leased} == {"d1", "d2", "d3"}
        await store.ack_deliveries(["d1"])
        await store.nack_delivery("d2", T0 + 100)
        assert await store.delivery_depth("acme") == 2
        # d3's lease expires at T0 + 31; d2 waits for its retry time.
        back = await store.lease_delivery("acme", 10, 300.0, T0 + 40)
        assert [(d.id, d.attempts) for d in back] == [("d3", 2)]
        retried = await store.lease_delivery("acme", 10, 30.0, T0 + 100)
        assert [(d.id, d.attempts) for d in retried] == [("d2", 2)]
        await store.ack_deliveries(["d2", "d3"])
        assert await store.delivery_depth("acme") == 0


async def test_delivery_item_round_trips(store: Store) -> None:
    with trio.fail_after(10):
        item = dlv(
            "r1",
            kind=DeliveryKind.RECEIPT,
            esm_class=0x04,
            data_coding=0,
            tlvs=b"\x00\x1e\x00\x03m1\x00",
            message_id="m1",
            expires_at=T0 + 999,
        )
        await store.enqueue_delivery([item])
        (leased,) = await store.lease_delivery("acme", 1, 10.0, T0)
        assert leased == attrs.evolve(item, attempts=1, lease_until=leased.lease_until)


# --- audit ------------------------------------------------------------------------------------


async def test_audit_appends_in_order(store: Store) -> None:
    with trio.fail_after(10):
        events = [
            AuditEvent(T0 + i, "optout", store.hash_msisdn(NUMBER), "s", f"STOP {i}")
            for i in range(5)
        ]
        for event in events:
            await store.append_audit(event)
        assert await store.list_audit() == events
        limited = await store.list_audit(limit=2)
        assert len(limited) == 2
        assert all(e in events for e in limited)


# --- data lifecycle ---------------------------------------------------------------------------


async def test_purge_deletes_final_messages_and_clears_expired_text(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt(
            [
                mt("final-old", expires_at=T0 + 10),
                mt("final-young", expires_at=T0 + 1000),
                mt("valid-passed", validity_until=T0 + 5, expires_at=T0 + 1000),
                mt("retention-passed-live", expires_at=T0 + 10, connector="up2"),
                mt("forever"),
            ]
        )
        await store.lease_mt("up1", 2, 30.0, T0)  # final-old, final-young
        await store.finalise_mt(
            [MtFinal(m, MtState.DELIVERED, T0 + 1) for m in ("final-old", "final-young")]
        )
        await store.enqueue_delivery([dlv("d-old", expires_at=T0 + 10), dlv("d-keep")])
        counts = await store.purge(T0 + 20)
        assert counts["mt_messages"] == 1
        assert counts["payloads_cleared"] == 2
        assert counts["delivery_items"] == 1
        assert counts["id_maps"] == 0
        assert counts["conversations"] == 0
        assert await store.get_mt("final-old") is None
        young = await store.get_mt("final-young")
        assert young is not None and young.state is MtState.DELIVERED
        for mid in ("valid-passed", "retention-passed-live"):
            kept = await store.get_mt(mid)
            assert kept is not None
            assert kept.payload == b""
        forever = await store.get_mt("forever")
        assert forever is not None and forever.payload == b"hello forever"
        assert await store.delivery_depth("acme") == 1
        again = await store.purge(T0 + 20)
        assert (again["mt_messages"], again["payloads_cleared"], again["delivery_items"]) == (
            0,
            0,
            0,
        )


async def _populate_person(store: Store) -> None:
    await store.enqueue_mt(
        [
            mt("to-plus", destination_addr="+" + NUMBER),
            mt("to-bare", destination_addr=NUMBER, connector="up2"),
            mt("from-00", source_addr="00" + NUMBER, destination_addr=OTHER),
            mt("unrelated", destination_addr=OTHER),
        ]
    )
    await store.put_id_maps(
        [
            IdMapEntry("up1", "U-1", "to-plus", "acme"),
            IdMapEntry("up1", "U-2", "unrelated", "acme"),
        ]
    )
    await store.put_conversations(
        [
            Conversation("31337", "+" + NUMBER, "acme", T0),
            Conversation(NUMBER, "31337", "acme", T0),
            Conversation(OTHER, "31337", "acme", T0),
        ]
    )
    await store.enqueue_delivery(
        [
            dlv("mo-from", source_addr="+" + NUMBER),
            dlv("dlr-to", kind=DeliveryKind.RECEIPT, destination_addr=NUMBER, message_id="x"),
            dlv("mo-other"),
        ]
    )
    await store.add_suppression("31337", NUMBER, "STOP", T0)


async def test_export_returns_every_record_about_the_number(store: Store) -> None:
    with trio.fail_after(10):
        await _populate_person(store)
        data = await store.export("00" + NUMBER)
        json.dumps(data)  # JSON-ready
        assert sorted(m["id"] for m in data["mt_messages"]) == ["from-00", "to-bare", "to-plus"]
        assert [e["upstream_id"] for e in data["id_maps"]] == ["U-1"]
        assert len(data["conversations"]) == 2
        assert sorted(d["id"] for d in data["delivery_items"]) == ["dlr-to", "mo-from"]
        to_plus = next(m for m in data["mt_messages"] if m["id"] == "to-plus")
        assert to_plus["payload"] == b"hello to-plus".hex()
        assert to_plus["destination_addr"] == "+" + NUMBER
        assert [s["recipient_hash"] for s in data["suppressions"]] == [store.hash_msisdn(NUMBER)]
        other = await store.export(OTHER)
        assert sorted(m["id"] for m in other["mt_messages"]) == ["from-00", "unrelated"]


async def test_erase_removes_every_record_but_the_hashed_opt_out(store: Store) -> None:
    with trio.fail_after(10):
        await _populate_person(store)
        counts = await store.erase("+" + NUMBER, T0 + 50)
        assert counts["mt_messages"] == 3
        assert counts["id_maps"] == 1
        assert counts["conversations"] == 2
        assert counts["delivery_items"] == 2
        for mid in ("to-plus", "to-bare", "from-00"):
            assert await store.get_mt(mid) is None
        assert await store.get_mt("unrelated") is not None
        assert await store.get_id_map("up1", "U-1") is None
        assert await store.get_id_map("up1", "U-2") is not None
        assert await store.get_conversation("31337", NUMBER) is None
        assert await store.get_conversation(NUMBER, "31337") is None
        assert await store.get_conversation(OTHER, "31337") is not None
        assert [d.id for d in await store.lease_delivery("acme", 10, 30.0, T0)] == ["mo-other"]
        # The opt-out must outlive the erasure, or erasing would re-subscribe the person.
        assert await store.is_suppressed(["31337"], NUMBER)
        audit = await store.list_audit()
        erase_events = [e for e in audit if e.action == "erase"]
        assert len(erase_events) == 1
        assert erase_events[0].subject_hash == store.hash_msisdn(NUMBER)
        assert erase_events[0].at == pytest.approx(T0 + 50)
        assert NUMBER not in repr(audit)
        left = await store.export(NUMBER)
        for data_class in ("mt_messages", "id_maps", "conversations", "delivery_items"):
            assert left[data_class] == [], data_class
        assert await store.count_queued("acme") == 1


async def test_export_and_erase_agree_on_a_receipt_linked_only_by_message_id(
    store: Store,
) -> None:
    """A receipt item whose addresses are not the number but whose message is: erase removes
    it (its message mentions the number), so export must show it too."""
    with trio.fail_after(10):
        await store.enqueue_mt([mt("to-me", destination_addr=NUMBER)])
        linked = dlv(
            "dlr-linked", kind=DeliveryKind.RECEIPT, source_addr="31337",
            destination_addr="31338", message_id="to-me",
        )  # fmt: skip
        await store.enqueue_delivery([linked, dlv("unlinked", message_id="other")])
        data = await store.export(NUMBER)
        assert [d["id"] for d in data["delivery_items"]] == ["dlr-linked"]
        counts = await store.erase(NUMBER, T0)
        assert (counts["mt_messages"], counts["delivery_items"]) == (1, 1)
        left = [d.id for d in await store.lease_delivery("acme", 10, 30.0, T0)]
        assert left == ["unlinked"]


async def test_erase_of_unknown_number_still_audits(store: Store) -> None:
    with trio.fail_after(10):
        counts = await store.erase(NUMBER, T0)
        assert counts["mt_messages"] == 0
        assert [e.action for e in await store.list_audit()] == ["erase"]
