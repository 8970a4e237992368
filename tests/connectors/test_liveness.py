"""A frozen SMSC (TCP open, nothing answered): the binds are shown down once a submit waits a
response timeout without a byte from the SMSC (not only when an enquire_link goes
unanswered), and once it answers again every message is sent, none more than twice: a lost
answer is resent only on a bind that answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import attrs
import trio

from smppcore.net.server import listener_port, serve_smpp
from smppcore.net.testing import SmscResponder
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


class _FreezingProxy:
    """A TCP proxy in front of a real SMSC responder that can freeze: while frozen it moves
    no byte either way (a hung SMSC: TCP open, nothing read, nothing answered; new
    connections are accepted by the kernel and get nothing either). What waited is moved
    once it thaws, so requests sent during the freeze still reach the SMSC then."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = upstream_port
        self._thawed = trio.Event()
        self._thawed.set()

    @property
    def frozen(self) -> bool:
        return not self._thawed.is_set()

    def freeze(self) -> None:
        if not self.frozen:
            self._thawed = trio.Event()

    def thaw(self) -> None:
        self._thawed.set()

    async def __call__(self, client: trio.SocketStream) -> None:
        try:
            upstream = await trio.open_tcp_stream("127.0.0.1", self._upstream)
        except OSError:
            return
        async with client, upstream, trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, upstream, nursery.cancel_scope)
            nursery.start_soon(self._pump, upstream, client, nursery.cancel_scope)

    async def _pump(
        self, src: trio.SocketStream, dst: trio.SocketStream, scope: trio.CancelScope
    ) -> None:
        try:
            while True:
                await self._thawed.wait()
                data = await src.receive_some(65536)
                if not data:
                    break
                await self._thawed.wait()
                await dst.send_all(data)
        except trio.BrokenResourceError:
            pass
        scope.cancel()


@attrs.define
class _CountingSmsc(SmscResponder):
    """Counts the submits of each text; ``on_submit`` is called with how many came."""

    texts: Counter[str] = attrs.field(factory=Counter)
    on_submit: Callable[[int], None] = lambda _n: None

    def answer(self, request: Pdu) -> Pdu | None:
        if isinstance(request, SubmitSm):
            self.texts[decode_gsm7(request.short_message)] += 1
            self.on_submit(sum(self.texts.values()))
        return super().answer(request)


async def test_a_frozen_smsc_is_shown_down_and_no_message_goes_more_than_twice(
    tmp_path: Path,
) -> None:
    sink = RecordingSink()
    smsc = _CountingSmsc()
    n = 60
    with trio.fail_after(40):
        async with open_store(tmp_path) as store, trio.open_nursery() as nursery:
            upstream = listener_port(await nursery.start(serve_smpp, smsc, "127.0.0.1", 0))
            proxy = _FreezingProxy(upstream)
            listeners = await nursery.start(partial(trio.serve_tcp, proxy, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            smsc.on_submit = lambda count: proxy.freeze() if count == 15 else None
            t0 = now()
            msgs = [message(i, f"4477009{i:05d}", f"frozen {i}", t0=t0) for i in range(n)]
            await store.enqueue_mt(msgs)
            config = connector_config(
                [port], binds=2, window=5, response_timeout=0.5, enquire_link_interval=10.0,
                throughput=200.0, burst=10,
            )  # fmt: skip
            async with running_connector(config, store, sink) as connector:
                await wait_for(lambda: proxy.frozen)
                frozen_at = trio.current_time()
                await wait_for(lambda: connector.health().state == "down")
                # The unanswered submits show it, long before an enquire_link would.
                shown_down_after = trio.current_time() - frozen_at
                assert not connector.is_up()
                await trio.sleep(1.5)  # stays frozen a while: binds get no answer meanwhile
                assert connector.health().binds_up == 0
                proxy.thaw()
                settled = await wait_settled(store, [m.id for m in msgs])
            nursery.cancel_scope.cancel()
    assert shown_down_after < 4.0
    assert all(m.state is MtState.ENROUTE for m in settled.values())
    assert set(smsc.texts) == {f"frozen {i}" for i in range(n)}
    assert max(smsc.texts.values()) <= 2, smsc.texts.most_common(3)
    assert sink.finals == []
