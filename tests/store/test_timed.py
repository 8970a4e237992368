"""Store call latency: every coroutine method of the store, timed into
``smppcore_store_seconds{operation}``; everything else passes through."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from smppcore.metrics import Metrics
from smppcore.store.base import MtMessage
from smppcore.store.sqlite import open_sqlite_store
from smppcore.store.timed import TIMED_OPERATIONS, TimedStore, timed_store


def count(metrics: Metrics, operation: str) -> float | None:
    return metrics.registry.get_sample_value(
        "smppcore_store_seconds_count", {"operation": operation}
    )


async def test_every_store_call_is_timed_by_operation(tmp_path: Path) -> None:
    metrics = Metrics()
    with trio.fail_after(30):
        async with open_sqlite_store(tmp_path / "s.sqlite3", hash_secret=b"x" * 32) as inner:
            store = timed_store(inner, metrics)
            message = MtMessage(id="m1", account="demo", connector="sim", source_addr="1",
                                destination_addr="2", payload=b"x", expires_at=2e9)  # fmt: skip
            await store.enqueue_mt([message])
            assert await store.queue_depth("sim") == 1
            assert await store.queue_depth("sim") == 1
            assert store.hash_msisdn("27821234567") == inner.hash_msisdn("27821234567")
            assert isinstance(store, TimedStore) and store.inner is inner
    assert count(metrics, "enqueue_mt") == 1
    assert count(metrics, "queue_depth") == 2
    assert count(metrics, "hash_msisdn") is None  # not a store call worth timing
    assert {"enqueue_mt", "finalise_mt", "lease_mt", "match_receipt"} <= TIMED_OPERATIONS
    assert "hash_msisdn" not in TIMED_OPERATIONS


async def test_a_failing_call_is_timed_and_raises_as_itself(tmp_path: Path) -> None:
    metrics = Metrics()

    class Broken:
        async def get_mt(self, message_id: str) -> MtMessage | None:
            raise RuntimeError("store down")

    store = timed_store(Broken(), metrics)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="store down"):
        await store.get_mt("m1")
    assert count(metrics, "get_mt") == 1
