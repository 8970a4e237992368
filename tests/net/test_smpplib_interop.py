"""smpplib (a synchronous third-party ESME, run in a thread) against our listener."""

from __future__ import annotations

import warnings

import smpplib.client
import smpplib.consts
import trio

from smppcore.net.testing import SmscResponder
from smppcore.protocol.enums import CommandId, CommandStatus
from smppcore.protocol.pdu import DeliverSm
from smppcore.protocol.session import MAX_SEQUENCE_NUMBER
from smppcore.protocol.session_events import EndReason

from .helpers import running_server


class _NearWrap:
    """smpplib sequence generator starting just below the 0x7FFFFFFF wrap."""

    def __init__(self) -> None:
        self._sequence = MAX_SEQUENCE_NUMBER - 2

    @property
    def sequence(self) -> int:
        return self._sequence

    def next_sequence(self) -> int:
        self._sequence = 1 if self._sequence == MAX_SEQUENCE_NUMBER else self._sequence + 1
        return self._sequence


def _smpplib_session(
    port: int, delivered: trio.Event, token: trio.lowlevel.TrioToken
) -> dict[str, object]:
    sent: list[object] = []
    received: list[bytes] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = smpplib.client.Client(
            "127.0.0.1",
            port,
            timeout=5,
            sequence_generator=_NearWrap(),
            allow_unknown_opt_params=True,
        )
    client.set_message_sent_handler(lambda pdu: sent.append(pdu.message_id))
    client.set_message_received_handler(lambda pdu: received.append(pdu.short_message))
    client.connect()
    try:
        client.bind_transceiver(system_id="smpplib", password="secret")
        for _ in range(4):
            client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_INTL,
                source_addr="447700900001",
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                destination_addr="447700900002",
                short_message=b"hello",
            )
        while len(sent) < 4 or not received:
            client.read_once()
        trio.from_thread.run_sync(delivered.set, trio_token=token)
        unbind_resp = client.unbind()
    finally:
        client.disconnect()
    return {"sent": sent, "received": received, "unbind_status": unbind_resp.status}


async def test_smpplib_binds_submits_receives_and_unbinds() -> None:
    responder = SmscResponder()
    delivered = trio.Event()
    with trio.fail_after(20):
        async with running_server(responder) as port, trio.open_nursery() as nursery:
            result: dict[str, object] = {}

            async def run_client() -> None:
                result.update(
                    await trio.to_thread.run_sync(
                        _smpplib_session, port, delivered, trio.lowlevel.current_trio_token()
                    )
                )

            nursery.start_soon(run_client)
            await responder.bound.wait()
            conn = responder.connections[0]
            resp = await conn.request(
                DeliverSm(
                    source_addr="447700900002",
                    destination_addr="447700900001",
                    short_message=b"reply",
                )
            )
            assert resp.command_id == CommandId.DELIVER_SM_RESP
            assert resp.command_status == CommandStatus.ESME_ROK
            await delivered.wait()
            await conn.wait_closed()

    assert result["received"] == [b"reply"]
    assert len(result["sent"]) == 4  # type: ignore[arg-type]
    assert result["unbind_status"] == 0
    assert conn.end_reason is EndReason.UNBOUND
    seqs = [p.sequence_number for p in responder.received]
    assert MAX_SEQUENCE_NUMBER in seqs and 1 in seqs  # smpplib wrapped; we echoed
    submits = [p for p in responder.received if p.command_id == CommandId.SUBMIT_SM]
    assert len(submits) == 4 and all(p.short_message == b"hello" for p in submits)  # type: ignore[attr-defined]
