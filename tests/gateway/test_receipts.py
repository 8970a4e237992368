"""Delivery receipts from the operator reach the client with our message id."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import attrs
import pytest
import trio

from smppcore.config.model import Config
from smppcore.gateway.receipts import is_receipt, read_operator_receipt
from smppcore.gateway.returnpath import ReturnPathOptions
from smppcore.protocol.pdu import DeliverSm
from smppcore.protocol.receipt import normalise_message_id, parse_receipt
from smppcore.protocol.tlv import Tlvs
from smppcore.store.base import IdMapEntry, MtState

from .test_return_harness import (
    BACKENDS,
    CONNECTOR,
    FAST,
    account,
    backend_prefix_fixture,  # noqa: F401 - the backend_prefix fixture
    deliver,
    make_config,
    put_message,
    receive_with_smpplib,
    running_gateway,
)


def operator_receipt(
    upstream_id: str,
    stat: str = "DELIVRD",
    *,
    in_tlv: bool = False,
    state: int | None = None,
    err: str = "000",
) -> DeliverSm:
    text = (
        f"id:{upstream_id} sub:001 dlvrd:001 submit date:2601011200 done date:2601011201"
        f" stat:{stat} err:{err} text:hello"
    )
    tlvs = Tlvs()
    if in_tlv:
        tlvs = Tlvs.of(receipted_message_id=upstream_id, message_state=state or 2)
    return DeliverSm(
        source_addr="27821234567",
        destination_addr="27600000001",
        esm_class=0x04,
        short_message=text.encode() if not in_tlv else b"",
        tlvs=tlvs,
    )


def with_connector(config: Config, **changes: str) -> Config:
    """``config`` with its one operator connector changed (``dlr_timezone``, ``id_format``)."""
    (connector,) = config.connectors
    return attrs.evolve(config, connectors=(attrs.evolve(connector, **changes),))


async def test_decimal_hex_and_uuid_ids_reach_the_client_as_ours(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            gw = run.gateway
            sink = run.return_path
            the_uuid = str(uuid.uuid4())
            # (stored as the connector writes it, sent by the operator as)
            cases = {
                "m-dec": (normalise_message_id("0A3F5C"), "0000671580", False),  # hex -> decimal
                "m-hex": (normalise_message_id("123456789"), "75BCD15", False),  # dec -> hex
                "m-uuid": (normalise_message_id(the_uuid), the_uuid.upper(), True),
            }
            for ours, (stored, _sent, _tlv) in cases.items():
                await put_message(gw, ours, upstream_ids=[stored])
            for _ours, (_stored, sent, tlv) in cases.items():
                status = await deliver(sink, operator_receipt(sent, in_tlv=tlv))
                assert status == 0
            got = await receive_with_smpplib(run.port, "alpha", 3)
            ok = [r for r in got if r.status == 0]
            assert {r.receipted_message_id for r in ok} == set(cases)
            for r in ok:
                text = r.short_message.decode()
                parsed = parse_receipt(text)
                assert parsed.message_id == r.receipted_message_id
                assert parsed.stat == "DELIVRD"
                assert r.message_state == 2
                assert r.esm_class == 0x04
                # source = original recipient, destination = original sender
                assert r.source_addr == "27821234567"
                assert r.destination_addr == "27600000001"
            for ours in cases:
                message = await gw.store.get_mt(ours)
                assert message is not None and message.state is MtState.DELIVERED


@pytest.mark.parametrize("mode", ["final", "each_segment"])
async def test_three_segments_reported_per_receipt_mode(tmp_path: Path, mode: str) -> None:
    config = make_config(tmp_path, [account("alpha", "27600000001", receipt_mode=mode)])
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            sink = run.return_path
            await put_message(gw, "long-1", upstream_ids=["101", "102", "103"])
            for i, up in enumerate(["101", "102", "103"]):
                await deliver(sink, operator_receipt(up))
                message = await gw.store.get_mt("long-1")
                assert message is not None
                # the message is final only when every segment is
                assert message.state is (MtState.DELIVERED if i == 2 else MtState.ENROUTE)
            items = await gw.store.lease_delivery("alpha", 10, 10, gw.clock())
            texts = [parse_receipt(i.short_message.decode()) for i in items]
            if mode == "final":
                assert len(items) == 1
                assert (texts[0].sub, texts[0].dlvrd, texts[0].stat) == (3, 3, "DELIVRD")
            else:
                assert len(items) == 3
                assert [t.dlvrd for t in texts] == [1, 2, 3]
            assert all(t.message_id == "long-1" for t in texts)


async def test_final_mode_reports_the_failed_segment(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            sink = run.return_path
            await put_message(gw, "long-2", upstream_ids=["201", "202", "203"])
            for up, stat in [("203", "DELIVRD"), ("201", "DELIVRD"), ("202", "UNDELIV")]:
                await deliver(sink, operator_receipt(up, stat))
            (item,) = await gw.store.lease_delivery("alpha", 10, 10, gw.clock())
            assert parse_receipt(item.short_message.decode()).stat == "UNDELIV"
            message = await gw.store.get_mt("long-2")
            assert message is not None and message.state is MtState.UNDELIVERABLE


@pytest.mark.parametrize("backend", BACKENDS)
async def test_receipt_before_its_id_map_is_not_lost(
    tmp_path: Path, backend: str, backend_prefix: str | None
) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", redis_prefix=backend_prefix) as run:
            gw = run.gateway
            sink = run.return_path
            await put_message(gw, "early-1", upstream_ids=[])
            # the operator's receipt overtakes the submit_sm_resp handling
            assert await deliver(sink, operator_receipt("777")) == 0
            assert await gw.store.count_pending_receipts() == 1
            assert await gw.store.delivery_depth("alpha") == 0
            await gw.store.put_id_maps([IdMapEntry(CONNECTOR, "777", "early-1", "alpha")])
            (got,) = [r for r in await receive_with_smpplib(run.port, "alpha", 1) if r.status == 0]
            assert got.receipted_message_id == "early-1"
            assert await gw.store.count_pending_receipts() == 0


@pytest.mark.parametrize(
    ("registered", "stat", "expected"),
    [(0, "DELIVRD", 0), (1, "DELIVRD", 1), (2, "DELIVRD", 0), (2, "UNDELIV", 1), (1, "EXPIRED", 1)],
)
async def test_receipt_only_when_asked(
    tmp_path: Path, registered: int, stat: str, expected: int
) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            await put_message(gw, "m1", registered_delivery=registered, upstream_ids=["9"])
            await deliver(run.return_path, operator_receipt("9", stat))
            assert await gw.store.delivery_depth("alpha") == expected
            message = await gw.store.get_mt("m1")
            assert message is not None and message.state.is_final


async def test_duplicate_receipt_is_dropped_and_counted(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            sink = run.return_path
            await put_message(gw, "m1", upstream_ids=["9"])
            await put_message(gw, "m2", upstream_ids=["10"])
            assert await deliver(sink, operator_receipt("9")) == 0
            assert await deliver(sink, operator_receipt("9")) == 0  # after it is final
            assert await deliver(sink, operator_receipt("9", "UNDELIV")) == 0  # another stat
            # twice in one batch: the store drops the second
            assert await sink.operator_deliver(
                CONNECTOR, [operator_receipt("10"), operator_receipt("10", "EXPIRED")]
            ) == [0, 0]
            items = await gw.store.lease_delivery("alpha", 10, 10, gw.clock())
            assert sorted((i.message_id, parse_receipt(i.short_message.decode()).stat)
                          for i in items) == [("m1", "DELIVRD"), ("m2", "DELIVRD")]  # fmt: skip
            duplicate = (
                'smppcore_deliveries_total{account="alpha",kind="receipt",result="duplicate"} 3.0'
            )
            assert duplicate in gw.metrics.render().decode()
            second = await gw.store.get_mt("m2")
            assert second is not None and second.state is MtState.DELIVERED


async def test_receipt_outcomes_are_counted_per_connector(tmp_path: Path) -> None:
    """One count per message made final (operator or gateway), one per intermediate
    receipt; duplicates and non-last segments are not outcomes."""
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            sink = run.return_path
            await put_message(gw, "ok-1", upstream_ids=["31"])
            await put_message(gw, "bad-1", upstream_ids=["32"])
            await put_message(gw, "long-3", upstream_ids=["331", "332"])
            never = await put_message(gw, "never-3", upstream_ids=[])
            assert await deliver(sink, operator_receipt("31", "ENROUTE")) == 0
            assert await deliver(sink, operator_receipt("31", "ACCEPTD")) == 0
            assert await deliver(sink, operator_receipt("31")) == 0
            assert await deliver(sink, operator_receipt("31")) == 0  # a duplicate
            assert await deliver(sink, operator_receipt("32", "UNDELIV")) == 0
            assert await deliver(sink, operator_receipt("331")) == 0  # not the last segment
            assert await deliver(sink, operator_receipt("332")) == 0
            await run.return_path.mt_final(never, MtState.EXPIRED, 0)

            def outcome(source: str, stat: str) -> float | None:
                labels = {"connector": CONNECTOR, "source": source, "outcome": stat}
                return gw.metrics.registry.get_sample_value("smppcore_receipts_total", labels)

            assert outcome("operator", "DELIVRD") == 2  # ok-1 and long-3, once each
            assert outcome("operator", "UNDELIV") == 1
            assert outcome("operator", "ENROUTE") == 1
            assert outcome("operator", "ACCEPTD") == 1
            assert outcome("gateway", "EXPIRED") == 1
            assert outcome("operator", "EXPIRED") is None


async def test_gateway_receipt_for_message_that_never_left(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            gw = run.gateway
            message = await put_message(gw, "never-1", upstream_ids=[])
            await run.return_path.mt_final(message, MtState.EXPIRED, 0x58)
            (got,) = [r for r in await receive_with_smpplib(run.port, "alpha", 1) if r.status == 0]
            assert got.receipted_message_id == "never-1"
            assert got.message_state == int(MtState.EXPIRED)
            parsed = parse_receipt(got.short_message.decode())
            assert parsed.stat == "EXPIRED" and parsed.err == "088"
            stored = await gw.store.get_mt("never-1")
            assert stored is not None and stored.state is MtState.EXPIRED


@pytest.mark.parametrize(
    ("receipt_err", "status", "expected"),
    [("decimal", 0x401, "1025"), ("hex", 0x401, "401"), ("hex", 0x45A, "45A")],
)
async def test_gateway_receipt_gives_the_whole_error_code(
    tmp_path: Path, receipt_err: str, status: int, expected: str
) -> None:
    """0x401 and 0x45A are not both ``err:999``: the client gets the whole code, in the
    form its account asks for."""
    alpha = attrs.evolve(account("alpha", "27600000001-27600000099"), receipt_err=receipt_err)
    config = make_config(tmp_path, [alpha])
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            message = await put_message(run.gateway, "failed-1", upstream_ids=[])
            await run.return_path.mt_final(message, MtState.REJECTED, status)
            (got,) = [r for r in await receive_with_smpplib(run.port, "alpha", 1) if r.status == 0]
    parsed = parse_receipt(got.short_message.decode())
    assert (got.receipted_message_id, parsed.stat, parsed.err) == ("failed-1", "REJECTD", expected)


async def test_an_operators_err_reaches_the_client_as_written(tmp_path: Path) -> None:
    """An operator's own err: is passed on whatever the account's receipt_err says."""
    alpha = attrs.evolve(account("alpha", "27600000001-27600000099"), receipt_err="hex")
    config = make_config(tmp_path, [alpha])
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            await put_message(gw, "m1", upstream_ids=["11"])
            await put_message(gw, "m2", upstream_ids=["12"])
            for upstream, err in (("11", "1025"), ("12", "45a")):
                receipt = operator_receipt(upstream, "UNDELIV", err=err)
                assert await deliver(run.return_path, receipt) == 0
            items = await gw.store.lease_delivery("alpha", 10, 10, gw.clock())
    errs = {i.message_id: parse_receipt(i.short_message.decode()).err for i in items}
    assert errs == {"m1": "1025", "m2": "45a"}


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        ("000", "000"),
        ("8", "008"),
        ("1025", "1025"),
        ("45A", "45A"),
        ("0000001025", "0000001025"),  # 10 characters: kept whole
        ("12345678901", "000"),  # longer than any 32-bit code
        ("n/a", "000"),
        ("", "000"),
    ],
)
def test_the_operators_err_as_passed_on(err: str, expected: str) -> None:
    assert read_operator_receipt(operator_receipt("1", "UNDELIV", err=err)).err == expected


@pytest.mark.parametrize(
    ("esm_class", "body", "tlvs", "expected"),
    [
        (0x04, b"", Tlvs(), True),
        (0x20, b"", Tlvs(), True),  # intermediate notification
        (0x00, b"id:12 sub:001 dlvrd:001 stat:DELIVRD err:000", Tlvs(), True),
        (0x00, b"", Tlvs.of(receipted_message_id="12", message_state=2), True),
        (0x00, b"id like to stop", Tlvs(), False),
        (0x40, b"\x05\x00\x03\x01\x02\x01hello", Tlvs(), False),
    ],
)
def test_receipt_or_reply(esm_class: int, body: bytes, tlvs: Tlvs, expected: bool) -> None:
    pdu = DeliverSm(esm_class=esm_class, short_message=body, tlvs=tlvs)
    assert is_receipt(pdu) is expected


async def test_receipt_that_never_matches_is_kept_as_unmatched(tmp_path: Path) -> None:
    from smppcore.store.base import UNROUTABLE_ACCOUNT

    config = make_config(tmp_path)
    options = ReturnPathOptions(pending_receipt_seconds=0.3, delivery=FAST)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", options=options) as run:
            gw = run.gateway
            assert await deliver(run.return_path, operator_receipt("404")) == 0
            while await gw.store.count_pending_receipts():
                await gw.binds.wait_for_change("alpha", 0.05)
            assert await gw.store.delivery_depth(UNROUTABLE_ACCOUNT) == 0
            unmatched = (
                'smppcore_deliveries_total{account="__unroutable__",kind="receipt",'
                'result="unmatched"} 1.0'
            )
            assert unmatched in gw.metrics.render().decode()


@pytest.mark.parametrize("zone", ["Africa/Johannesburg", "+02:00"])
async def test_operator_dates_are_read_in_its_zone_and_sent_in_utc(
    tmp_path: Path, zone: str
) -> None:
    """The operator writes done date 12:01 in its zone (UTC+2); the client reads 10:01 UTC,
    for a receipt matched at once and for one held until its id map came."""
    config = with_connector(make_config(tmp_path), dlr_timezone=zone)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            gw = run.gateway
            await put_message(gw, "at-once", upstream_ids=["31"])
            await put_message(gw, "held", upstream_ids=[])
            assert await deliver(run.return_path, operator_receipt("31")) == 0
            assert await deliver(run.return_path, operator_receipt("32")) == 0
            assert await gw.store.count_pending_receipts() == 1
            await gw.store.put_id_maps([IdMapEntry(CONNECTOR, "32", "held", "alpha")])
            got = [r for r in await receive_with_smpplib(run.port, "alpha", 2) if r.status == 0]
    done = {r.receipted_message_id: parse_receipt(r.short_message.decode()).done_date for r in got}
    assert done == {"at-once": datetime(2026, 1, 1, 10, 1), "held": datetime(2026, 1, 1, 10, 1)}


@pytest.mark.parametrize(
    ("id_format", "stored", "sent", "matched"),
    [
        ("auto", "0A3F5C", "0000671580", True),
        ("hex_response_decimal_receipt", "0A3F5C", "0000671580", True),
        ("hex", "0A3F5C", "0000671580", False),  # the receipt must write the response's form
        ("hex", "0A3F5C", "0a3f5c", True),
        ("decimal", "671580", "0000671580", True),
        ("decimal_response_hex_receipt", "123456789", "75BCD15", True),
        ("decimal", "123456789", "75BCD15", False),
        ("uuid", "550E8400-E29B-41D4-A716-446655440000",
         "550e8400-e29b-41d4-a716-446655440000", True),
    ],
)  # fmt: skip
async def test_id_format_decides_which_forms_of_a_receipt_id_match(
    tmp_path: Path, id_format: str, stored: str, sent: str, matched: bool
) -> None:
    config = with_connector(make_config(tmp_path), id_format=id_format)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            # the id map as the connector writes it from the submit_sm_resp
            await put_message(gw, "m1", upstream_ids=[normalise_message_id(stored)])
            assert await deliver(run.return_path, operator_receipt(sent)) == 0
            message = await gw.store.get_mt("m1")
            assert message is not None
            assert message.state is (MtState.DELIVERED if matched else MtState.ENROUTE)
            assert await gw.store.count_pending_receipts() == (0 if matched else 1)


async def test_a_recent_submit_is_found_by_the_converted_id(tmp_path: Path) -> None:
    """The maps of recent submits (in memory, no store read) are looked up by the key the
    connector's id_format gives, as the store is."""
    config = with_connector(make_config(tmp_path), id_format="hex_response_decimal_receipt")
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            message = await put_message(gw, "m1", upstream_ids=[])  # no map in the store
            entry = IdMapEntry(CONNECTOR, normalise_message_id("0A3F5C"), "m1", "alpha")
            run.return_path.submitted(message, [entry])
            assert await deliver(run.return_path, operator_receipt("0000671580")) == 0
            final = await gw.store.get_mt("m1")
            assert final is not None and final.state is MtState.DELIVERED


@pytest.mark.parametrize(
    ("id_format", "expected"), [("auto", "m-0x291"), ("hex_response_decimal_receipt", "m-0x123")]
)
async def test_a_converting_id_format_tells_a_decimal_receipt_from_a_hex_id(
    tmp_path: Path, id_format: str, expected: str
) -> None:
    """The operator answered 291 (0x291) for one message and 123 (0x123) for another, then
    receipts the second as decimal 291: "auto" tries the id as written first and takes the
    wrong message; the connector's id_format says how to read it."""
    config = with_connector(make_config(tmp_path), id_format=id_format)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            await put_message(gw, "m-0x291", upstream_ids=["291"])
            await put_message(gw, "m-0x123", upstream_ids=["123"])
            assert await deliver(run.return_path, operator_receipt("0000000291")) == 0
            (item,) = await gw.store.lease_delivery("alpha", 10, 10, gw.clock())
    assert item.message_id == expected
