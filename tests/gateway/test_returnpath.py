"""The whole return path over TCP: operator SMSC → our operator bind → sink → client bind."""

from __future__ import annotations

from pathlib import Path

import trio

from smppcore.gateway.returnpath import ReturnPath
from smppcore.net.client import bind, connect_smpp
from smppcore.net.connection import SmppConnection, open_smpp_connection
from smppcore.net.errors import NetError
from smppcore.net.server import listener_port, serve_smpp
from smppcore.net.testing import SmscResponder
from smppcore.protocol.pdu import BindTransceiver, DeliverSm
from smppcore.protocol.states import Role
from smppcore.protocol.tlv import Tlvs

from .test_receipts import operator_receipt
from .test_replies import mo
from .test_return_harness import (
    CONNECTOR,
    make_config,
    put_message,
    receive_with_smpplib,
    running_gateway,
)


async def intake(sink: ReturnPath, conn: SmppConnection) -> None:
    """What an operator connector does with deliver_sm: answer with the sink's status."""
    try:
        async for pdu in conn:
            if isinstance(pdu, DeliverSm):
                (status,) = await sink.operator_deliver(CONNECTOR, [pdu])
                await conn.respond(pdu, pdu.response(command_status=status))
    except NetError:
        pass


async def test_operator_deliveries_over_tcp_reach_the_client(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    operator = SmscResponder()
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db") as run:
            gw = run.gateway
            await put_message(gw, "ours-7", upstream_ids=["c0ffee"])
            listeners = await run.nursery.start(serve_smpp, operator, "127.0.0.1", 0)
            stream = await connect_smpp("127.0.0.1", listener_port(listeners))
            async with open_smpp_connection(stream, Role.ESME) as upstream:
                await bind(upstream, BindTransceiver(system_id="gw", password="x"))
                run.nursery.start_soon(intake, run.return_path, upstream)
                await operator.bound.wait()
                smsc_side = operator.connections[0]
                # a receipt carrying the id in the TLV only (hex, upper case), and a reply
                receipt = attrs_receipt("C0FFEE")
                responses = [
                    await operator.deliver(smsc_side, receipt),
                    await operator.deliver(smsc_side, mo(b"thanks")),
                ]
                assert [r.command_status for r in responses] == [0, 0]
                got = [g for g in await receive_with_smpplib(run.port, "alpha", 2) if g.status == 0]
                by_kind = {g.esm_class: g for g in got}
                assert by_kind[4].receipted_message_id == "ours-7"
                assert by_kind[0].short_message == b"thanks"


def attrs_receipt(upstream: str) -> DeliverSm:
    base = operator_receipt(upstream)
    return DeliverSm(
        source_addr=base.source_addr,
        destination_addr=base.destination_addr,
        esm_class=0x04,
        tlvs=Tlvs.of(receipted_message_id=upstream, message_state=2),
    )
