"""Shared pieces of the operator-connector tests: config, store, sink, simulator wrapper."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from connectors.simulator import Simulator
from connectors.smpp_operator import SmppOperatorConnector, create_connector
from smppcore.config.model import ConnectorConfig, SimulatorConfig
from smppcore.config.values import HostPort
from smppcore.connector_api import ConnectorContext
from smppcore.metrics import Metrics
from smppcore.protocol.gsm7 import encode_gsm7
from smppcore.protocol.pdu import Pdu
from smppcore.store.base import IdMapEntry, MtFinal, MtMessage, MtState, Store
from smppcore.store.sqlite import open_sqlite_store

NAME = "op1"
SYSTEM_ID = "sim"
PASSWORD = "simpass"
FAST_OPTIONS: dict[str, Any] = {
    "poll_interval": 0.05,
    "throttle_window": 0.2,
    "retry_initial": 0.05,
    "retry_max": 0.2,
    "rng_seed": 7,
}


@attrs.define
class RecordingSink:
    """A DeliverSink that records every call; ``fail`` makes operator_deliver raise. Given a
    ``store``, ``mt_final`` also makes the message final there (as the gateway's does)."""

    delivered: list[tuple[str, Pdu]] = attrs.field(factory=list)
    finals: list[tuple[str, MtState, int]] = attrs.field(factory=list)
    fail: bool = False
    failures: int = 0
    failed: trio.Event = attrs.field(factory=trio.Event)
    store: Store | None = None
    batches: list[int] = attrs.field(factory=list)
    submitted_maps: list[IdMapEntry] = attrs.field(factory=list)

    async def operator_deliver(self, connector: str, pdus: Sequence[Any]) -> list[int]:
        await trio.lowlevel.checkpoint()
        if self.fail:
            self.failures += 1
            self.failed.set()
            raise RuntimeError("sink down")
        self.delivered.extend((connector, pdu) for pdu in pdus)
        self.batches.append(len(pdus))
        return [0] * len(pdus)

    def submitted(self, message: MtMessage, id_maps: Sequence[IdMapEntry]) -> None:
        self.submitted_maps.extend(id_maps)

    async def mt_final(self, message: MtMessage, state: MtState, error_code: int) -> None:
        await trio.lowlevel.checkpoint()
        self.finals.append((message.id, state, error_code))
        if self.store is not None:
            await self.store.finalise_mt([MtFinal(message.id, state, time.time(), error_code)])


class TimedSimulator(Simulator):
    """The simulator, plus the trio time at which each submit arrived (for rate bounds)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[float] = []

    async def _submit(self, conn: Any, session: Any, request: Any, nursery: Any) -> None:
        self.arrivals.append(trio.current_time())
        await super()._submit(conn, session, request, nursery)


def sim_settings(port: int = 0) -> SimulatorConfig:
    return SimulatorConfig(
        host="127.0.0.1", port=port, control_port=0, system_id=SYSTEM_ID, password=PASSWORD,
        receipt_delay=0.05,
    )  # fmt: skip


@asynccontextmanager
async def running_simulator(port: int = 0, **options: Any) -> AsyncIterator[TimedSimulator]:
    """A simulator serving on 127.0.0.1 (``port`` 0: any) for the block."""
    async with trio.open_nursery() as nursery:
        sim = TimedSimulator(sim_settings(port), **options)
        await nursery.start(sim.serve)
        try:
            yield sim
        finally:
            nursery.cancel_scope.cancel()


def refused_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def connector_config(ports: Sequence[int], **changes: Any) -> ConnectorConfig:
    options = dict(FAST_OPTIONS)
    options.update(changes.pop("options", {}))
    base: dict[str, Any] = {
        "name": NAME,
        "hosts": tuple(HostPort("127.0.0.1", p) for p in ports),
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        "throughput": 10_000.0,
        "burst": 100,
        "reconnect_min": 0.05,
        "reconnect_max": 0.2,
        "response_timeout": 5.0,
        "options": options,
    }
    base.update(changes)
    return ConnectorConfig(**base)


@asynccontextmanager
async def open_store(tmp_path: Path) -> AsyncIterator[Store]:
    async with open_sqlite_store(tmp_path / "store.db", hash_secret=b"k" * 32) as store:
        yield store


@asynccontextmanager
async def running_connector(
    config: ConnectorConfig, store: Store, sink: RecordingSink, metrics: Metrics | None = None
) -> AsyncIterator[SmppOperatorConnector]:
    if sink.store is None:
        sink.store = store  # mt_final makes messages final, as the gateway's sink does
    ctx = ConnectorContext(
        store=store, sink=sink, metrics=metrics if metrics is not None else Metrics(),
        retention=None,
    )  # fmt: skip
    connector = create_connector(config, ctx)
    async with trio.open_nursery() as nursery:
        await nursery.start(connector.run)
        try:
            yield connector
        finally:
            nursery.cancel_scope.cancel()


def message(i: int, destination: str, text: str, *, t0: float, **changes: Any) -> MtMessage:
    """Message number ``i`` (queue order follows ``i``) with GSM 7-bit ``text``."""
    fields: dict[str, Any] = {
        "id": f"msg-{i:05d}",
        "account": "acct",
        "connector": NAME,
        "source_addr": "447700900000",
        "destination_addr": destination,
        "payload": encode_gsm7(text),
        "submitted_at": t0 + i * 1e-3,
        "expires_at": t0 + 3600,
    }
    fields.update(changes)
    return MtMessage(**fields)


async def wait_settled(store: Store, ids: Sequence[str]) -> dict[str, MtMessage]:
    """Poll until no message of ``ids`` is QUEUED or LEASED any more."""
    while True:
        found: dict[str, MtMessage] = {}
        for mid in ids:
            m = await store.get_mt(mid)
            assert m is not None
            if m.state in (MtState.QUEUED, MtState.LEASED):
                break
            found[mid] = m
        else:
            return found
        await trio.sleep(0.02)


def now() -> float:
    return time.time()


async def wait_for(condition: Callable[[], bool], interval: float = 0.01) -> None:
    """Poll ``condition`` (for state that has no event to wait on); bound it by fail_after."""
    while True:
        if condition():
            return
        await trio.sleep(interval)
