"""Contract of the combined store calls the hot paths use, against both backends:
``enqueue_mt(messages, conversations=...)``, ``ack_mt`` with id maps and suppression
checks issued concurrently (batched into shared round trips / answered on the trio thread)."""

from __future__ import annotations

import attrs
import pytest
import trio

from smppcore.store.base import Conversation, IdMapEntry, MtAck, MtMessage, MtState, Store

T0 = 1_800_000_000.0


def _mt(i: int) -> MtMessage:
    return MtMessage(
        id=f"c{i:05d}",
        account="acme",
        connector="up1",
        source_addr="27600000001",
        destination_addr=f"2782{i:07d}",
        payload=b"text",
        submitted_at=T0 + i,
    )


def _conv(m: MtMessage, account: str = "acme") -> Conversation:
    return Conversation(m.source_addr, m.destination_addr, account, T0, T0 + 1000)


async def test_enqueue_with_conversations_makes_both_durable(store: Store) -> None:
    with trio.fail_after(10):
        m = _mt(1)
        await store.enqueue_mt([m], conversations=[_conv(m)])
        assert await store.get_mt(m.id) == m
        found = await store.get_conversation(m.source_addr, m.destination_addr)
        assert found == _conv(m)
        # Conversations alone (no message) and messages alone both still work.
        await store.enqueue_mt([], conversations=[_conv(m, "beta")])
        found = await store.get_conversation(m.source_addr, m.destination_addr)
        assert found is not None and found.account == "beta"
        await store.enqueue_mt([_mt(2)])
        assert await store.get_conversation(_mt(2).source_addr, _mt(2).destination_addr) is None


async def test_concurrent_enqueues_with_conversations_each_land(store: Store) -> None:
    messages = [_mt(i) for i in range(60)]
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for m in messages:
                nursery.start_soon(lambda m=m: store.enqueue_mt([m], conversations=[_conv(m)]))
        leased = await store.lease_mt("up1", 100, 30.0, T0 + 100)
        assert [x.id for x in leased] == [m.id for m in messages]
        for m in messages:
            found = await store.get_conversation(m.source_addr, m.destination_addr)
            assert found is not None and found.account == "acme"


