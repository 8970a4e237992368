"""Which account owns which numbers: compiled matchers and a reverse index.

Owns: parsing an account's number specs — exact numbers (``"27600000001"``), inclusive
ranges of equal length (``"27600000000-27600000999"``) and prefixes (``"2760*"``) — into a
:class:`NumberSet` whose ``owns(e164)`` is a set lookup, a ``bisect`` over sorted disjoint
ranges and one dict lookup per distinct prefix length; and the cross-account
:class:`OwnershipIndex` whose ``owner_of(e164)`` routes replies by number ownership.
Overlaps between accounts are a configuration error (:class:`OwnershipConflict`) that
names the accounts (never the numbers: config may be logged).

Numbers are E.164 digits without ``+`` (a leading ``+`` in a spec is tolerated). A range
matches numbers of its own length only; a prefix matches numbers of any length.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

import attrs

__all__ = ["NumberSet", "OwnershipConflict", "OwnershipIndex", "parse_spec"]

# An interval of numbers of one digit-length: (length, low, high), inclusive.
_Interval = tuple[int, int, int]


class OwnershipConflict(ValueError):
    """Two accounts claim overlapping numbers; ``pairs`` lists the account names."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = sorted(set(pairs))
        names = ", ".join(f"{a} and {b}" for a, b in self.pairs)
        super().__init__(f"number ownership overlaps between accounts: {names}")


def _digits(text: str, spec: str) -> str:
    text = text.strip().removeprefix("+")
    if not (text.isascii() and text.isdigit()) or len(text) > 15:
        raise ValueError(f"bad number spec {spec!r}: expected 1-15 digits")
    return text


def parse_spec(spec: str) -> tuple[str, str, str]:
    """Parse one spec into ``("exact", n, n)``, ``("range", lo, hi)`` or ``("prefix", p, p)``."""
    s = spec.strip()
    if s.endswith("*"):
        p = _digits(s[:-1], spec)
        return ("prefix", p, p)
    if "-" in s:
        lo_s, _, hi_s = s.partition("-")
        lo, hi = _digits(lo_s, spec), _digits(hi_s, spec)
        if len(lo) != len(hi) or int(lo) > int(hi):
            raise ValueError(f"bad range {spec!r}: ends must have equal length and lo <= hi")
        return ("range", lo, hi)
    n = _digits(s, spec)
    return ("exact", n, n)


def _merge(intervals: Iterable[_Interval]) -> tuple[_Interval, ...]:
    out: list[_Interval] = []
    for length, lo, hi in sorted(intervals):
        if out and out[-1][0] == length and lo <= out[-1][2] + 1:
            prev = out[-1]
            out[-1] = (length, prev[1], max(prev[2], hi))
        else:
            out.append((length, lo, hi))
    return tuple(out)


@attrs.frozen(slots=True)
class NumberSet:
    """One account's numbers, compiled for fast ``owns``. Build with :meth:`compile`."""

    exact: frozenset[str]
    # Disjoint, sorted by (length, low); ``_starts`` mirrors it for bisect.
    ranges: tuple[_Interval, ...]
    prefixes: frozenset[str]
    _starts: tuple[tuple[int, int], ...] = attrs.field(repr=False)
    _prefix_lengths: tuple[int, ...] = attrs.field(repr=False)

    @classmethod
    def compile(cls, specs: Iterable[str]) -> NumberSet:
        exact: set[str] = set()
        ranges: list[_Interval] = []
        prefixes: set[str] = set()
        for spec in specs:
            kind, lo, hi = parse_spec(spec)
            if kind == "exact":
                exact.add(lo)
            elif kind == "range":
                ranges.append((len(lo), int(lo), int(hi)))
            else:
                prefixes.add(lo)
        merged = _merge(ranges)
        return cls(
            exact=frozenset(exact),
            ranges=merged,
            prefixes=frozenset(prefixes),
            starts=tuple((r[0], r[1]) for r in merged),
            prefix_lengths=tuple(sorted({len(p) for p in prefixes}, reverse=True)),
        )

    def owns(self, e164: str) -> bool:
        """True if ``e164`` (digits, no ``+``) is one of these numbers."""
        if e164 in self.exact:
            return True
        if self.ranges:
            key = (len(e164), int(e164))
            i = bisect.bisect_right(self._starts, key) - 1
            if i >= 0:
                length, _, hi = self.ranges[i]
                if length == key[0] and key[1] <= hi:
                    return True
        return any(e164[:n] in self.prefixes for n in self._prefix_lengths if n <= len(e164))

    def intervals(self, max_length: int = 15) -> list[_Interval]:
        """Every number as (length, lo, hi) intervals; prefixes expand per length."""
        out = [(len(n), int(n), int(n)) for n in self.exact]
        out.extend(self.ranges)
        for p in self.prefixes:
            for length in range(len(p), max_length + 1):
                scale: int = 10 ** (length - len(p))
                out.append((length, int(p) * scale, (int(p) + 1) * scale - 1))
        return out


