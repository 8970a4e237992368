"""Message ids: format, strict ordering, uniqueness, clock steps."""

from __future__ import annotations

import itertools
import uuid

from smppcore.gateway.ids import MessageIdGenerator, timestamp_ms


def test_format_is_uuid7_hex() -> None:
    mid = MessageIdGenerator().new()
    assert len(mid) == 32 and mid.isascii() and all(c in "0123456789abcdef" for c in mid)
    u = uuid.UUID(mid)
    assert u.version == 7 and u.variant == uuid.RFC_4122


def test_strictly_increasing_in_one_millisecond_and_across_clock_steps() -> None:
    times = iter([1000] * 500 + [999] * 10 + [1001] * 10 + [5000])
    gen = MessageIdGenerator(clock_ms=lambda: next(times))
    ids = [gen.new() for _ in range(521)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert timestamp_ms(ids[0]) == 1000
    assert timestamp_ms(ids[505]) == 1000  # clock went back: timestamp held
    assert timestamp_ms(ids[-1]) == 5000


def test_two_generators_same_millisecond_do_not_collide() -> None:
    a = MessageIdGenerator(clock_ms=lambda: 42)
    b = MessageIdGenerator(clock_ms=lambda: 42)
    ids = {g.new() for g in itertools.islice(itertools.cycle([a, b]), 2000)}
    assert len(ids) == 2000


def test_counter_overflow_borrows_next_millisecond() -> None:
    gen = MessageIdGenerator(clock_ms=lambda: 7, random_bytes=lambda n: b"\xff" * n)
    first = gen.new()
    gen._last_rand = (1 << 74) - 1  # force the overflow path
    second = gen.new()
    assert second > first and timestamp_ms(second) == 8
