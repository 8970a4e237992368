"""The client server draining (``serve_clients(..., drain=...)``) in-process, over loopback
TCP with the SQLite store: with a working store every submit gets its answer and every OK is
durable; with a store stuck in its writes, the deadline refuses what
never reached the store and leaves unanswered only what did."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from smppcore.gateway.context import Gateway, build_gateway
from smppcore.gateway.server import serve_clients
from smppcore.metrics import Metrics
from smppcore.net.client import bind, connect_smpp
from smppcore.net.connection import SmppConnection, open_smpp_connection
from smppcore.net.drain import DRAIN_STATUS, DrainStatistics, ServerDrain
from smppcore.net.errors import NetError
from smppcore.protocol.codec import encode
from smppcore.protocol.enums import CommandId
from smppcore.protocol.pdu import BindTransceiver, Pdu, SubmitSm, UnbindResp
from smppcore.protocol.session_events import SessionConfig
from smppcore.protocol.states import Role
from smppcore.store.base import MtMessage, Store
from smppcore.store.sqlite import open_sqlite_store
from tests.net.helpers import RawPeer

from .mt_harness import LISTENER, PASSWORD, make_config

WINDOW = LISTENER.window  # 16: requests the server serves at once per connection


def submit_for(i: int, seq: int = 0) -> SubmitSm:
    return SubmitSm(
        sequence_number=seq,
        source_addr_ton=1, source_addr_npi=1, source_addr="27600000001",
        dest_addr_ton=1, dest_addr_npi=1, destination_addr=f"2782555{i:04d}",
        short_message=b"drain",
    )  # fmt: skip


@attrs.define
class Client:
    """Submits over one bind without waiting for each answer, and notes what came back."""

    conn: SmppConnection
    answers: dict[int, Pdu] = attrs.field(factory=dict)
    failed: set[int] = attrs.field(factory=set)

    def send(self, numbers: Sequence[int]) -> None:
        for i in numbers:

            def done(response: Pdu | None, error: NetError | None, i: int = i) -> None:
                if response is not None:
                    self.answers[i] = response
                else:
                    self.failed.add(i)

            assert self.conn.send_request(submit_for(i), done)


@asynccontextmanager
async def client(port: int) -> AsyncIterator[Client]:
    stream = await connect_smpp("127.0.0.1", port)
    config = SessionConfig(window=64, enquire_link_interval=None)
    async with open_smpp_connection(stream, Role.ESME, config) as conn:
        await bind(conn, BindTransceiver(system_id="acme", password=PASSWORD))
        yield Client(conn)


class StuckWrites:
    """The real store, except that the submit path's durable write never returns."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.handed: list[MtMessage] = []
        self.changed = trio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def enqueue_mt_unless_suppressed(
        self, messages: Sequence[MtMessage], *_args: Any, **_kwargs: Any
    ) -> list[bool]:
        self.handed.extend(messages)
        self.changed.set()
        self.changed = trio.Event()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def wait_handed(self, n: int) -> None:
        while len(self.handed) < n:
            await self.changed.wait()


@asynccontextmanager
async def draining_gateway(
    tmp_path: Path, stuck: bool = False
) -> AsyncIterator[tuple[Gateway, int, ServerDrain, Store]]:
    """A gateway serving one listener with a drain; leaving the block waits until the
    drain (begun by the test) has finished."""
    async with open_sqlite_store(tmp_path / "gw.sqlite3", hash_secret=b"k" * 32) as store:
        used: Any = StuckWrites(store) if stuck else store
        gateway = build_gateway(make_config(), used, Metrics(), {}, clock=time.time)
        drain = ServerDrain(on_drained=gateway.metrics.count_drained)
        async with trio.open_nursery() as nursery:
            serve = functools.partial(serve_clients, gateway, LISTENER, port=0, drain=drain)
            port = await nursery.start(serve)
            yield gateway, port, drain, used


def drain_sample(gateway: Gateway, family: str, result: str) -> float:
    value = gateway.metrics.registry.get_sample_value(
        f"smppcore_drain_{family}_total", {"result": result}
    )
    return value or 0.0


