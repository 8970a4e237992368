"""Our message ids: unique across daemons and restarts, time-ordered, short ASCII.

Owns: :class:`MessageIdGenerator`. An id is a UUIDv7 (RFC 9562) written as 32 lowercase
hex digits without hyphens: 48 bits of Unix milliseconds, the version and variant bits,
and 74 bits that start random (``os.urandom``) for each new millisecond.

Why this shape:

* **Unique across daemons and restarts** without coordination: 74 random bits per
  millisecond make a collision between daemons negligible, and restarts move the clock on.
* **Sorts by time** as a string (fixed width, big-endian hex), so store keys and logs
  order naturally; within one generator ids are strictly increasing even for many ids in
  one millisecond (the 74-bit part is incremented, RFC 9562 method 2) and even if the wall
  clock steps backwards (the last timestamp is reused until the clock catches up).
* **32 ASCII chars** — within SMPP's 65-octet ``message_id`` and the 64 we promise;
  hex, because clients and receipt parsers commonly handle hex ids, and it is
  case-insensitive-safe if a peer upper-cases it.
* **Cheap**: one ``urandom(10)`` per millisecond at most, otherwise integer arithmetic.

Ids reveal their creation time (to the millisecond); they carry nothing else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Final

__all__ = ["MessageIdGenerator", "timestamp_ms"]

_RAND_BITS: Final = 74
_RAND_MASK: Final = (1 << _RAND_BITS) - 1
_TS_MASK: Final = (1 << 48) - 1


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _compose(ms: int, rand: int) -> str:
    rand_a = rand >> 62  # 12 bits
    rand_b = rand & ((1 << 62) - 1)
    value = ((ms & _TS_MASK) << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return f"{value:032x}"


def timestamp_ms(message_id: str) -> int:
    """The Unix millisecond an id was made at (raises ValueError if not one of ours)."""
    if len(message_id) != 32:
        raise ValueError("not a smppcore message id")
    return int(message_id[:12], 16)


class MessageIdGenerator:
    """Makes strictly increasing UUIDv7 hex ids; one per daemon (or per task) is enough."""

    __slots__ = ("_clock_ms", "_last_ms", "_last_rand", "_random")

    def __init__(
        self,
        clock_ms: Callable[[], int] = _wall_ms,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._clock_ms = clock_ms
        self._random = random_bytes
        self._last_ms = -1
        self._last_rand = 0

    def new(self) -> str:
        """A fresh id, greater than every id this generator made before."""
        ms = self._clock_ms()
        if ms > self._last_ms:
            rand = int.from_bytes(self._random(10), "big") & _RAND_MASK
            # Leave headroom so increments within this millisecond rarely overflow.
            rand >>= 1
        else:
            ms = self._last_ms
            rand = self._last_rand + 1
            if rand > _RAND_MASK:  # 2^73 ids in one ms: borrow the next millisecond
                ms += 1
                rand = int.from_bytes(self._random(10), "big") & _RAND_MASK >> 1
        self._last_ms, self._last_rand = ms, rand
        return _compose(ms, rand)