@attrs.frozen(slots=True)
class OwnershipIndex:
    """Reverse index ``number → account`` across all accounts (no overlaps allowed)."""

    sets: Mapping[str, NumberSet]
    _exact: Mapping[str, str] = attrs.field(repr=False)
    _ranges: tuple[_Interval, ...] = attrs.field(repr=False)
    _range_owner: tuple[str, ...] = attrs.field(repr=False)
    _starts: tuple[tuple[int, int], ...] = attrs.field(repr=False)
    _prefixes: Mapping[str, str] = attrs.field(repr=False)
    _prefix_lengths: tuple[int, ...] = attrs.field(repr=False)

    @classmethod
    def build(cls, specs: Mapping[str, Iterable[str]]) -> OwnershipIndex:
        """Compile every account's specs; raise :class:`OwnershipConflict` on overlap."""
        sets = {name: NumberSet.compile(s) for name, s in specs.items()}
        _check_overlaps(sets)
        exact: dict[str, str] = {}
        tagged: list[tuple[_Interval, str]] = []
        prefixes: dict[str, str] = {}
        for name, ns in sets.items():
            exact.update(dict.fromkeys(ns.exact, name))
            tagged.extend((r, name) for r in ns.ranges)
            prefixes.update(dict.fromkeys(ns.prefixes, name))
        tagged.sort()
        return cls(
            sets=sets,
            exact=exact,
            ranges=tuple(t[0] for t in tagged),
            range_owner=tuple(t[1] for t in tagged),
            starts=tuple((t[0][0], t[0][1]) for t in tagged),
            prefixes=prefixes,
            prefix_lengths=tuple(sorted({len(p) for p in prefixes}, reverse=True)),
        )

    def owner_of(self, e164: str) -> str | None:
        """The account owning ``e164`` (digits, no ``+``), or None."""
        owner = self._exact.get(e164)
        if owner is not None:
            return owner
        if self._ranges:
            key = (len(e164), int(e164))
            i = bisect.bisect_right(self._starts, key) - 1
            if i >= 0:
                length, _, hi = self._ranges[i]
                if length == key[0] and key[1] <= hi:
                    return self._range_owner[i]
        for n in self._prefix_lengths:
            if n <= len(e164):
                owner = self._prefixes.get(e164[:n])
                if owner is not None:
                    return owner
        return None


def _check_overlaps(sets: Mapping[str, NumberSet]) -> None:
    """Sweep all accounts' intervals per length; collect overlapping account pairs."""
    tagged = sorted((iv, name) for name, ns in sets.items() for iv in ns.intervals())
    pairs: list[tuple[str, str]] = []
    # Active intervals of the current length: (hi, name); a small list is enough because
    # a valid config has no overlaps, so at most one interval is active at a time.
    active: list[tuple[int, str]] = []
    current_length = -1
    for (length, lo, hi), name in tagged:
        if length != current_length:
            active, current_length = [], length
        active = [(h, n) for h, n in active if h >= lo]
        pairs.extend((min(n, name), max(n, name)) for _, n in active if n != name)
        active.append((hi, name))
    if pairs:
        raise OwnershipConflict(pairs)
