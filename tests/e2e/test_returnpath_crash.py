"""The rebuilt return path through the real daemon when it dies: SIGKILL in the middle of
receipt batches loses nothing the SMSC was told is safe, and the leases a dead (or cleanly
stopped) daemon held are free again at once after a restart, not after the 120 s lease.

The crash test runs the SMSC simulator inside the test process (a built-in one would die
with the daemon and forget the receipts it had not been answered for), so the SMSC keeps
re-sending what the daemon did not acknowledge and the test can see exactly which receipts
the SMSC counted as acknowledged. The lease tests use the daemon's built-in simulator.
Clients are our own stack (``smppcore.net``) on real TCP.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from connectors.simulator import Simulator
from connectors.simulator.delivery import Deliverer
from smppcore.config import SimulatorConfig
from smppcore.net import (
    BindClient,
    NetError,
    SmppConnection,
    bind,
    connect_smpp,
    open_bind_client,
    open_smpp_connection,
)
from smppcore.protocol.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    Pdu,
    SubmitSm,
)
from smppcore.protocol.session_events import SessionConfig
from smppcore.protocol.states import Role

from .helpers import (
    DEMO_SENDER,
    DaemonProcess,
    Ports,
    make_config,
    new_ports,
    raise_limits,
    wait_sim,
)

pytestmark = pytest.mark.slow

DEMO = {"system_id": "demo", "password": "demopass"}


# --- pieces ---------------------------------------------------------------------------------


def handset(i: int) -> str:
    """A distinct handset per message: receipts are told apart by their source address."""
    return f"2782777{i:04d}"


def is_receipt(pdu: Pdu) -> bool:
    return isinstance(pdu, DeliverSm) and bool(pdu.esm_class & 0x04)


def receipt_id(pdu: DeliverSm) -> str:
    """The message id a receipt carries: the receipted_message_id TLV, else the text's id:."""
    tlv = pdu.tlvs.get("receipted_message_id")
    if isinstance(tlv, bytes):
        tlv = tlv.decode("latin-1")
    if tlv:
        return str(tlv).rstrip("\x00")
    match = re.search(r"id:(\S+)", pdu.short_message.decode("latin-1"))
    assert match is not None, pdu
    return match.group(1)


def submit_for(i: int) -> SubmitSm:
    return SubmitSm(
        source_addr_ton=1, source_addr_npi=1, source_addr=DEMO_SENDER,
        dest_addr_ton=1, dest_addr_npi=1, destination_addr=handset(i),
        registered_delivery=1, short_message=f"crash test {i}".encode(),
    )  # fmt: skip


async def submit_all(client: BindClient, numbers: Iterable[int]) -> dict[int, str]:
    """Submit message ``i`` for each number, concurrently (the bind's window bounds it); the
    message id of each one accepted. A submit lost with the connection is not accepted."""
    accepted: dict[int, str] = {}

    async def one(i: int) -> None:
        try:
            response = await client.request(submit_for(i))
        except NetError:
            return
        if response.command_status == 0:
            accepted[i] = response.message_id

    async with trio.open_nursery() as nursery:
        for i in numbers:
            nursery.start_soon(one, i)
    return accepted


@attrs.define
class ReceivingClient:
    """Answers every deliver_sm ESME_ROK (after ``delay`` seconds each, one at a time) and
    records the receipts it answered, as (handset, message id), in order."""

    delay: float = 0.0
    answered: list[tuple[str, str]] = attrs.field(factory=list)
    changed: trio.Event = attrs.field(factory=trio.Event)

    async def __call__(self, conn: SmppConnection) -> None:
        try:
            async for pdu in conn:
                if self.delay:
                    await trio.sleep(self.delay)
                await conn.respond(pdu, pdu.response())
                if is_receipt(pdu):
                    assert isinstance(pdu, DeliverSm)
                    self.answered.append((pdu.source_addr, receipt_id(pdu)))
                    self.changed.set()
                    self.changed = trio.Event()
        except NetError:
            pass

    def ids(self) -> set[str]:
        return {mid for _, mid in self.answered}

    def handsets(self) -> set[str]:
        return {number for number, _ in self.answered}

    async def wait_for_handsets(self, wanted: set[str]) -> None:
        while not wanted <= self.handsets():
            await self.changed.wait()


