"""submit_multi, data_sm, query_sm, cancel_sm and replace_sm through the real server (our own
ESME-role connection: smpplib has no submit_multi, cancel_sm or replace_sm)."""

from __future__ import annotations

from pathlib import Path

import trio

from smppcore.protocol.pdu import (
    CancelSm,
    DataSm,
    DistributionList,
    QuerySm,
    ReplaceSm,
    SmeAddress,
    SubmitMulti,
    SubmitSm,
    SubmitSmResp,
)
from smppcore.protocol.tlv import Tlvs
from smppcore.store.base import MtState

from .mt_harness import esme, rejected, running_gateway

SRC = "27600000001"
DEST = "27600000900"


def _submit(dest: str = DEST, **kw: object) -> SubmitSm:
    fields: dict[str, object] = {
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "source_addr": SRC,
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": dest,
        "short_message": b"hello",
    }
    fields.update(kw)
    return SubmitSm(**fields)  # type: ignore[arg-type]


async def test_submit_multi_answers_per_destination(tmp_path: Path) -> None:
    good = [SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr=d)
            for d in ("27600000901", "27600000902")]  # fmt: skip
    bad = SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="2760")
    unrouted = SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="447400123456")
    pdu = SubmitMulti(
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr=SRC,
        dest_addresses=(good[0], bad, DistributionList(dl_name="friends"), unrouted, good[1]),
        short_message=b"hi all",
    )
    with trio.fail_after(20):
        async with running_gateway(tmp_path) as (gateway, port), esme(port) as conn:
            resp = await conn.request(pdu)
            assert resp.command_status == 0
            failures = {(u.destination_addr, u.error_status_code) for u in resp.unsuccess_smes}  # type: ignore[attr-defined]
            assert failures == {("2760", 0x0B), ("", 0x44), ("447400123456", 0x0B)}
            queued = await gateway.store.lease_mt("sim", 10, 30.0, gateway.clock())
            assert sorted(m.destination_addr for m in queued) == ["27600000901", "27600000902"]
            assert resp.message_id in {m.id for m in queued}  # type: ignore[attr-defined]
            assert rejected(gateway, "acme", "dest_invalid_number") == 1
            assert rejected(gateway, "acme", "distribution_list") == 1
            assert rejected(gateway, "acme", "no_route") == 1


async def test_data_sm_needs_message_payload(tmp_path: Path) -> None:
    base = {"source_addr_ton": 1, "source_addr_npi": 1, "source_addr": SRC,
            "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": DEST}  # fmt: skip
    with trio.fail_after(20):
        async with running_gateway(tmp_path) as (gateway, port), esme(port) as conn:
            missing = await conn.request(DataSm(**base))  # type: ignore[arg-type]
            assert missing.command_status == 0xC3
            ok = await conn.request(DataSm(**base, tlvs=Tlvs.of(message_payload=b"x" * 300)))  # type: ignore[arg-type]
            assert ok.command_status == 0
            (message,) = await gateway.store.lease_mt("sim", 10, 30.0, gateway.clock())
            assert message.payload == b"x" * 300
            assert rejected(gateway, "acme", "missing_payload") == 1


