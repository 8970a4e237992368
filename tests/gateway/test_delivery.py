"""Delivery to clients: statuses honoured, offline clients served later, windows used."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from smppcore.gateway.delivery import DeliveryOutcome, DeliveryPolicy, Outgoing, outcome_of
from smppcore.protocol.enums import CommandStatus
from smppcore.store.base import DeliveryItem, DeliveryKind

from .test_receipts import operator_receipt
from .test_replies import mo
from .test_return_harness import (
    BACKENDS,
    backend_prefix_fixture,  # noqa: F401 - the backend_prefix fixture
    deliver,
    make_config,
    put_message,
    receive_with_smpplib,
    running_gateway,
)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (CommandStatus.ESME_ROK, DeliveryOutcome.OK),
        (CommandStatus.ESME_RX_T_APPN, DeliveryOutcome.RETRY),
        (CommandStatus.ESME_RX_P_APPN, DeliveryOutcome.REJECTED),
        (CommandStatus.ESME_RX_R_APPN, DeliveryOutcome.REJECTED),
        (CommandStatus.ESME_RSYSERR, DeliveryOutcome.RETRY),
    ],
)
def test_status_meaning(status: int, outcome: DeliveryOutcome) -> None:
    assert outcome_of(status) is outcome


def test_backoff_grows_and_is_capped() -> None:
    policy = DeliveryPolicy(backoff_min=1, backoff_max=10)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5, 50)] == [1, 2, 4, 8, 10, 10]


def item(n: int, account: str = "alpha", **fields: object) -> Outgoing:
    return Outgoing(DeliveryItem(
        id=f"d{n}", account=account, kind=DeliveryKind.MO, source_addr="27821234567",
        destination_addr="27600000001", short_message=f"msg {n}".encode(),
        created_at=float(n), **fields,  # type: ignore[arg-type]
    ))  # fmt: skip


async def test_temporary_failure_is_redelivered_later(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            await run.return_path.delivery.queue([item(1)])
            got = await receive_with_smpplib(
                run.port, "alpha", 1, statuses=[CommandStatus.ESME_RX_T_APPN]
            )
            assert [(g.status, g.short_message) for g in got] == [
                (CommandStatus.ESME_RX_T_APPN, b"msg 1"),
                (0, b"msg 1"),
            ]
            while await run.gateway.store.delivery_depth("alpha"):
                await run.gateway.binds.wait_for_change("alpha", 0.05)


async def test_permanent_refusal_drops_and_counts(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            await run.return_path.delivery.queue([item(1), item(2)])
            got = await receive_with_smpplib(
                run.port, "alpha", 1, statuses=[CommandStatus.ESME_RX_P_APPN]
            )
            # two sent at once (window); the refused one is not sent again
            assert sorted(g.short_message for g in got) == [b"msg 1", b"msg 2"]
            assert sorted(g.status for g in got) == [0, CommandStatus.ESME_RX_P_APPN]
            ok = 'smppcore_deliveries_total{account="alpha",kind="mo",result="ok"} 1.0'
            while ok not in run.gateway.metrics.render().decode():  # counted at the response
                await run.gateway.binds.wait_for_change("alpha", 0.05)
            while await run.gateway.store.delivery_depth("alpha"):  # acks are batched
                await run.gateway.binds.wait_for_change("alpha", 0.05)
            rendered = run.gateway.metrics.render().decode()
            assert (
                'smppcore_deliveries_total{account="alpha",kind="mo",result="rejected"} 1.0'
                in rendered
            )
            assert await run.gateway.store.delivery_depth("alpha") == 0


async def test_expired_items_are_dropped_and_counted(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            now = run.gateway.clock()
            await run.return_path.delivery.queue([item(1, expires_at=now - 1), item(2)])
            got = await receive_with_smpplib(run.port, "alpha", 1)
            assert [g.short_message for g in got] == [b"msg 2"]
            assert b'result="expired"' in run.gateway.metrics.render()


async def test_many_in_flight_in_order_of_queueing(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            await run.return_path.delivery.queue([item(n) for n in range(200)])
            got = await receive_with_smpplib(run.port, "alpha", 200)
            assert sorted(g.short_message for g in got) == sorted(
                f"msg {n}".encode() for n in range(200)
            )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_offline_client_gets_receipt_and_reply_after_restart(
    tmp_path: Path, backend: str, backend_prefix: str | None
) -> None:
    config = make_config(tmp_path)
    db = tmp_path / "gw.db"
    with trio.fail_after(30):
        async with running_gateway(config, db, redis_prefix=backend_prefix) as run:
            gw = run.gateway
            assert gw.binds.receivers("alpha") == []  # the client is not bound
            await put_message(gw, "ours-1", upstream_ids=["5"])
            sink = run.return_path
            assert await deliver(sink, operator_receipt("5")) == 0
            assert await deliver(sink, mo(b"see you")) == 0
        # the store is closed and opened again (a restart); then the client binds
        async with running_gateway(config, db, redis_prefix=backend_prefix) as run:
            got = [g for g in await receive_with_smpplib(run.port, "alpha", 2) if g.status == 0]
            assert sorted((g.esm_class, g.receipted_message_id or g.text) for g in got) == [
                (0, "see you"),
                (4, "ours-1"),
            ]


async def test_data_sm_reply_is_delivered_as_deliver_sm(tmp_path: Path) -> None:
    from smppcore.protocol.pdu import DataSm
    from smppcore.protocol.tlv import Tlvs

    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            pdu = DataSm(
                source_addr_ton=1, source_addr="27821234567", dest_addr_ton=1,
                destination_addr="27600000001", tlvs=Tlvs.of(message_payload=b"via data_sm"),
            )  # fmt: skip
            assert await deliver(run.return_path, pdu) == 0
            (got,) = [g for g in await receive_with_smpplib(run.port, "alpha", 1) if g.status == 0]
            assert got.short_message == b"via data_sm"