async def test_ack_with_id_maps_writes_maps_and_state(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([_mt(1), _mt(2)])
        leased = await store.lease_mt("up1", 10, 30.0, T0 + 10)
        assert len(leased) == 2
        one = IdMapEntry("up1", "AB01", leased[0].id, "acme", 2, 2, expires_at=T0 + 500)
        await store.ack_mt([MtAck(leased[0].id, [one])])
        assert await store.get_id_map("up1", "AB01") == one
        got = await store.get_mt(leased[0].id)
        assert got is not None and got.state is MtState.ENROUTE and got.payload == b"text"
        two = IdMapEntry("up1", "AB02", leased[1].id, "acme", expires_at=T0 + 500)
        await store.ack_mt([MtAck(leased[1].id, [two])])
        assert await store.get_id_map("up1", "AB02") == two
        got = await store.get_mt(leased[1].id)
        assert got is not None and got.state is MtState.ENROUTE


async def test_concurrent_acks_with_id_maps_each_land(store: Store) -> None:
    messages = [_mt(i) for i in range(40)]
    with trio.fail_after(20):
        await store.enqueue_mt(messages)
        leased = await store.lease_mt("up1", 100, 30.0, T0 + 100)
        assert len(leased) == len(messages)

        async def ack(m: MtMessage) -> None:
            entry = IdMapEntry("up1", f"U{m.id}", m.id, m.account, expires_at=T0 + 500)
            await store.ack_mt([MtAck(m.id, [entry])])

        async with trio.open_nursery() as nursery:
            for m in leased:
                nursery.start_soon(ack, m)
        assert await store.queue_depth("up1") == 0
        for m in messages:
            entry = await store.get_id_map("up1", f"U{m.id}")
            assert entry is not None and entry.message_id == m.id


async def test_one_ack_request_for_many_messages(store: Store) -> None:
    with trio.fail_after(10):
        await store.enqueue_mt([_mt(i) for i in range(4)])
        leased = await store.lease_mt("up1", 3, 30.0, T0 + 10)
        maps = [IdMapEntry("up1", f"B{i}", m.id, "acme", expires_at=T0 + 500)
                for i, m in enumerate(leased)]  # fmt: skip
        queued = (await store.lease_mt("up1", 5, 30.0, T0 + 10)) or []
        assert len(queued) == 1
        await store.nack_mt(queued[0].id, T0 + 20, 0)  # back to QUEUED: an ack leaves it
        await store.ack_mt(
            [MtAck(leased[0].id, maps[:2]), MtAck(leased[1].id), MtAck(leased[2].id, maps[2:]),
             MtAck(queued[0].id)]
        )  # fmt: skip
        for m in leased:
            got = await store.get_mt(m.id)
            assert got is not None and got.state is MtState.ENROUTE
        for entry in maps:
            assert await store.get_id_map("up1", entry.upstream_id) == entry
        left = await store.get_mt(queued[0].id)
        assert left is not None and left.state is MtState.QUEUED


async def test_concurrent_suppression_checks_each_get_their_own_answer(store: Store) -> None:
    suppressed = {f"2783{i:07d}" for i in range(0, 30, 3)}
    for number in suppressed:
        await store.add_suppression("27600000001", number, "STOP", T0)
    answers: dict[str, bool] = {}

    async def check(number: str) -> None:
        answers[number] = await store.is_suppressed(["27600000001", "acme"], number)

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for i in range(30):
                nursery.start_soon(check, f"2783{i:07d}")
    assert {n for n, yes in answers.items() if yes} == suppressed
    assert len(answers) == 30


async def test_suppression_check_sees_a_stop_at_once(store: Store) -> None:
    """No stale answer after an opt-out or an opt-in (nothing may cache it)."""
    with trio.fail_after(10):
        scopes = ["27600000001", "acme"]
        for _ in range(3):
            assert not await store.is_suppressed(scopes, "27830000001")
        await store.add_suppression("acme", "27830000001", "STOP", T0)
        assert await store.is_suppressed(scopes, "27830000001")
        await store.remove_suppression("acme", "27830000001")
        assert not await store.is_suppressed(scopes, "27830000001")


async def test_enqueue_unless_suppressed_skips_opted_out_recipients(store: Store) -> None:
    with trio.fail_after(10):
        messages = [_mt(i) for i in range(4)]
        await store.add_suppression("27600000001", messages[1].destination_addr, "STOP", T0)
        await store.add_suppression("acme", messages[2].destination_addr, "STOP", T0)
        # messages[3]'s recipient opted out of another sender only.
        await store.add_suppression("27600000009", messages[3].destination_addr, "STOP", T0)
        scopes = [["27600000001", "acme"]] * 4
        refused = await store.enqueue_mt_unless_suppressed(
            messages, scopes, conversations=[_conv(m) for m in messages]
        )
        assert refused == [False, True, True, False]
        for m, no in zip(messages, refused, strict=True):
            assert (await store.get_mt(m.id) is None) == no
            found = await store.get_conversation(m.source_addr, m.destination_addr)
            assert (found is None) == no
        # No scopes: nothing to be suppressed from; no conversations: none written.
        assert await store.enqueue_mt_unless_suppressed([_mt(9)], [[]]) == [False]
        assert await store.get_mt(_mt(9).id) is not None
        assert await store.get_conversation(_mt(9).source_addr, _mt(9).destination_addr) is None


async def test_enqueue_unless_suppressed_concurrently_and_after_a_stop(store: Store) -> None:
    messages = [_mt(i) for i in range(30)]
    stopped = {m.destination_addr for m in messages[::4]}
    for number in stopped:
        await store.add_suppression("acme", number, "STOP", T0)
    results: dict[str, bool] = {}

    async def submit(m: MtMessage) -> None:
        [results[m.id]] = await store.enqueue_mt_unless_suppressed(
            [m], [["27600000001", "acme"]], conversations=[_conv(m)]
        )

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for m in messages:
                nursery.start_soon(submit, m)
        for m in messages:
            assert results[m.id] == (m.destination_addr in stopped)
        assert await store.queue_depth("up1") == len(messages) - len(stopped)
        # A STOP that completed is seen by the next submit (nothing cached).
        late = _mt(99)
        assert await store.enqueue_mt_unless_suppressed([late], [["acme"]]) == [False]
        await store.add_suppression("acme", late.destination_addr, "STOP", T0)
        again = attrs.evolve(late, id="again")
        assert await store.enqueue_mt_unless_suppressed([again], [["acme"]]) == [True]


async def test_enqueue_unless_suppressed_wants_one_scope_list_per_message(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.enqueue_mt_unless_suppressed([_mt(1), _mt(2)], [["acme"]])
