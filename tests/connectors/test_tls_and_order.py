"""TLS to the operator (verified, and the explicit opt-out), and per-destination order when
a message is nacked for a later retry."""

from __future__ import annotations

import ssl
from pathlib import Path

import attrs
import trio
import trustme

from smppcore.net.server import listener_port, serve_smpp
from smppcore.net.testing import SmscResponder
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.gsm7 import decode_gsm7
from smppcore.protocol.pdu import Pdu, SubmitSm
from smppcore.store.base import MtState

from .helpers import (
    RecordingSink,
    connector_config,
    message,
    now,
    open_store,
    running_connector,
    wait_for,
    wait_settled,
)


@attrs.define
class _FlakySmsc(SmscResponder):
    """Answers ESME_RSYSERR (transient) the first time it sees each text in ``flaky``;
    records the texts it accepted, in order."""

    flaky: set[str] = attrs.field(factory=set)
    accepted: list[str] = attrs.field(factory=list)

    def answer(self, request: Pdu) -> Pdu | None:
        if isinstance(request, SubmitSm):
            text = decode_gsm7(request.short_message)
            if text in self.flaky:
                self.flaky.discard(text)
                return request.response(command_status=CommandStatus.ESME_RSYSERR)
            self.accepted.append(text)
        return super().answer(request)


async def test_nacked_message_is_not_overtaken(tmp_path: Path) -> None:
    sink = RecordingSink()
    smsc = _FlakySmsc(flaky={"o 3", "o 7"})
    dest = "447700907001"
    with trio.fail_after(20):
        async with open_store(tmp_path) as store, trio.open_nursery() as nursery:
            port = listener_port(await nursery.start(serve_smpp, smsc, "127.0.0.1", 0))
            t0 = now()
            msgs = [message(i, dest, f"o {i}", t0=t0) for i in range(12)]
            others = [message(100 + i, f"44770090{i:04d}", f"x {i}", t0=t0) for i in range(12)]
            await store.enqueue_mt(msgs + others)
            config = connector_config([port], binds=2)
            async with running_connector(config, store, sink) as connector:
                settled = await wait_settled(store, [m.id for m in msgs + others])
                assert connector.stats.nacked == 2
            nursery.cancel_scope.cancel()
    assert all(m.state is MtState.ENROUTE for m in settled.values())
    # One failed submit each is one attempt; the messages that waited behind them were
    # given back unsent, which is no attempt of theirs.
    assert settled["msg-00003"].attempts == 1
    assert settled["msg-00007"].attempts == 1
    behind = [m.id for m in msgs if m.id not in ("msg-00003", "msg-00007")]
    assert all(settled[i].attempts == 0 for i in behind)
    assert settled["msg-00003"].error_code == CommandStatus.ESME_RSYSERR
    mine = [t for t in smsc.accepted if t.startswith("o ")]
    assert mine == [f"o {i}" for i in range(12)]


def _tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server, ca_file


async def test_tls_verified_and_opt_out(tmp_path: Path) -> None:
    server_ctx, ca_file = _tls(tmp_path)
    sink = RecordingSink()
    smsc = SmscResponder()
    with trio.fail_after(20):
        async with open_store(tmp_path) as store, trio.open_nursery() as nursery:
            listeners = await nursery.start(
                lambda task_status: serve_smpp(
                    smsc, "127.0.0.1", 0, ssl_context=server_ctx, task_status=task_status
                )
            )
            port = listener_port(listeners)
            m = message(1, "447700908001", "over tls", t0=now())
            await store.enqueue_mt([m])
            # Verification against the system CAs fails for a private CA: no bind comes up.
            strict = connector_config([port], tls=True)
            async with running_connector(strict, store, sink) as connector:
                await wait_for(lambda: connector.health().backoff_until > 0)
                assert not connector.is_up() and smsc.received == []
            # The operator's CA given: verified and bound.
            verified = connector_config([port], tls=True, tls_ca_file=ca_file)
            async with running_connector(verified, store, sink):
                settled = await wait_settled(store, [m.id])
            assert settled[m.id].state is MtState.ENROUTE
            # The explicit opt-out binds to a certificate nobody vouches for.
            lax = connector_config([port], tls=True, tls_verify=False)
            async with running_connector(lax, store, sink) as connector:
                await wait_for(connector.is_up)
            nursery.cancel_scope.cancel()
