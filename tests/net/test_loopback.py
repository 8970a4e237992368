"""Our ESME against our minimal SMSC responder over real loopback TCP."""

from __future__ import annotations

import trio

from smppcore.net.client import open_bind_client
from smppcore.net.server import listener_port, serve_smpp
from smppcore.net.testing import SmscResponder
from smppcore.protocol.pdu import BindTransceiver, EnquireLink, EnquireLinkResp, SubmitSm
from smppcore.protocol.states import SessionState


def _submit(n: int) -> SubmitSm:
    return SubmitSm(source_addr="12345", destination_addr="447700900001", short_message=b"x%d" % n)


async def test_bind_submit_unbind() -> None:
    responder = SmscResponder()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = listener_port(await nursery.start(serve_smpp, responder, "127.0.0.1", 0))
            bind_pdu = BindTransceiver(system_id="esme1", password="pw")
            async with open_bind_client("127.0.0.1", port, bind_pdu) as client:
                conn = await client.wait_connected()
                assert conn.state is SessionState.BOUND_TRX
                responses = []
                async with trio.open_nursery() as senders:

                    async def send(i: int) -> None:
                        responses.append(await client.request(_submit(i)))

                    for i in range(50):
                        senders.start_soon(send, i)
                assert len(responses) == 50
                assert all(r.command_status == 0 for r in responses)
                assert len({r.message_id for r in responses}) == 50
                stats = conn.statistics()
                assert stats.window_used == 0 and stats.pdus_out >= 51
            assert conn.is_closed
            server_conn = responder.connections[0]
            await server_conn.wait_closed()
            assert server_conn.state is SessionState.CLOSED
            nursery.cancel_scope.cancel()


async def test_request_enquire_link_returns_its_response() -> None:
    responder = SmscResponder()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = listener_port(await nursery.start(serve_smpp, responder, "127.0.0.1", 0))
            bind_pdu = BindTransceiver(system_id="esme1", password="pw")
            async with open_bind_client("127.0.0.1", port, bind_pdu) as client:
                resp = await client.request(EnquireLink())
                assert isinstance(resp, EnquireLinkResp)
                assert resp.command_status == 0
            nursery.cancel_scope.cancel()