async def test_every_submit_is_answered_before_the_socket_closes_and_every_ok_is_durable(
    tmp_path: Path,
) -> None:
    """A raw client (it keeps reading after it answered the unbind, until the server closes:
    answers to what it sent just before it saw the unbind come after the unbind)."""
    n = 20
    with trio.fail_after(30):
        async with draining_gateway(tmp_path) as (gateway, port, drain, store):
            peer = RawPeer(await trio.open_tcp_stream("127.0.0.1", port))
            await peer.send(BindTransceiver(system_id="acme", password=PASSWORD))
            bound = await peer.read()
            assert bound is not None and bound.command_status == 0
            await peer.send(b"".join(encode(submit_for(i, seq=i + 2)) for i in range(n)))
            (served,) = list(gateway.binds)
            while served.connection.statistics().pdus_in < 1 + n:  # noqa: ASYNC110
                await trio.sleep(0.01)
            # The server has read the first n (it may have answered some); the drain begins,
            # then n more come: sent before the client saw the unbind, so they need answers.
            drain.begin(trio.current_time() + 20)
            await peer.send(b"".join(encode(submit_for(i, seq=i + 2)) for i in range(n, 2 * n)))
            answers: dict[int, Pdu] = {}
            while (pdu := await peer.read()) is not None:
                if pdu.command_id == CommandId.UNBIND:
                    await peer.send(UnbindResp(sequence_number=pdu.sequence_number))
                else:
                    answers[pdu.sequence_number - 2] = pdu
            assert sorted(answers) == list(range(2 * n))
            ok = {i: r.message_id for i, r in answers.items() if r.command_status == 0}
            refused = {i for i, r in answers.items() if r.command_status == DRAIN_STATUS}
            assert set(ok) == set(range(n))  # read before the drain: served
            assert refused == set(range(n, 2 * n))  # arrived during it: refused
            for message_id in ok.values():
                assert await store.get_mt(message_id) is not None
            assert await store.count_queued("acme") == len(ok)  # nothing refused was stored
    stats = drain.statistics()
    # ``answered`` counts those still unanswered when the drain began: 0 to n.
    assert attrs.evolve(stats, answered=0) == DrainStatistics(connections=1, unbound=1, refused=n)
    assert drain_sample(gateway, "connections", "unbound") == 1
    assert drain_sample(gateway, "requests", "refused") == n
    assert drain_sample(gateway, "requests", "unanswered") == 0


async def test_at_the_deadline_only_what_reached_the_stuck_store_is_left_unanswered(
    tmp_path: Path,
) -> None:
    with trio.fail_after(30):
        async with draining_gateway(tmp_path, stuck=True) as (gateway, port, drain, store):
            assert isinstance(store, StuckWrites)
            async with client(port) as c:
                c.send(range(WINDOW))  # all served at once: every one reaches the store
                await store.wait_handed(WINDOW)
                c.send(range(WINDOW, WINDOW + 4))  # read, but no room to serve them
                (served,) = list(gateway.binds)
                while served.connection.statistics().inbound_pending < WINDOW + 4:  # noqa: ASYNC110
                    await trio.sleep(0.01)
                await trio.testing.wait_all_tasks_blocked()

                drain.begin(trio.current_time() + 0.2)
                await c.conn.wait_closed()
    # Never written: refused. Handed to the store, whose write never returned: no answer.
    assert {i: r.command_status for i, r in c.answers.items()} == {
        i: DRAIN_STATUS for i in range(WINDOW, WINDOW + 4)
    }
    assert c.failed == set(range(WINDOW))
    assert len(store.handed) == WINDOW
    assert drain.statistics() == DrainStatistics(
        connections=1, cut=1, answered=4, unanswered=WINDOW
    )
    assert drain_sample(gateway, "requests", "answered") == 4
    assert drain_sample(gateway, "requests", "unanswered") == WINDOW
    assert drain_sample(gateway, "connections", "cut") == 1
