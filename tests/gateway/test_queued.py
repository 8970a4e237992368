"""The per-account queued cap (:class:`QueuedCounters`) under concurrent submits.

Mostly the store is a stand-in whose ``count_queued`` waits for the test to answer: that pause is
the window being tested (a real store answers too fast to hold it open deterministically).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import trio

from smppcore.gateway.queued import QueuedCounters
from smppcore.gateway.submit import enqueue
from smppcore.store.base import MtMessage, Store

from .mt_harness import running_gateway


class _PausedCount:
    """``count_queued`` returns ``value`` once ``gate`` is set (set at once by default)."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.gate = trio.Event()
        self.gate.set()
        self.asked = 0

    async def count_queued(self, account: str) -> int:
        self.asked += 1
        await self.gate.wait()
        return self.value


async def test_cap_holds_while_a_refresh_is_waiting_for_the_store() -> None:
    counters = QueuedCounters(refresh_seconds=1.0)
    fake = _PausedCount(0)
    store = cast(Store, fake)
    with trio.fail_after(5):
        assert await counters.reserve(store, "acme", 10, now=0.0, n=10)
        counters.commit("acme", 10)
        # the queue is full; the next refresh is due and the store is slow to answer
        fake.value, fake.gate = 10, trio.Event()
        results: list[bool] = []

        async def reserve_one() -> None:
            results.append(await counters.reserve(store, "acme", 10, now=2.0))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reserve_one)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(reserve_one)  # arrives while the refresh is in flight
            await trio.testing.wait_all_tasks_blocked()
            fake.gate.set()
        assert results == [False, False]
        assert counters.estimate("acme") == 10


async def test_a_commit_during_a_refresh_is_still_counted() -> None:
    counters = QueuedCounters(refresh_seconds=1.0)
    fake = _PausedCount(0)
    store = cast(Store, fake)
    with trio.fail_after(5):
        assert await counters.reserve(store, "acme", 10, now=0.0, n=3)
        counters.commit("acme", 3)
        assert await counters.reserve(store, "acme", 10, now=0.5)  # still being written
        fake.value, fake.gate = 3, trio.Event()  # the store does not see it yet
        ok: list[bool] = []

        async def reserve_one() -> None:
            ok.append(await counters.reserve(store, "acme", 10, now=2.0))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reserve_one)
            await trio.testing.wait_all_tasks_blocked()
            counters.commit("acme")  # durable while the store is being asked
            fake.gate.set()
        assert ok == [True]
        # 3 seen by the store + 1 committed meanwhile + 1 reserved now
        assert counters.estimate("acme") == 5
        assert fake.asked == 2


async def test_a_submit_cancelled_while_being_written_gives_its_room_back(
    tmp_path: Path,
) -> None:
    with trio.fail_after(10):
        async with running_gateway(tmp_path) as (gateway, _port):
            acme = gateway.directory.get("acme")
            assert acme is not None
            now = gateway.clock()

            def message(mid: str) -> MtMessage:
                return MtMessage(mid, "acme", "sim", "27600000001", "27600000900")

            assert await enqueue(gateway, acme, [message("a")], now) is None
            assert gateway.queued.estimate("acme") == 1
            with trio.CancelScope() as scope:
                scope.cancel()  # e.g. the session's nursery cancelled mid-write
                await enqueue(gateway, acme, [message("b")], now)
            assert scope.cancelled_caught
            assert gateway.queued.estimate("acme") == 1