def client(
    port: int, bind_pdu: Pdu, handler: ReceivingClient | None = None
) -> AbstractAsyncContextManager[BindClient]:
    """A bind of the demo account to the daemon (no reconnect: a lost connection is final)."""
    return open_bind_client("127.0.0.1", port, bind_pdu, handler=handler)


# --- 1. SIGKILL in the middle of receipt batches -----------------------------------------------


class _AckCounting:
    """A receiver connection as the simulator's deliverer sees it, noting each deliver_sm
    the ESME answered ESME_ROK (the moment the simulator counts it as sent)."""

    def __init__(self, conn: SmppConnection, acked: list[DeliverSm]) -> None:
        self._conn = conn
        self._acked = acked

    @property
    def is_closed(self) -> bool:
        return self._conn.is_closed

    async def request(self, pdu: DeliverSm) -> Pdu:
        response = await self._conn.request(pdu)
        if response.command_status == 0:
            self._acked.append(pdu)
        return response


class _AckCountingDeliverer(Deliverer):
    def __init__(self, acked: list[DeliverSm], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acked = acked
        self._wrapped: dict[int, _AckCounting] = {}

    def add_receiver(self, system_id: str, conn: SmppConnection) -> None:
        wrapped = self._wrapped[id(conn)] = _AckCounting(conn, self._acked)
        super().add_receiver(system_id, wrapped)  # type: ignore[arg-type]

    def remove_receiver(self, system_id: str, conn: SmppConnection) -> None:
        wrapped = self._wrapped.pop(id(conn), None)
        super().remove_receiver(system_id, wrapped or conn)  # type: ignore[arg-type]


class AckTrackingSimulator(Simulator):
    """The simulator, plus every receipt/reply the daemon answered OK (``acked``, in order)."""

    def __init__(self, settings: SimulatorConfig, **options: Any) -> None:
        super().__init__(settings, **options)
        self.acked: list[DeliverSm] = []
        self._deliverer = _AckCountingDeliverer(
            self.acked, self._recorder, workers=settings.delivery_window
        )

    def acked_handsets(self) -> set[str]:
        return {pdu.source_addr for pdu in self.acked if is_receipt(pdu)}


@asynccontextmanager
async def tracking_simulator(ports: Ports, **settings: Any) -> AsyncIterator[AckTrackingSimulator]:
    config = SimulatorConfig(
        enabled=True, host="127.0.0.1", port=ports.sim, control_port=ports.control, **settings
    )
    sim = AckTrackingSimulator(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.serve)
        try:
            yield sim
        finally:
            nursery.cancel_scope.cancel()


async def test_sigkill_mid_receipts_loses_no_receipt_the_smsc_was_answered_for(
    tmp_path: Path,
) -> None:
    n = 300
    ports = new_ports()
    config = make_config(tmp_path, ports, simulator=False)
    raise_limits(config)
    daemon = DaemonProcess(config, tmp_path / "data", tmp_path / "daemon.log")
    # Before the crash the client answers slowly (10 ms each, one at a time), so receipts the
    # daemon made durable (and the SMSC was answered for) wait in the daemon for the client.
    slow = ReceivingClient(delay=0.01)
    fast = ReceivingClient()
    trx = BindTransceiver(**DEMO)
    with trio.fail_after(60):
        async with tracking_simulator(ports, receipt_delay=0.3) as sim:
            try:
                daemon.start()
                await daemon.wait_ready()
                submitted: dict[int, str] = {}

                async def submit(bound: BindClient) -> None:
                    submitted.update(await submit_all(bound, range(n)))

                async with (
                    client(ports.client, trx, slow) as first,
                    trio.open_nursery() as nursery,
                ):
                    nursery.start_soon(submit, first)
                    await sim.wait_for_receipts(n // 3)  # receipts are flowing
                    # One synchronous step: the simulator and the client run in this process
                    # and cannot move between these lines and the SIGKILL.
                    stats = sim.stats()
                    acked_before = sim.acked_handsets()
                    at_client_before = slow.handsets()
                    daemon.kill()
                assert daemon.process is not None and daemon.process.returncode == -9
                accepted = dict(submitted)
                assert len(accepted) >= n // 3
                assert 0 < stats.receipts_total < len(accepted)  # killed mid-flow
                # Receipts the SMSC will not send again, which had not reached the client: the
                # daemon must deliver them from its store.
                only_in_daemon = acked_before - at_client_before
                assert only_in_daemon

                daemon.start()
                await daemon.wait_ready()
                async with client(ports.client, trx, fast):
                    # Duplicates are allowed, none missing; what the client got before the
                    # crash counts.
                    await fast.wait_for_handsets({handset(i) for i in accepted} - slow.handsets())
            finally:
                daemon.kill()
    received_ids = slow.ids() | fast.ids()
    assert set(accepted.values()) <= received_ids
    assert only_in_daemon <= fast.handsets()
    # Each receipt the client got carries the id of the message to that handset.
    by_handset = {handset(i): mid for i, mid in accepted.items()}
    for number, mid in [*slow.answered, *fast.answered]:
        if number in by_handset:
            assert mid == by_handset[number]


# --- 2. leases freed at once after a restart ---------------------------------------------------


@attrs.define
class SilentReceiver:
    """A receiver bind that takes deliver_sm and never answers them (the daemon keeps them
    leased, in flight); enquire_link and unbind are still answered by the session."""

    seen: list[DeliverSm] = attrs.field(factory=list)
    changed: trio.Event = attrs.field(factory=trio.Event)

    async def run(
        self, port: int, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        stream = await connect_smpp("127.0.0.1", port)
        config = SessionConfig(enquire_link_interval=None)
        try:
            async with open_smpp_connection(stream, Role.ESME, config) as conn:
                await bind(conn, BindReceiver(**DEMO))
                task_status.started()
                async for pdu in conn:
                    if isinstance(pdu, DeliverSm):
                        self.seen.append(pdu)
                        self.changed.set()
                        self.changed = trio.Event()
        except NetError:
            pass

    async def wait_for(self, count: int) -> None:
        while len(self.seen) < count:
            await self.changed.wait()


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
async def test_leases_of_a_stopped_daemon_are_free_at_once_after_restart(
    tmp_path: Path, how: str
) -> None:
    n = 20  # twice the client listener's window: half in flight, half waiting in memory
    ports = new_ports()
    config = make_config(tmp_path, ports, receipt_delay=0.05)
    daemon = DaemonProcess(config, tmp_path / "data", tmp_path / "daemon.log")
    silent = SilentReceiver()
    receiver = ReceivingClient()
    with trio.fail_after(60):
        try:
            daemon.start()
            await daemon.wait_ready()
            async with trio.open_nursery() as nursery:
                await nursery.start(silent.run, ports.client)
                async with client(ports.client, BindTransmitter(**DEMO)) as tx:
                    accepted = await submit_all(tx, range(n))
                assert len(accepted) == n
                # Every receipt is durable in the daemon (the built-in SMSC got its
                # deliver_sm_resp), and a window's worth went to the silent bind: those are
                # leased and in flight, never answered; the rest wait leased in memory.
                await wait_sim(ports.control, "receipts_total", n)
                await silent.wait_for(10)
                held = {pdu.source_addr for pdu in silent.seen}
                if how == "sigkill":
                    daemon.kill()
                    assert daemon.process is not None and daemon.process.returncode == -9
                else:
                    assert await daemon.stop() == 0
                nursery.cancel_scope.cancel()

            daemon.start()
            await daemon.wait_ready()
            async with client(ports.client, BindReceiver(**DEMO), receiver):
                # The requirement: without freeing its old leases at start the daemon would
                # wait for them to run out (120 s).
                with trio.fail_after(5):
                    await receiver.wait_for_handsets({handset(i) for i in accepted})
            reclaimed = [e for e in daemon.events() if e.get("event") == "delivery.reclaimed"]
        finally:
            daemon.kill()
    assert held <= receiver.handsets()
    assert set(accepted.values()) <= receiver.ids()
    if how == "sigkill":
        # The crashed run's leases were freed by the next start.
        assert len(reclaimed) == 1
        assert reclaimed[0]["items"] >= len(held)
    else:
        # A clean stop gave them back itself: the next start found nothing to free.
        assert reclaimed == []
