"""Property tests of the Store contract (both backends): the MT queue against a model.

Each example opens its own store (async fixtures are not re-run per hypothesis example) and
works under fresh connector and account names.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smppcore.store.base import MtMessage, MtState, Store
from tests.store.conftest import BACKENDS, open_test_store

T0 = 1_800_000_000.0

_message_specs = st.lists(
    st.tuples(
        st.integers(0, 3),  # priority
        st.integers(0, 5),  # submitted_at offset (ties are common)
        st.integers(0, 3),  # not_before offset
    ),
    min_size=0,
    max_size=25,
)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    specs=_message_specs,
    chunk=st.integers(1, 5),
    limits=st.lists(st.integers(1, 7), min_size=1, max_size=8),
    at=st.integers(0, 4),
)
async def test_lease_follows_the_model_order(
    backend: str,
    tmp_path: Path,
    specs: list[tuple[int, int, int]],
    chunk: int,
    limits: list[int],
    at: int,
) -> None:
    with trio.fail_after(20):
        async with open_test_store(backend, tmp_path) as store:
            await _check_lease_order(store, specs, chunk, limits, at)


async def _check_lease_order(
    store: Store, specs: list[tuple[int, int, int]], chunk: int, limits: list[int], at: int
) -> None:
    tag = uuid.uuid4().hex[:12]
    connector, account = f"c-{tag}", f"a-{tag}"
    messages = [
        MtMessage(
            id=f"{tag}-{i}",
            account=account,
            connector=connector,
            source_addr="ACME",
            destination_addr="27600000002",
            priority=priority,
            submitted_at=T0 + age,
            not_before=T0 + not_before,
        )
        for i, (priority, age, not_before) in enumerate(specs)
    ]
    for start in range(0, len(messages), chunk):
        await store.enqueue_mt(messages[start : start + chunk])
    assert await store.count_queued(account) == len(messages)

    now = T0 + at
    order = sorted(
        (i for i, m in enumerate(messages) if m.not_before <= now),
        key=lambda i: (-messages[i].priority, messages[i].submitted_at, i),
    )
    expected = [messages[i].id for i in order]
    got: list[str] = []
    for limit in limits:
        batch = await store.lease_mt(connector, limit, 100.0, now)
        assert len(batch) <= limit
        assert all(m.state is MtState.LEASED and m.attempts == 0 for m in batch)
        got.extend(m.id for m in batch)
    assert got == expected[: len(got)]
    assert len(got) == min(len(expected), sum(limits))
    assert await store.queue_depth(connector) == len(messages)
