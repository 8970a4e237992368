"""Sans-I/O reassembly of concatenated messages (MO replies arriving in parts).

Owns the table of incomplete messages. Parts are fed with their conversation key
(source, destination, reference, reference kind, total) so that two long messages never mix
even when their references collide; they may arrive out of order and more than once. The
table is bounded in entries (the oldest partial is evicted, and counted) and in time: time
is an input (``now``, from the caller's monotonic clock), ``next_deadline()`` says when the
oldest partial expires and ``expire(now)`` hands the expired partials back so the caller can
count them or deliver what arrived.

Part payloads are opaque bytes: feed what should be joined (for packed GSM, the unpacked
septets of each part; for UCS2 the UTF-16BE octets) and decode the joined result.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable

import attrs

__all__ = [
    "Partial",
    "Reassembled",
    "Reassembler",
    "ReassemblyKey",
    "ReassemblyStatistics",
    "RefKind",
]


class RefKind(enum.IntEnum):
    """Where the reference came from: it is part of the key (§9.5, §9.6)."""

    UDH8 = 8
    UDH16 = 16
    SAR = 0


@attrs.frozen
class ReassemblyKey:
    source: Hashable
    destination: Hashable
    reference: int
    kind: RefKind
    total: int


@attrs.frozen
class Reassembled:
    """A complete message: its parts in order (index 0 is part 1)."""

    key: ReassemblyKey
    parts: tuple[bytes, ...]
    first_seen: float

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)


@attrs.frozen
class Partial:
    """An incomplete message handed back by :meth:`Reassembler.expire` (an evicted one is
    only counted: a caller that must not lose parts keeps its own copy, as the gateway does)."""

    key: ReassemblyKey
    parts: tuple[tuple[int, bytes], ...]  #: (seq, data) received, sorted by seq
    first_seen: float

    @property
    def missing(self) -> tuple[int, ...]:
        have = {seq for seq, _ in self.parts}
        return tuple(seq for seq in range(1, self.key.total + 1) if seq not in have)


@attrs.frozen
class ReassemblyStatistics:
    pending: int
    completed: int
    duplicates: int
    evicted: int
    expired: int


@attrs.define
class _Entry:
    first_seen: float
    parts: dict[int, bytes]


class Reassembler:
    """Collects message parts until each message is complete.

    ``max_entries`` bounds the number of incomplete messages held; ``timeout`` is how long
    (in the caller's time unit, measured from a message's first part) a partial may wait.
    ``now`` must not go backwards.
    """

    def __init__(self, max_entries: int, timeout: float) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._max_entries = max_entries
        self._timeout = timeout
        # Insertion order is first-seen order: the first entry is the oldest.
        self._entries: dict[ReassemblyKey, _Entry] = {}
        self._completed = 0
        self._duplicates = 0
        self._evicted = 0
        self._expired = 0

    def __len__(self) -> int:
        return len(self._entries)

    def feed(
        self,
        *,
        source: Hashable,
        destination: Hashable,
        reference: int,
        kind: RefKind,
        total: int,
        seq: int,
        data: bytes,
        now: float,
    ) -> Reassembled | None:
        """Add one part; return the whole message when this part completes it.

        A part already held (same key and seq) is a duplicate: counted and ignored, the
        first copy is kept. Raises ``ValueError`` for total outside 1..255 or seq outside
        1..total (``parse_udh`` already drops such IEs).
        """
        if not 1 <= total <= 255:
            raise ValueError(f"total must be 1..255, not {total}")
        if not 1 <= seq <= total:
            raise ValueError(f"seq must be 1..{total}, not {seq}")
        key = ReassemblyKey(source, destination, reference, RefKind(kind), total)
        if total == 1:
            self._completed += 1
            return Reassembled(key, (data,), now)
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self._max_entries:
                oldest = next(iter(self._entries))
                del self._entries[oldest]
                self._evicted += 1
            entry = _Entry(now, {})
            self._entries[key] = entry
        if seq in entry.parts:
            self._duplicates += 1
            return None
        entry.parts[seq] = data
        if len(entry.parts) < total:
            return None
        del self._entries[key]
        self._completed += 1
        return Reassembled(
            key, tuple(entry.parts[i] for i in range(1, total + 1)), entry.first_seen
        )

    def next_deadline(self) -> float | None:
        """When the oldest partial expires, or None when nothing is pending."""
        for entry in self._entries.values():
            return entry.first_seen + self._timeout
        return None

    def expire(self, now: float) -> tuple[Partial, ...]:
        """Remove and return the partials whose first part is at least ``timeout`` old."""
        expired: list[Partial] = []
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.first_seen + self._timeout > now:
                break
            del self._entries[key]
            expired.append(Partial(key, tuple(sorted(entry.parts.items())), entry.first_seen))
        self._expired += len(expired)
        return tuple(expired)

    def statistics(self) -> ReassemblyStatistics:
        return ReassemblyStatistics(
            pending=len(self._entries),
            completed=self._completed,
            duplicates=self._duplicates,
            evicted=self._evicted,
            expired=self._expired,
        )