async def test_query_cancel_replace_same_account_only(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with (
            running_gateway(tmp_path) as (gateway, port),
            esme(port) as acme,
            esme(port, "other") as other,
        ):
            resp = await acme.request(_submit(validity_period="000001000000000R"))
            assert isinstance(resp, SubmitSmResp) and resp.command_status == 0
            mid = resp.message_id

            query = await acme.request(QuerySm(message_id=mid, source_addr=SRC))
            assert query.command_status == 0
            assert query.message_state == 1  # type: ignore[attr-defined]  # ENROUTE
            # another account sees nothing, whatever it asks
            assert (await other.request(QuerySm(message_id=mid))).command_status == 0x67
            assert (await other.request(CancelSm(message_id=mid))).command_status == 0x11
            replace_other = ReplaceSm(message_id=mid, short_message=b"hijack")
            assert (await other.request(replace_other)).command_status == 0x13
            assert (await acme.request(QuerySm(message_id="nope"))).command_status == 0x67

            replace = ReplaceSm(message_id=mid, short_message=b"changed", registered_delivery=1)
            assert (await acme.request(replace)).command_status == 0
            stored = await gateway.store.get_mt(mid)
            assert stored is not None and stored.payload == b"changed"
            assert stored.registered_delivery == 1
            bad_time = ReplaceSm(
                message_id=mid, short_message=b"x", validity_period="000001000000009R"
            )
            assert (await acme.request(bad_time)).command_status == 0x62

            assert (await acme.request(CancelSm(message_id=mid))).command_status == 0
            stored = await gateway.store.get_mt(mid)
            assert stored is not None and stored.state is MtState.DELETED
            assert (await acme.request(CancelSm(message_id=mid))).command_status == 0x11
            query = await acme.request(QuerySm(message_id=mid))
            assert query.message_state == 4  # type: ignore[attr-defined]  # DELETED
            assert query.final_date  # type: ignore[attr-defined]


async def test_replaced_text_passes_the_submit_content_rules(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running_gateway(tmp_path) as (gateway, port), esme(port) as acme:
            resp = await acme.request(_submit(data_coding=8, short_message=b"\x00h\x00i"))
            assert resp.command_status == 0
            mid = resp.message_id  # type: ignore[attr-defined]
            odd = ReplaceSm(message_id=mid, short_message=b"\x00h\x00")
            assert (await acme.request(odd)).command_status == 0x01  # ESME_RINVMSGLEN
            late = ReplaceSm(
                message_id=mid,
                short_message=b"\x00o\x00k",
                schedule_delivery_time="000000020000000R",
                validity_period="000000010000000R",
            )
            assert (await acme.request(late)).command_status == 0x62  # expires before sent
            stored = await gateway.store.get_mt(mid)
            assert stored is not None and stored.payload == b"\x00h\x00i"
            ok = ReplaceSm(message_id=mid, short_message=b"\x00o\x00k")
            assert (await acme.request(ok)).command_status == 0


async def test_bad_times_are_refused(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running_gateway(tmp_path) as (gateway, port), esme(port) as conn:
            sched = await conn.request(_submit(schedule_delivery_time="991399000000000+"))
            assert sched.command_status == 0x61
            expiry = await conn.request(_submit(validity_period="000000000000001X"))
            assert expiry.command_status == 0x62
            past = await conn.request(_submit(validity_period="000101000000000+"))
            assert past.command_status == 0x62
            later = await conn.request(_submit(schedule_delivery_time="000000010000000R"))
            assert later.command_status == 0
            assert rejected(gateway, "acme", "bad_schedule") == 1
            assert rejected(gateway, "acme", "bad_validity") == 2
            # scheduled an hour ahead: not ready to lease now
            assert await gateway.store.lease_mt("sim", 10, 30.0, gateway.clock()) == []
            ready = await gateway.store.lease_mt("sim", 10, 30.0, gateway.clock() + 3601)
            assert len(ready) == 1


async def test_concurrent_submits_of_one_session_all_answered(tmp_path: Path) -> None:
    ids: list[str] = []
    with trio.fail_after(20):
        async with running_gateway(tmp_path) as (gateway, port), esme(port) as conn:

            async def one(i: int) -> None:
                resp = await conn.request(_submit(f"2760000{i + 1000:04d}"))
                assert resp.command_status == 0
                ids.append(resp.message_id)  # type: ignore[attr-defined]

            async with trio.open_nursery() as nursery:
                for i in range(40):
                    nursery.start_soon(one, i)
            queued = await gateway.store.lease_mt("sim", 100, 30.0, gateway.clock())
            assert sorted(m.id for m in queued) == sorted(ids)
            assert len(set(ids)) == 40
