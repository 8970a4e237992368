"""Ownership matcher vs a brute-force oracle, and the cross-account reverse index."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.gateway.ownership import NumberSet, OwnershipConflict, OwnershipIndex, parse_spec

# Small alphabet and lengths so random specs and probes actually collide.
_num = st.text("0123", min_size=3, max_size=5)


@st.composite
def specs(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["exact", "range", "prefix"]))
    if kind == "exact":
        return draw(_num)
    if kind == "prefix":
        return draw(st.text("0123", min_size=1, max_size=4)) + "*"
    a = draw(_num)
    b = draw(st.text("0123", min_size=len(a), max_size=len(a)))
    lo, hi = sorted([a, b], key=int)
    return f"{lo}-{hi}"


def oracle(spec_list: list[str], e164: str) -> bool:
    for spec in spec_list:
        kind, lo, hi = parse_spec(spec)
        if kind == "prefix" and e164.startswith(lo):
            return True
        if kind != "prefix" and len(e164) == len(lo) and int(lo) <= int(e164) <= int(hi):
            return True
    return False


def specs_overlap(x: str, y: str) -> bool:
    """Independent oracle: do two specs share at least one number (up to 15 digits)?"""
    kx, lx, hx = parse_spec(x)
    ky, ly, hy = parse_spec(y)
    if kx == "prefix" and ky == "prefix":
        return lx.startswith(ly) or ly.startswith(lx)
    if kx == "prefix" or ky == "prefix":
        p, lo, hi = (lx, ly, hy) if kx == "prefix" else (ly, lx, hx)
        if len(lo) < len(p):
            return False
        scale: int = 10 ** (len(lo) - len(p))
        return int(lo) <= (int(p) + 1) * scale - 1 and int(p) * scale <= int(hi)
    return len(lx) == len(ly) and int(lx) <= int(hy) and int(ly) <= int(hx)


@settings(max_examples=300, deadline=None)
@given(spec_list=st.lists(specs(), max_size=8), probes=st.lists(_num, min_size=1, max_size=20))
def test_owns_matches_brute_force(spec_list: list[str], probes: list[str]) -> None:
    ns = NumberSet.compile(spec_list)
    for probe in probes:
        assert ns.owns(probe) == oracle(spec_list, probe), (spec_list, probe)


@settings(max_examples=200, deadline=None)
@given(a=st.lists(specs(), max_size=5), b=st.lists(specs(), max_size=5), probes=st.lists(_num))
def test_reverse_index_agrees_with_oracle_or_reports_conflict(
    a: list[str], b: list[str], probes: list[str]
) -> None:
    # Brute force over every number of lengths 1..6 in the alphabet is too big; check
    # overlaps on the probes plus every spec endpoint, which is where overlaps show.
    points = set(probes)
    for spec in a + b:
        kind, lo, hi = parse_spec(spec)
        points.update({lo, hi} if kind != "prefix" else {lo, lo + "0", lo + "3"})
    try:
        index = OwnershipIndex.build({"a": a, "b": b})
    except OwnershipConflict as e:
        assert e.pairs == [("a", "b")]
        assert any(specs_overlap(x, y) for x in a for y in b), (a, b)
        return
    for p in points:
        in_a, in_b = oracle(a, p), oracle(b, p)
        assert not (in_a and in_b), (a, b, p)  # build() must have caught this
        assert index.owner_of(p) == ("a" if in_a else "b" if in_b else None)


def test_demo_range_and_prefixes() -> None:
    index = OwnershipIndex.build(
        {"demo": ["27600000000-27600000999"], "acme": ["2761*", "+27821234567"], "none": []}
    )
    assert index.owner_of("27600000000") == "demo"
    assert index.owner_of("27600000999") == "demo"
    assert index.owner_of("27600001000") is None
    assert index.owner_of("2760000099") is None  # shorter number: not in a fixed-length range
    assert index.owner_of("27619999999") == "acme"
    assert index.owner_of("27821234567") == "acme"
    assert index.sets["demo"].owns("27600000123")
    assert not index.sets["acme"].owns("27600000123")


def test_overlap_names_accounts_not_numbers() -> None:
    with pytest.raises(OwnershipConflict) as info:
        OwnershipIndex.build(
            {"demo": ["27600000000-27600000999"], "acme": ["276000005*"], "ok": ["2799*"]}
        )
    assert info.value.pairs == [("acme", "demo")]
    assert "2760" not in str(info.value)


def test_overlap_within_one_account_is_fine() -> None:
    index = OwnershipIndex.build({"demo": ["2760*", "27600000001", "27600000000-27600000009"]})
    assert index.owner_of("27600000001") == "demo"


@pytest.mark.parametrize("bad", ["27a", "2-1", "12-123", "", "*", "1234567890123456"])
def test_bad_specs_raise(bad: str) -> None:
    with pytest.raises(ValueError):
        NumberSet.compile([bad])
