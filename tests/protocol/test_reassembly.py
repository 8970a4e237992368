"""Reassembly of long messages: order, duplicates, separate conversations, bounds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.protocol.reassembly import (
    Partial,
    Reassembled,
    Reassembler,
    ReassemblyKey,
    RefKind,
)
from smppcore.protocol.segment import SplitMode, parse_udh, split_text
from smppcore.protocol.text import decode_text


def feed(r: Reassembler, seq: int, data: bytes, *, now: float = 0.0, **kw: object) -> object:
    args: dict[str, object] = {
        "source": "A",
        "destination": "B",
        "reference": 1,
        "kind": RefKind.UDH8,
        "total": 3,
    }
    args.update(kw)
    return r.feed(seq=seq, data=data, now=now, **args)  # type: ignore[arg-type]


def test_in_order() -> None:
    r = Reassembler(max_entries=10, timeout=60)
    assert feed(r, 1, b"a") is None
    assert feed(r, 2, b"b") is None
    done = feed(r, 3, b"c")
    assert isinstance(done, Reassembled)
    assert done.data == b"abc"
    assert done.key == ReassemblyKey("A", "B", 1, RefKind.UDH8, 3)
    assert len(r) == 0
    assert r.statistics().completed == 1


def test_out_of_order_and_duplicates() -> None:
    r = Reassembler(max_entries=10, timeout=60)
    assert feed(r, 3, b"c") is None
    assert feed(r, 3, b"X") is None
    assert feed(r, 1, b"a") is None
    assert feed(r, 1, b"a") is None
    done = feed(r, 2, b"b")
    assert isinstance(done, Reassembled)
    assert done.parts == (b"a", b"b", b"c")
    assert r.statistics().duplicates == 2


def test_single_part_completes_immediately() -> None:
    r = Reassembler(max_entries=1, timeout=60)
    done = feed(r, 1, b"x", total=1)
    assert isinstance(done, Reassembled)
    assert done.data == b"x"
    assert len(r) == 0


def test_two_interleaved_conversations_never_mix() -> None:
    r = Reassembler(max_entries=10, timeout=60)
    # Same reference from two sources, and same source with a different total / ref kind.
    assert feed(r, 1, b"a1", source="A") is None
    assert feed(r, 1, b"b1", source="C") is None
    assert feed(r, 1, b"x1", source="A", total=2) is None
    assert feed(r, 1, b"s1", source="A", kind=RefKind.SAR) is None
    assert feed(r, 2, b"a2", source="A") is None
    assert feed(r, 2, b"b2", source="C") is None
    x = feed(r, 2, b"x2", source="A", total=2)
    assert isinstance(x, Reassembled)
    assert x.data == b"x1x2"
    a = feed(r, 3, b"a3", source="A")
    b = feed(r, 3, b"b3", source="C")
    assert isinstance(a, Reassembled)
    assert isinstance(b, Reassembled)
    assert (a.data, b.data) == (b"a1a2a3", b"b1b2b3")
    assert len(r) == 1  # the SAR one is still waiting


def test_eviction_of_oldest_is_counted() -> None:
    r = Reassembler(max_entries=2, timeout=60)
    feed(r, 1, b"1", reference=1, now=0)
    feed(r, 1, b"2", reference=2, now=1)
    feed(r, 1, b"3", reference=3, now=2)
    assert len(r) == 2
    assert r.statistics().evicted == 1
    # Reference 1 was evicted: its remaining parts start a fresh entry (evicting ref 2).
    assert feed(r, 2, b"x", reference=1, now=3) is None
    assert feed(r, 3, b"y", reference=1, now=3) is None
    assert r.statistics().evicted == 2
    assert feed(r, 2, b"x", reference=3, now=4) is None
    done = feed(r, 3, b"y", reference=3, now=4)
    assert isinstance(done, Reassembled)
    assert done.data == b"3xy"


def test_timeout_expires_partials() -> None:
    r = Reassembler(max_entries=10, timeout=30)
    assert r.next_deadline() is None
    feed(r, 1, b"a", reference=1, now=100)
    feed(r, 3, b"c", reference=1, now=105)
    feed(r, 1, b"z", reference=2, now=110)
    assert r.next_deadline() == 130
    assert r.expire(129.9) == ()
    expired = r.expire(130)
    assert expired == (
        Partial(ReassemblyKey("A", "B", 1, RefKind.UDH8, 3), ((1, b"a"), (3, b"c")), 100),
    )
    assert expired[0].missing == (2,)
    assert r.next_deadline() == 140
    assert [p.key.reference for p in r.expire(1000)] == [2]
    assert r.statistics().expired == 2
    assert r.statistics().pending == 0
    # A late part after expiry starts over rather than completing the old message.
    assert feed(r, 2, b"b", reference=1, now=1001) is None


@pytest.mark.parametrize(("total", "seq"), [(0, 1), (256, 1), (3, 0), (3, 4)])
def test_invalid_part_numbers_rejected(total: int, seq: int) -> None:
    r = Reassembler(max_entries=10, timeout=30)
    with pytest.raises(ValueError):
        feed(r, seq, b"", total=total)


def test_constructor_bounds() -> None:
    with pytest.raises(ValueError):
        Reassembler(max_entries=0, timeout=1)
    with pytest.raises(ValueError):
        Reassembler(max_entries=1, timeout=0)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 1200).flatmap(lambda n: st.text(min_size=n, max_size=n)),
    st.sampled_from([SplitMode.UDH8, SplitMode.UDH16, SplitMode.SAR]),
    st.randoms(use_true_random=False),
)
def test_split_then_reassemble_shuffled_with_duplicates(
    text: str, mode: SplitMode, rnd: random.Random
) -> None:
    msg = split_text(text, mode=mode, reference=42)
    parts = list(msg.segments) + rnd.sample(list(msg.segments), k=min(2, msg.total))
    rnd.shuffle(parts)
    r = Reassembler(max_entries=4, timeout=60)
    results = []
    for seg in parts:
        if seg.esm_class_udhi:
            concat, body = parse_udh(seg.short_message)
            assert concat is not None
            kind = RefKind.UDH8 if concat.ref_bits == 8 else RefKind.UDH16
            ref, total, seq = concat.reference, concat.total, concat.seq
        elif seg.sar is not None:
            body, kind = seg.short_message, RefKind.SAR
            ref, total, seq = seg.sar.msg_ref_num, seg.sar.total_segments, seg.sar.segment_seqnum
        else:
            body, kind, ref, total, seq = seg.short_message, RefKind.SAR, 0, 1, 1
        out = r.feed(
            source="1",
            destination="2",
            reference=ref,
            kind=kind,
            total=total,
            seq=seq,
            data=body,
            now=0,
        )
        if out is not None:
            results.append(out)
    assert len(results) >= 1
    assert decode_text(results[0].data, msg.data_coding) == text
