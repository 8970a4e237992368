"""Fault switches: throttled share, slow and dropped responses, disconnects, refused binds."""

from __future__ import annotations

import socket

import pytest
import smpplib.exceptions
import trio

from connectors.simulator import FaultError, Faults
from smppcore.net.client import open_bind_client
from smppcore.net.errors import BindFailed, RequestTimeout
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.pdu import BindTransmitter, SubmitSm

from .helpers import PASSWORD, STATUS_OK, STATUS_THROTTLED, SYSTEM_ID, Esme, http, running_simulator


async def test_throttled_share() -> None:
    with trio.fail_after(20):
        async with running_simulator(faults=Faults(throttle_share=0.5)) as sim:
            esme = Esme(sim.port)

            def run() -> None:
                esme.bind()
                for i in range(40):
                    esme.submit(f"m{i}", registered_delivery=0)
                esme.read_until(responses=40)

            await trio.to_thread.run_sync(run)
            statuses = [r.status for r in esme.responses]
            assert set(statuses) == {STATUS_OK, STATUS_THROTTLED}
            stats = sim.stats()
            assert stats.submits["ESME_RTHROTTLED"] == statuses.count(STATUS_THROTTLED)
            assert stats.submits["ESME_ROK"] == statuses.count(STATUS_OK)
            sim.set_faults(throttle_share=1.0)

            def all_throttled() -> None:
                for i in range(5):
                    esme.submit(f"t{i}", registered_delivery=1)
                esme.read_until(responses=45)

            await trio.to_thread.run_sync(all_throttled)
            assert {r.status for r in esme.responses[40:]} == {STATUS_THROTTLED}
            assert sim.stats().receipts_total == 0  # registered_delivery 0, then throttled
            await trio.to_thread.run_sync(esme.close)


async def test_dropped_response_times_out_smpplib() -> None:
    with trio.fail_after(20):
        async with running_simulator(faults=Faults(drop_share=1.0)) as sim:
            esme = Esme(sim.port, timeout=0.5)

            def run() -> None:
                esme.bind()
                esme.submit("lost", registered_delivery=0)
                with pytest.raises(socket.timeout):
                    esme.read_until(responses=1)

            await trio.to_thread.run_sync(run)
            stats = sim.stats()
            assert stats.submits_dropped == 1 and stats.submits_received == 1
            assert stats.submits == {}
            await trio.to_thread.run_sync(esme.client.disconnect)


async def test_dropped_response_times_out_our_client() -> None:
    with trio.fail_after(20):
        async with running_simulator() as sim:
            bind = BindTransmitter(system_id=SYSTEM_ID, password=PASSWORD)
            async with open_bind_client("127.0.0.1", sim.port, bind) as client:
                ok = await client.request(SubmitSm(destination_addr="1", short_message=b"a"))
                assert ok.command_status == 0
                sim.set_faults(drop_share=1.0)
                with pytest.raises(RequestTimeout):
                    await client.request(
                        SubmitSm(destination_addr="1", short_message=b"b"), timeout=0.3
                    )
                sim.set_faults(drop_share=0.0)
                ok = await client.request(SubmitSm(destination_addr="1", short_message=b"c"))
                assert ok.command_status == 0
            assert sim.stats().submits_dropped == 1


async def test_slow_responses_fill_the_window() -> None:
    """With a response delay, an ESME with window 5 keeps 5 requests outstanding."""
    with trio.fail_after(20):
        async with running_simulator(faults=Faults(response_delay=0.2)) as sim:
            bind = BindTransmitter(system_id=SYSTEM_ID, password=PASSWORD)
            async with open_bind_client("127.0.0.1", sim.port, bind) as client:
                conn = await client.wait_connected()
                assert conn.config.window >= 5
                async with trio.open_nursery() as nursery:
                    for i in range(5):
                        nursery.start_soon(
                            client.request, SubmitSm(destination_addr="1", short_message=b"%d" % i)
                        )
            stats = sim.stats()
            assert stats.submits == {"ESME_ROK": 5}
            assert stats.max_outstanding == 5


