"""Issue 12 item 8: SIGTERM under load drains the client binds. The daemon runs as a
subprocess, the SMSC simulator in this process (it outlives the daemon across the restart
and shows exactly what was forwarded), the client is a raw SMPP client on loopback TCP with
its own bookkeeping of every sequence number it sent and every answer it got.

What must hold: every submit_sm the client sent before it received the unbind gets an
answer (it keeps reading after its unbind_resp until the daemon closes the socket); every
one answered OK is in the store and reaches the SMSC, at the latest after a restart
(nothing lost); none that was refused reaches it (nothing forwarded without an OK); and the
client stage is over before the connectors are stopped.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from connectors.simulator import Simulator
from smppcore.config import SimulatorConfig, load_config
from smppcore.gateway.privacy import open_configured_store
from smppcore.protocol.codec import encode
from smppcore.protocol.enums import CommandId, CommandStatus
from smppcore.protocol.framer import Framer
from smppcore.protocol.pdu import (
    BindTransceiver,
    EnquireLink,
    Pdu,
    SubmitSm,
    Unbind,
    UnbindResp,
)

from .helpers import DEMO_SENDER, DaemonProcess, Ports, make_config, new_ports, raise_limits

pytestmark = pytest.mark.slow

#: Submits the client keeps outstanding (the listener serves 10 at a time and queues more).
CLIENT_WINDOW = 40
#: The steady rate: PER_TICK submits every TICK seconds (500/s while the daemon keeps up).
PER_TICK, TICK = 10, 0.02
#: Answers to wait for before the SIGTERM (the load is well under way by then).
ANSWERS_BEFORE_SIGTERM = 300
#: The loop's bound on submits (never reached: the unbind ends it long before).
MAX_SUBMITS = 5000
THROTTLED = int(CommandStatus.ESME_RTHROTTLED)


def handset(i: int) -> str:
    """One destination per message: the simulator's record tells them apart by it."""
    return f"2782666{i:04d}"


def submit_for(i: int, seq: int) -> SubmitSm:
    return SubmitSm(
        sequence_number=seq,
        source_addr_ton=1, source_addr_npi=1, source_addr=DEMO_SENDER,
        dest_addr_ton=1, dest_addr_npi=1, destination_addr=handset(i),
        short_message=f"drain {i}".encode(),
    )  # fmt: skip


@attrs.define(eq=False)
class LoadClient:
    """A transceiver that submits at a steady rate within a window, answers enquire_link and
    unbind, and reads until the daemon closes the socket. ``sent`` maps each submit's
    sequence number to its message number; ``before_unbind`` is what had been sent when the
    unbind was read (nothing is sent after it)."""

    stream: trio.SocketStream
    framer: Framer = attrs.field(factory=Framer)
    sent: dict[int, int] = attrs.field(factory=dict)
    answers: dict[int, Pdu] = attrs.field(factory=dict)
    before_unbind: frozenset[int] | None = None
    unbind_seen: bool = False
    _lock: trio.StrictFIFOLock = attrs.field(factory=trio.StrictFIFOLock)
    _room: trio.Semaphore = attrs.field(factory=lambda: trio.Semaphore(CLIENT_WINDOW))
    _stopped: bool = False
    _changed: trio.Event = attrs.field(factory=trio.Event)
    #: Set each time a tick's submits have been handed to the socket.
    burst_sent: trio.Event = attrs.field(factory=trio.Event)

    async def send(self, pdu: Pdu) -> None:
        async with self._lock:  # FIFO: a submit queued first goes out first
            await self.stream.send_all(encode(pdu))

    async def read(self) -> Pdu | None:
        while (event := self.framer.next_event()) is None:
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.framer.receive_data(bytes(data))
        assert isinstance(event, Pdu), event
        return event

    async def bind(self) -> None:
        await self.send(BindTransceiver(sequence_number=1, system_id="demo", password="demopass"))
        resp = await self.read()
        assert resp is not None and resp.command_status == 0, resp

    def _stop_sending(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.before_unbind = frozenset(self.sent)
            for _ in range(CLIENT_WINDOW):  # wake the sender if it waits for room
                self._room.release()

    async def read_until_closed(self) -> None:
        while (pdu := await self.read()) is not None:
            if isinstance(pdu, Unbind):
                self.unbind_seen = True
                self._stop_sending()  # in this step: nothing is sent after the unbind
                await self.send(UnbindResp(sequence_number=pdu.sequence_number))
            elif isinstance(pdu, EnquireLink):
                await self.send(pdu.response())
            elif pdu.command_id in (CommandId.SUBMIT_SM_RESP, CommandId.GENERIC_NACK):
                assert pdu.sequence_number in self.sent, pdu
                assert pdu.sequence_number not in self.answers, f"answered twice: {pdu}"
                self.answers[pdu.sequence_number] = pdu
                self._room.release()
                self._changed.set()
                self._changed = trio.Event()
        self._stop_sending()  # closed without an unbind: stop too

    async def submit_steadily(self) -> None:
        i = 0
        while i < MAX_SUBMITS:
            for _ in range(PER_TICK):
                await self._room.acquire()
                if self._stopped:
                    return
                seq = i + 2
                self.sent[seq] = i  # before the send: a submit waiting for the lock counts
                await self.send(submit_for(i, seq))
                i += 1
            self.burst_sent.set()
            self.burst_sent = trio.Event()
            await trio.sleep(TICK)

    async def wait_answers(self, n: int) -> None:
        while len(self.answers) < n:
            await self._changed.wait()


@asynccontextmanager
async def simulator(ports: Ports) -> AsyncIterator[Simulator]:
    settings = SimulatorConfig(
        enabled=True, host="127.0.0.1", port=ports.sim, control_port=ports.control
    )
    sim = Simulator(settings)
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.serve)
        try:
            yield sim
        finally:
            nursery.cancel_scope.cancel()


