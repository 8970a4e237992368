"""Deliveries from the operator, final outcomes without receipts, bind modes, and the small
pure pieces (status classification, segment building)."""

from __future__ import annotations

from pathlib import Path

import attrs
import trio

from connectors.smpp_operator.classify import Classifier, Outcome
from connectors.smpp_operator.segments import build_submits, concat_reference
from smppcore.net.server import listener_port, serve_smpp
from smppcore.net.testing import SmscResponder
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.gsm7 import encode_gsm7
from smppcore.protocol.pdu import DeliverSm, Pdu, SubmitSm
from smppcore.protocol.segment import SplitMode, parse_udh
from smppcore.store.base import MtMessage, MtState

from .helpers import (
    NAME,
    RecordingSink,
    connector_config,
    message,
    now,
    open_store,
    running_connector,
    running_simulator,
    wait_settled,
)


def test_classification() -> None:
    c = Classifier((0x08, 0x14, 0x58, 0x401))
    assert c.classify(0) is Outcome.OK
    assert c.classify(CommandStatus.ESME_RTHROTTLED) is Outcome.THROTTLED
    assert c.classify(CommandStatus.ESME_RMSGQFUL) is Outcome.THROTTLED
    assert c.classify(CommandStatus.ESME_RINVBNDSTS) is Outcome.REBIND
    assert c.classify(CommandStatus.ESME_RSYSERR) is Outcome.TRANSIENT
    assert c.classify(0x401) is Outcome.TRANSIENT  # a vendor status listed as transient
    assert c.classify(0x402) is Outcome.PERMANENT  # one that is not
    assert c.classify(CommandStatus.ESME_RINVDSTADR) is Outcome.PERMANENT


def _mt(payload: bytes, data_coding: int = 0, **changes: object) -> MtMessage:
    return MtMessage(
        id="m1", account="a", connector="c", source_addr="1", destination_addr="2",
        payload=payload, data_coding=data_coding, **changes,  # type: ignore[arg-type]
    )  # fmt: skip


def test_segments_short_long_and_sar() -> None:
    assert len(build_submits(_mt(encode_gsm7("x" * 160)))) == 1
    parts = build_submits(_mt(encode_gsm7("x" * 161)))
    assert len(parts) == 2 and all(p.esm_class & 0x40 for p in parts)
    concat, body = parse_udh(parts[1].short_message)
    assert concat is not None and (concat.seq, concat.total) == (2, 2)
    assert concat.reference == concat_reference("m1") & 0xFF
    assert len(body) == 8  # 161 - 153 septets, unpacked
    sar = build_submits(_mt(encode_gsm7("y" * 300)), SplitMode.SAR)
    assert [p.tlvs.sar_segment_seqnum for p in sar] == [1, 2]
    assert all(not p.esm_class & 0x40 for p in sar)
    binary = build_submits(_mt(bytes(range(200)), data_coding=4))
    assert [len(p.short_message) for p in binary] == [6 + 134, 6 + 66]
    # a message that already carries a UDH goes as it is
    raw = build_submits(_mt(b"\x05\x00\x03\x01\x02\x01abc", esm_class=0x40))
    assert len(raw) == 1 and raw[0].short_message.startswith(b"\x05\x00\x03")


async def test_receipts_and_replies_reach_the_sink(tmp_path: Path) -> None:
    sink = RecordingSink()
    with trio.fail_after(20):
        async with open_store(tmp_path) as store, running_simulator() as sim:
            m = message(1, "447700905001", "please report", t0=now(), registered_delivery=1)
            await store.enqueue_mt([m])
            config = connector_config([sim.port], bind_mode="tx_rx")
            async with running_connector(config, store, sink) as connector:
                assert len(connector.pool.slots) == 2
                await sim.wait_for_receipts(1)
                sim.inject_mo("447700905001", "447700900000", "STOP")
                await sim.wait_for_replies(1)
                assert connector.intake.delivered == 2
    assert all(name == NAME for name, _ in sink.delivered)
    pdus = [pdu for _, pdu in sink.delivered if isinstance(pdu, DeliverSm)]
    assert sorted(bool(pdu.esm_class & 0x04) for pdu in pdus) == [False, True]


async def test_sink_failure_answers_retry_later(tmp_path: Path) -> None:
    sink = RecordingSink(fail=True)
    with trio.fail_after(20):
        async with open_store(tmp_path) as store, running_simulator() as sim:
            config = connector_config([sim.port])
            async with running_connector(config, store, sink) as connector:
                await sim.wait_for_binds(1)
                sim.inject_mo("447700905002", "447700900000", "hello")
                await sink.failed.wait()
                assert connector.intake.sink_failures >= 1
                assert connector.is_up()  # the bind survived
                assert sim.stats().replies_sent == 0  # not acknowledged as delivered
                sink.fail = False
                await sim.wait_for_replies(1)  # the simulator retried and it got through
    assert len(sink.delivered) == 1


@attrs.define
class _RejectingSmsc(SmscResponder):
    """Answers every submit with a permanent error."""

    def answer(self, request: Pdu) -> Pdu | None:
        if isinstance(request, SubmitSm):
            return request.response(command_status=CommandStatus.ESME_RINVDSTADR)
        return super().answer(request)


async def test_permanent_failure_and_expiry_are_final(tmp_path: Path) -> None:
    sink = RecordingSink()
    smsc = _RejectingSmsc()
    with trio.fail_after(20):
        async with open_store(tmp_path) as store, trio.open_nursery() as nursery:
            port = listener_port(await nursery.start(serve_smpp, smsc, "127.0.0.1", 0))
            t0 = now()
            rejected = message(1, "447700906001", "no such number", t0=t0)
            expired = message(2, "447700906002", "too late", t0=t0, validity_until=t0 - 1)
            await store.enqueue_mt([rejected, expired])
            async with running_connector(connector_config([port]), store, sink):
                settled = await wait_settled(store, [rejected.id, expired.id])
            nursery.cancel_scope.cancel()
    assert settled[rejected.id].state is MtState.REJECTED
    assert settled[expired.id].state is MtState.EXPIRED
    assert sorted(sink.finals) == [
        (rejected.id, MtState.REJECTED, int(CommandStatus.ESME_RINVDSTADR)),
        (expired.id, MtState.EXPIRED, 0),
    ]
    submitted = [p for p in smsc.received if isinstance(p, SubmitSm)]
    assert len(submitted) == 1  # the expired one never left


def test_factory_is_found_by_type_name() -> None:
    from connectors.smpp_operator import create_connector
    from smppcore.connector_api import load_connector_factory

    assert load_connector_factory("smpp") is create_connector
