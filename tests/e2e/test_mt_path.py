"""Issue 7 through the real daemon: the source-address table with its reasons in /metrics,
a long message reaching an SMSC as correctly concatenated segments, and SIGKILL after
messages were acknowledged but before they left — a restart sends them all.

The address table shares one daemon (built-in simulator, plus a second account "other").
The other two tests run their own daemon against a simulator inside the test process, so
they can read exactly what the SMSC received.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from connectors.simulator import Simulator, serve_simulator
from smppcore.config import SimulatorConfig

from .conftest import Running
from .helpers import (
    DEMO_SENDER,
    OTHER_ACCOUNT,
    DaemonProcess,
    Esme,
    Ports,
    free_ports,
    make_config,
    metric,
    new_ports,
    scrape,
)

pytestmark = pytest.mark.slow

DAEMON_EXTRA = OTHER_ACCOUNT

ADDRESS_TABLE = [
    # (case, ton, npi, source, expected status, reason counted in /metrics or None)
    ("alphanumeric TON 5", 5, 0, "ABCSHOES", 0x0A, "alphanumeric"),
    ("alphanumeric TON 1", 1, 1, "ABCSHOES", 0x0A, "alphanumeric"),
    ("international with plus", 1, 1, "+27600000001", 0x00, None),
    ("international digits", 1, 1, "27600000001", 0x00, None),
    ("another account's number", 1, 1, "27600001001", 0x0A, "not_owned"),
    ("too short", 1, 1, "2760", 0x0A, "invalid_number"),
    ("letters mixed in", 1, 1, "2760000O001", 0x0A, "alphanumeric"),
]


@pytest.mark.parametrize(
    ("ton", "npi", "source", "expected", "reason"),
    [case[1:] for case in ADDRESS_TABLE],
    ids=[case[0] for case in ADDRESS_TABLE],
)
async def test_source_address_table(
    daemon: Running, ton: int, npi: int, source: str, expected: int, reason: str | None
) -> None:
    labels = (
        {"account": "demo", "result": "accepted"}
        if reason is None
        else {"account": "demo", "result": "rejected", "reason": reason}
    )
    esme = Esme(daemon.ports.client)
    with trio.fail_after(30):
        try:
            before = metric(await scrape(daemon.ports.metrics), "smppcore_submits_total", **labels)
            await trio.to_thread.run_sync(esme.bind)
            sent = await trio.to_thread.run_sync(
                lambda: esme.submit(source, "27821234567", source_ton=ton, source_npi=npi)
            )
            after = metric(await scrape(daemon.ports.metrics), "smppcore_submits_total", **labels)
        finally:
            await trio.to_thread.run_sync(esme.close)
    assert sent.status == expected
    assert (sent.message_id != "") == (expected == 0)
    assert after - before == 1


# --- with a simulator in this process ------------------------------------------------------


@asynccontextmanager
async def simulator(port: int, control: int) -> AsyncIterator[Simulator]:
    settings = SimulatorConfig(
        enabled=True, host="127.0.0.1", port=port, control_port=control, receipt_delay=0.2
    )
    async with trio.open_nursery() as nursery:
        sim: Simulator = await nursery.start(serve_simulator, settings)
        yield sim
        nursery.cancel_scope.cancel()


def external_sim_config(directory: Path, ports: Ports, connector_port: int, name: str) -> Path:
    return make_config(directory, ports, simulator=False, connector_port=connector_port, name=name)


async def test_a_long_message_reaches_the_smsc_as_concatenated_segments(tmp_path: Path) -> None:
    ports = new_ports()
    config = external_sim_config(tmp_path, ports, ports.sim, "sim.toml")
    daemon = DaemonProcess(config, tmp_path / "data", tmp_path / "daemon.log")
    text = "".join(f"part {i:03d} of a long message. " for i in range(15))  # 390 GSM chars
    destination = "27821230001"
    esme = Esme(ports.client)
    with trio.fail_after(60):
        async with simulator(ports.sim, ports.control) as sim:
            try:
                daemon.start()
                await daemon.wait_ready()
                await trio.to_thread.run_sync(esme.bind)
                sent = await trio.to_thread.run_sync(
                    lambda: esme.submit(DEMO_SENDER, destination, text.encode())
                )
                assert sent.status == 0
                await sim.wait_for_submits(3)
            finally:
                await trio.to_thread.run_sync(esme.close)
                await daemon.stop()
    segments = sim.messages(destination)
    assert len(segments) == 3
    concat = [s.concat for s in segments]
    assert all(c is not None for c in concat)
    assert len({c.reference for c in concat if c is not None}) == 1
    assert sorted(c.seq for c in concat if c is not None) == [1, 2, 3]
    assert all(c is not None and c.total == 3 for c in concat)
    in_order = sorted(segments, key=lambda s: s.concat.seq if s.concat else 0)
    assert "".join(s.text for s in in_order) == text
    assert all(s.source_addr == DEMO_SENDER for s in segments)


async def test_sigkill_after_ack_before_send_then_restart_sends_everything(
    tmp_path: Path,
) -> None:
    ports = new_ports()
    (closed_port,) = free_ports(1)  # nobody listens there: the connector stays down
    stranded = external_sim_config(tmp_path, ports, closed_port, "stranded.toml")
    working = external_sim_config(tmp_path, ports, ports.sim, "working.toml")
    data_dir = tmp_path / "data"
    destinations = [f"2782123{i:04d}" for i in range(20)]
    esme = Esme(ports.client)
    daemon = DaemonProcess(stranded, data_dir, tmp_path / "daemon.log")
    with trio.fail_after(90):
        try:
            daemon.start()
            await daemon.wait_ready()
            await trio.to_thread.run_sync(esme.bind)
            for destination in destinations:
                sent = await trio.to_thread.run_sync(
                    lambda d=destination: esme.submit(DEMO_SENDER, d, b"kept through a crash")
                )
                assert sent.status == 0  # acknowledged: durable
        finally:
            await trio.to_thread.run_sync(esme.close)
            daemon.kill()  # SIGKILL: no drain, no flush
        assert daemon.process is not None and daemon.process.returncode == -9

        async with simulator(ports.sim, ports.control) as sim:
            restarted = DaemonProcess(working, data_dir, tmp_path / "daemon.log")
            try:
                restarted.start()
                await restarted.wait_ready()
                while not set(destinations) <= set(sim.destinations()):  # noqa: ASYNC110
                    await trio.sleep(0.05)
            finally:
                await restarted.stop()
    for destination in destinations:
        bodies = sim.messages(destination)
        assert 1 <= len(bodies) <= 2  # duplicates are possible, bounded
        assert bodies[0].text == "kept through a crash"