async def stored_messages(config: Path, data_dir: Path, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` the (stopped) daemon's store holds."""
    loaded = load_config(config, data_dir=data_dir)
    async with open_configured_store(loaded) as store:
        return {i for i in ids if await store.get_mt(i) is not None}


def event_names(daemon: DaemonProcess) -> list[tuple[str, dict[str, Any]]]:
    return [(str(e.get("event")), e) for e in daemon.events()]


async def test_sigterm_under_load_answers_every_submit_and_forwards_only_accepted_ones(
    tmp_path: Path,
) -> None:
    ports = new_ports()
    # The connector binds to our simulator. A connector that stops keeps what it had leased
    # and not yet sent leased until the lease ends; a short lease lets the restart send it.
    extra = "\n[connectors.options]\nlease_seconds = 5\n"
    config = make_config(tmp_path, ports, simulator=False, extra=extra)
    raise_limits(config)
    daemon = DaemonProcess(config, tmp_path / "data", tmp_path / "daemon.log")
    with trio.fail_after(120):
        async with simulator(ports) as sim:
            try:
                daemon.start()
                await daemon.wait_ready()
                client = LoadClient(await trio.open_tcp_stream("127.0.0.1", ports.client))
                await client.bind()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(client.read_until_closed)
                    nursery.start_soon(client.submit_steadily)
                    await client.wait_answers(ANSWERS_BEFORE_SIGTERM)
                    # Right after a burst: the daemon gets the signal with submits arriving.
                    await client.burst_sent.wait()
                    daemon.send(signal.SIGTERM)
                # The reader saw the daemon close the socket; the sender stopped at the unbind.
                await client.stream.aclose()
                assert await daemon.wait_exit() == 0
                first_run = event_names(daemon)

                # 1. Every submit sent before the unbind was answered; none was sent after.
                assert client.unbind_seen
                assert client.before_unbind == frozenset(client.sent)
                unanswered = client.before_unbind - client.answers.keys()
                assert unanswered == frozenset(), f"{len(unanswered)} submits got no answer"
                statuses = {pdu.command_status for pdu in client.answers.values()}
                assert statuses <= {0, THROTTLED}, statuses
                accepted = {
                    client.sent[s]: r.message_id
                    for s, r in client.answers.items()
                    if r.command_status == 0
                }
                ok = set(accepted)
                refused = {client.sent[s] for s in client.answers} - ok
                assert len(ok) >= ANSWERS_BEFORE_SIGTERM - CLIENT_WINDOW

                # 2. Every accepted message is durable (the daemon is down: read its store).
                stored = await stored_messages(config, tmp_path / "data", accepted.values())
                assert stored == set(accepted.values())

                # 3. After a restart every accepted message reaches the SMSC.
                daemon.start()
                await daemon.wait_ready()
                wanted = {handset(i) for i in ok}
                while not wanted <= set(sim.destinations()):  # noqa: ASYNC110 - the daemon's doing
                    await trio.sleep(0.05)
                assert await daemon.stop() == 0
            finally:
                daemon.kill()
            forwarded = set(sim.destinations())

    # 4. Only accepted messages were ever forwarded, in either run (duplicates are allowed;
    #    the refused ones never reached the SMSC).
    assert forwarded == wanted
    assert not forwarded & {handset(i) for i in refused}

    # 5. The first run drained the clients completely, and before the connectors stopped.
    names = [name for name, _ in first_run]
    (drained,) = [e for name, e in first_run if name == "daemon.clients_drained"]
    assert drained["connections"] == 1 and drained["unbound"] == 1
    assert drained["cut"] == 0 and drained["unanswered"] == 0
    assert drained["refused"] == len(refused)
    operators = next(
        i for i, (name, e) in enumerate(first_run)
        if name == "daemon.draining" and e.get("stage") == "operators"
    )  # fmt: skip
    assert names.index("daemon.draining") < names.index("daemon.clients_drained") < operators
    logs = daemon.logs()
    for i in (*sorted(ok)[:5], *sorted(refused)[:5]):
        assert handset(i) not in logs  # no MSISDN in the logs
