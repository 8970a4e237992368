"""Handset replies: the right account, reassembled, consent recorded, nothing lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
import trio
from hypothesis import given, settings

from smppcore.gateway.replies import normalise_mo_address, split_part
from smppcore.gateway.returnpath import ReturnPathOptions
from smppcore.protocol.pdu import DeliverSm
from smppcore.protocol.segment import build_concat_udh
from smppcore.protocol.tlv import Tlvs
from smppcore.store.base import UNROUTABLE_ACCOUNT, Conversation

from .test_return_harness import (
    BACKENDS,
    CONNECTOR,
    FAST,
    account,
    backend_prefix_fixture,  # noqa: F401 - the backend_prefix fixture
    deliver,
    make_config,
    receive_with_smpplib,
    running_gateway,
)

HANDSET = "27821234567"


def mo(
    text: bytes, *, source: str = HANDSET, dest: str = "27600000001", **fields: object
) -> DeliverSm:
    return DeliverSm(
        source_addr_ton=1, source_addr_npi=1, source_addr=source,
        dest_addr_ton=1, dest_addr_npi=1, destination_addr=dest,
        short_message=text, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("addr", "ton", "expected"),
    [
        ("27821234567", 1, "27821234567"),
        ("+27821234567", 0, "27821234567"),
        ("0821234567", 2, "27821234567"),
        ("0821234567", 0, "27821234567"),
        ("0027821234567", 0, "27821234567"),
        ("ACME", 5, None),
    ],
)
def test_mo_addresses_are_normalised(addr: str, ton: int, expected: str | None) -> None:
    assert normalise_mo_address(addr, ton, "ZA") == expected


@pytest.mark.parametrize("backend", BACKENDS)
async def test_stop_reply_reaches_client_and_suppresses_then_start_lifts(
    tmp_path: Path, backend: str, backend_prefix: str | None
) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", redis_prefix=backend_prefix) as run:
            gw = run.gateway
            sink = run.return_path
            # national format from the operator: normalised before any look-up
            stop = attrs.evolve(mo(b"stop ", source="0821234567"), source_addr_ton=2)
            assert await deliver(sink, stop) == 0
            assert await gw.store.is_suppressed(["27600000001"], HANDSET)
            assert not await gw.store.is_suppressed(["27600000002"], HANDSET)
            got = [r for r in await receive_with_smpplib(run.port, "alpha", 1) if r.status == 0]
            assert [g.short_message for g in got] == [b"stop "]
            assert got[0].source_addr == HANDSET and got[0].destination_addr == "27600000001"

            assert await deliver(sink, mo(b"START")) == 0
            assert not await gw.store.is_suppressed(["27600000001"], HANDSET)
            actions = [e.action for e in await gw.store.list_audit()]
            assert "optout" in actions and "optin" in actions
            for event in await gw.store.list_audit():
                assert HANDSET not in event.detail and HANDSET not in event.subject_hash


async def test_stopall_suppresses_every_number_of_the_account(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            await deliver(run.return_path, mo(b"STOPALL"))
            assert await gw.store.is_suppressed(["27600000002", "alpha"], HANDSET)
            await deliver(run.return_path, mo(b"start"))
            assert not await gw.store.is_suppressed(["27600000001", "alpha"], HANDSET)


async def test_confirmation_is_queued_as_mt_from_the_same_number(tmp_path: Path) -> None:
    config = make_config(tmp_path, confirmation_text="You will get no more messages.")
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            await deliver(run.return_path, mo(b"STOP"))
            (mt,) = await gw.store.lease_mt(CONNECTOR, 10, 10, gw.clock())
            assert (mt.source_addr, mt.destination_addr) == ("27600000001", HANDSET)
            assert mt.payload.startswith(b"You will get")
            assert mt.registered_delivery == 0


async def test_no_confirmation_from_a_number_no_account_owns(tmp_path: Path) -> None:
    # the opt-out is recorded, but a confirmation MT would reach the operator from a number
    # that passed no policy (not owned by any account): it is not sent
    config = make_config(tmp_path, confirmation_text="You will get no more messages.")
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            assert await deliver(run.return_path, mo(b"STOP", dest="4567")) == 0
            assert await gw.store.is_suppressed(["4567"], HANDSET)
            stranger = mo(b"STOP", dest="27600000500")
            assert await deliver(run.return_path, stranger) == 0
            assert await gw.store.lease_mt(CONNECTOR, 10, 10, gw.clock()) == []


async def test_two_accounts_one_handset_each_reply_to_its_account(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        [account("alpha", "27600000001"), account("beta", "27600000002")],
    )
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            gw = run.gateway
            now = gw.clock()
            # each account wrote to the handset from its own number
            await gw.store.put_conversations(
                [
                    Conversation("27600000001", HANDSET, "alpha", now, now + 3600),
                    Conversation("27600000002", HANDSET, "beta", now, now + 3600),
                ]
            )
            sink = run.return_path
            await deliver(sink, mo(b"to alpha", dest="27600000001"))
            await deliver(sink, mo(b"to beta", dest="27600000002"))
            async with trio.open_nursery() as nursery:
                results: dict[str, list[bytes]] = {}

                async def collect(name: str) -> None:
                    got = await receive_with_smpplib(run.port, name, 1)
                    results[name] = [g.short_message for g in got if g.status == 0]

                nursery.start_soon(collect, "alpha")
                nursery.start_soon(collect, "beta")
            assert results == {"alpha": [b"to alpha"], "beta": [b"to beta"]}


async def test_conversation_beats_ownership_and_expired_one_does_not(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, [account("alpha", "27600000001"), account("beta", "27600000002")]
    )
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            now = gw.clock()
            await gw.store.put_conversations(
                [
                    Conversation("27600000001", HANDSET, "beta", now, now + 3600),
                    Conversation("27600000002", "27821111111", "alpha", now - 7200, now - 3600),
                ]
            )
            sink = run.return_path
            await deliver(sink, mo(b"a"))  # conversation: beta
            await deliver(sink, mo(b"b", source="27821111111", dest="27600000002"))
            assert await gw.store.delivery_depth("beta") == 2  # the expired one fell to owner beta
            assert await gw.store.delivery_depth("alpha") == 0


async def test_unroutable_reply_is_kept_and_counted(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            sink = run.return_path
            assert await deliver(sink, mo(b"hi", dest="27609999999")) == 0
            assert await gw.store.delivery_depth(UNROUTABLE_ACCOUNT) == 1
            assert sink.replies.unroutable == 1
            assert b'result="unroutable"' in gw.metrics.render()


def _parts(text: bytes, ref: int, *, sar: bool = False) -> list[DeliverSm]:
    chunks = [text[i : i + 153] for i in range(0, len(text), 153)]
    out = []
    for seq, chunk in enumerate(chunks, 1):
        if sar:
            tlvs = Tlvs.of(
                sar_msg_ref_num=ref, sar_total_segments=len(chunks), sar_segment_seqnum=seq
            )
            out.append(mo(chunk, tlvs=tlvs))
        else:
            udh = build_concat_udh(ref, len(chunks), seq, ref_bits=16 if ref > 255 else 8)
            out.append(mo(udh + chunk, esm_class=0x40))
    return out


@pytest.mark.parametrize(("ref", "sar"), [(7, False), (0x1234, False), (42, True)])
async def test_long_reply_out_of_order_is_joined(tmp_path: Path, ref: int, sar: bool) -> None:
    text = bytes(ord("a") + i % 26 for i in range(400))
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            sink = run.return_path
            parts = _parts(text, ref, sar=sar)
            assert len(parts) == 3
            for part in (parts[2], parts[0], parts[2], parts[1]):  # out of order, one resent
                assert await deliver(sink, part) == 0
            (got,) = [r for r in await receive_with_smpplib(run.port, "alpha", 1) if r.status == 0]
            assert got.message_payload == text and got.short_message == b""
            assert got.esm_class & 0x40 == 0
            assert await run.gateway.store.reply_parts() == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_partial_reply_survives_restarts(
    tmp_path: Path, backend: str, backend_prefix: str | None
) -> None:
    text = bytes(ord("A") + i % 26 for i in range(400))
    parts = _parts(text, 9)
    assert len(parts) == 3
    config = make_config(tmp_path)
    db = tmp_path / "gw.db"
    with trio.fail_after(30):
        async with running_gateway(
            config, db, deliveries=False, redis_prefix=backend_prefix
        ) as run:
            sink = run.return_path
            assert await deliver(sink, parts[1]) == 0
            assert len(await run.gateway.store.reply_parts()) == 1
        # store closed; a new process starts with an empty table and reloads the part
        async with running_gateway(config, db, redis_prefix=backend_prefix) as run:
            sink = run.return_path
            assert await deliver(sink, parts[2]) == 0
            assert len(await run.gateway.store.reply_parts()) == 2
        # and once more: the recovered part is found again
        async with running_gateway(config, db, redis_prefix=backend_prefix) as run:
            sink = run.return_path
            assert await deliver(sink, parts[0]) == 0
            (got,) = [r for r in await receive_with_smpplib(run.port, "alpha", 1) if r.status == 0]
            assert got.message_payload == text
            assert await run.gateway.store.reply_parts() == []


async def test_incomplete_reply_is_delivered_in_parts_after_the_timeout(tmp_path: Path) -> None:
    text = bytes(ord("A") + i % 26 for i in range(300))
    parts = _parts(text, 11)
    config = make_config(tmp_path)
    with trio.fail_after(30):
        options = ReturnPathOptions(reassembly_timeout=0.2, delivery=FAST)
        async with running_gateway(config, tmp_path / "gw.db", options=options) as run:
            await deliver(run.return_path, parts[0])
            while await run.gateway.store.delivery_depth("alpha") == 0:
                await run.gateway.binds.wait_for_change("alpha", 0.05)
            (item,) = await run.gateway.store.lease_delivery("alpha", 10, 10, run.gateway.clock())
            assert item.short_message == parts[0].short_message and item.esm_class & 0x40
            assert await run.gateway.store.reply_parts() == []


async def test_default_account_takes_replies_nobody_owns(tmp_path: Path) -> None:
    config = make_config(tmp_path, [account("alpha", "27600000001"), account("fallback")])
    with trio.fail_after(30):
        options = ReturnPathOptions(default_account="fallback")
        async with running_gateway(
            config, tmp_path / "gw.db", options=options, deliveries=False
        ) as run:
            sink = run.return_path
            await deliver(sink, mo(b"x", dest="27609999999"))
            await deliver(sink, mo(b"y", dest="27600000001"))  # owned
            assert await run.gateway.store.delivery_depth("fallback") == 1
            assert await run.gateway.store.delivery_depth("alpha") == 1
            assert await run.gateway.store.delivery_depth(UNROUTABLE_ACCOUNT) == 0


async def test_configured_default_reply_account_takes_replies_nobody_owns(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, [account("alpha", "27600000001"), account("fallback")])
    policy = attrs.evolve(config.policy, default_reply_account="fallback")
    config = attrs.evolve(config, policy=policy)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            sink = run.return_path
            await deliver(sink, mo(b"x", dest="27609999999"))
            assert await run.gateway.store.delivery_depth("fallback") == 1
            assert await run.gateway.store.delivery_depth(UNROUTABLE_ACCOUNT) == 0


@settings(max_examples=200, deadline=None)
@given(
    text=st.binary(min_size=1, max_size=1200),
    ref=st.integers(0, 0xFFFF),
    mode=st.sampled_from(["udh8", "udh16", "sar"]),
    order=st.randoms(use_true_random=False),
)
def test_split_part_reads_back_what_was_split(text: bytes, ref: int, mode: str, order: Any) -> None:
    chunks = [text[i : i + 133] for i in range(0, len(text), 133)]
    total = len(chunks)
    pdus = []
    for seq, chunk in enumerate(chunks, 1):
        if mode == "sar":
            tlvs = Tlvs.of(sar_msg_ref_num=ref, sar_total_segments=total, sar_segment_seqnum=seq)
            pdus.append((seq, mo(chunk, tlvs=tlvs)))
        else:
            bits = 8 if mode == "udh8" else 16
            udh = build_concat_udh(ref & 0xFF if bits == 8 else ref, total, seq, ref_bits=bits)
            pdus.append((seq, mo(udh + chunk, esm_class=0x40)))
    order.shuffle(pdus)
    got = {}
    for seq, pdu in pdus:
        part = split_part(pdu)
        if total == 1:
            assert part.total == 1
            got[1] = part.data if mode == "sar" else part.data[6 if mode == "udh8" else 7 :]
            continue
        assert (part.total, part.seq) == (total, seq)
        assert part.reference == (ref & 0xFF if mode == "udh8" else ref)
        got[seq] = part.data
    assert b"".join(got[i] for i in range(1, total + 1)) == text