async def test_disconnect_after_n_pdus() -> None:
    with trio.fail_after(20):
        async with running_simulator(faults=Faults(disconnect_after=3)) as sim:
            esme = Esme(sim.port)

            def run() -> None:
                esme.bind()
                for i in range(3):
                    esme.submit(f"m{i}", registered_delivery=0)
                esme.read_until(responses=3)
                with pytest.raises(smpplib.exceptions.ConnectionError):
                    esme.submit("m3", registered_delivery=0)
                    esme.read_until(responses=4)

            await trio.to_thread.run_sync(run)
            stats = sim.stats()
            assert stats.disconnects_injected == 1
            assert stats.submits == {"ESME_ROK": 3}
            await trio.to_thread.run_sync(esme.client.disconnect)


@pytest.mark.parametrize("how", ["fault", "password", "system_id"])
async def test_refused_binds(how: str) -> None:
    faults = Faults(refuse_binds=how == "fault")
    system_id = "nobody" if how == "system_id" else SYSTEM_ID
    password = "wrong" if how == "password" else PASSWORD
    with trio.fail_after(20):
        async with running_simulator(faults=faults) as sim:
            esme = Esme(sim.port)

            def run() -> None:
                with pytest.raises(smpplib.exceptions.PDUError) as info:
                    esme.bind("transceiver", system_id, password)
                assert info.value.args[1] == CommandStatus.ESME_RBINDFAIL

            await trio.to_thread.run_sync(run)
            await trio.to_thread.run_sync(esme.client.disconnect)
            with pytest.raises(BindFailed) as failed:
                bind = BindTransmitter(system_id=system_id, password=password)
                async with open_bind_client("127.0.0.1", sim.port, bind):
                    pass
            assert failed.value.command_status == CommandStatus.ESME_RBINDFAIL
            stats = sim.stats()
            assert stats.bind_failures == 2 and stats.binds == {}


async def test_faults_switch_over_http() -> None:
    with trio.fail_after(20):
        async with running_simulator() as sim:
            status, body = await trio.to_thread.run_sync(
                http, sim.control_port, "POST", "/faults", {"refuse_binds": True}
            )
            assert status == 200 and body["refuse_binds"] is True
            assert sim.faults.refuse_binds
            with pytest.raises(BindFailed):
                bind = BindTransmitter(system_id=SYSTEM_ID, password=PASSWORD)
                async with open_bind_client("127.0.0.1", sim.port, bind):
                    pass
            status, body = await trio.to_thread.run_sync(
                http, sim.control_port, "POST", "/faults", {"refuse_binds": False, "x": 1}
            )
            assert status == 400 and "unknown fault" in body["error"]
            assert sim.faults.refuse_binds  # nothing changed on a bad request
            status, body = await trio.to_thread.run_sync(
                http, sim.control_port, "POST", "/faults", {"refuse_binds": False}
            )
            assert status == 200 and body == Faults().as_dict()
            status, body = await trio.to_thread.run_sync(http, sim.control_port, "GET", "/faults")
            assert status == 200 and body["throttle_share"] == 0.0


@pytest.mark.parametrize(
    "changes",
    [
        {"throttle_share": 1.5},
        {"drop_share": -0.1},
        {"response_delay": "slow"},
        {"disconnect_after": 2.5},
        {"refuse_binds": 1},
        {"nonsense": 1},
    ],
)
def test_bad_fault_settings_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(FaultError):
        Faults().updated(changes)


async def test_a_cancelled_wait_leaves_no_waiter_behind() -> None:
    """A waiter that gives up (a timeout around ``wait_for_*``) must not stay registered:
    every later update would evaluate its condition, and they would pile up without bound."""
    with trio.fail_after(10):
        async with running_simulator() as sim:
            for _ in range(3):
                with trio.move_on_after(0.01):
                    await sim.wait_for_submits(1)
            assert sim._recorder._waiters == []
