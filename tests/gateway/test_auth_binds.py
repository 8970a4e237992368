"""Client binds through the real server: credentials, lock-out (injected clock), allow-list,
bind types, max binds, bind registry and gauges."""

from __future__ import annotations

from pathlib import Path

import smpplib.consts
import smpplib.exceptions
import trio

from smppcore.config.values import Cidr
from smppcore.gateway.binds import BindType
from smppcore.protocol.pdu import EnquireLink

from .mt_harness import (
    PASSWORD,
    Clock,
    account,
    esme,
    make_config,
    running_gateway,
    smpplib_client,
    submit,
)

RBINDFAIL = 0x0D
RINVPASWD = 0x0E


def _bind_status(port: int, system_id: str, password: str, kind: str = "transmitter") -> int:
    client = smpplib_client(port)
    try:
        getattr(client, f"bind_{kind}")(system_id=system_id, password=password)
        return 0
    except smpplib.exceptions.PDUError as exc:
        return int(exc.args[1])
    finally:
        client.disconnect()


async def bind_status(port: int, system_id: str, password: str, kind: str = "transmitter") -> int:
    return await trio.to_thread.run_sync(_bind_status, port, system_id, password, kind)


async def test_wrong_password_and_unknown_id_get_the_same_answer(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running_gateway(tmp_path) as (_, port):
            assert await bind_status(port, "acme", "wrong") == RINVPASWD
            assert await bind_status(port, "nobody", PASSWORD) == RINVPASWD
            assert await bind_status(port, "acme", PASSWORD) == 0


async def test_lockout_after_five_failures_then_expiry(tmp_path: Path) -> None:
    clock = Clock()
    with trio.fail_after(30):
        async with running_gateway(tmp_path, clock=clock) as (_, port):
            for _ in range(5):
                assert await bind_status(port, "acme", "wrong") == RINVPASWD
            # locked: the right password fails too, with the generic bind failure
            assert await bind_status(port, "acme", PASSWORD) == RBINDFAIL
            clock.now += 299.0
            assert await bind_status(port, "acme", PASSWORD) == RBINDFAIL
            clock.now += 2.0  # past the 300 s lock
            assert await bind_status(port, "acme", PASSWORD) == 0


async def test_ip_outside_allow_list_cannot_bind(tmp_path: Path) -> None:
    # "lan" admits 10.0.0.0/8 only; "local" admits loopback, so the refusal is about the
    # address the server saw, not about an address it failed to learn.
    local = account("local", "27600000600", allowed_ips=(Cidr.from_config("127.0.0.1/32"),))
    with trio.fail_after(20):
        async with running_gateway(tmp_path, make_config(local)) as (gateway, port):
            # the right password from the wrong place gets the wrong password's answer, so
            # an outsider cannot use the status to confirm a guessed password
            assert await bind_status(port, "lan", PASSWORD) == RINVPASWD
            assert await bind_status(port, "lan", "wrong") == RINVPASWD
            assert gateway.binds.count("lan") == 0
            assert await bind_status(port, "local", PASSWORD) == 0


async def test_bind_type_not_allowed(tmp_path: Path) -> None:
    config = make_config(account("txonly", "27600000500", bind_types=("transmitter",)))
    with trio.fail_after(20):
        async with running_gateway(tmp_path, config) as (_, port):
            assert await bind_status(port, "txonly", PASSWORD, "receiver") == RBINDFAIL
            assert await bind_status(port, "txonly", PASSWORD, "transceiver") == RBINDFAIL
            assert await bind_status(port, "txonly", PASSWORD, "transmitter") == 0


async def test_max_binds_and_registry_and_gauges(tmp_path: Path) -> None:
    config = make_config(account("single", "27600000600", max_binds=1))
    with trio.fail_after(20):
        async with running_gateway(tmp_path, config) as (gateway, port):
            first = smpplib_client(port)
            try:
                await trio.to_thread.run_sync(
                    lambda: first.bind_transceiver(system_id="single", password=PASSWORD)
                )
                assert gateway.binds.count("single") == 1
                assert [b.bind_type for b in gateway.binds.receivers("single")] == [
                    BindType.TRANSCEIVER
                ]
                gauge = gateway.metrics.registry.get_sample_value(
                    "smppcore_client_binds", {"account": "single", "bind_type": "transceiver"}
                )
                assert gauge == 1
                assert await bind_status(port, "single", PASSWORD) == RBINDFAIL
                status = await trio.to_thread.run_sync(
                    lambda: int(submit(first, "27600000600", "27600000900").status)
                )
                assert status == 0
                await trio.to_thread.run_sync(first.unbind)
            finally:
                first.disconnect()
            with trio.fail_after(5):
                while gateway.binds.count("single"):
                    await gateway.binds.wait_for_change("single", 0.05)
            gauge = gateway.metrics.registry.get_sample_value(
                "smppcore_client_binds", {"account": "single", "bind_type": "transceiver"}
            )
            assert gauge == 0
            assert await bind_status(port, "single", PASSWORD) == 0


async def test_receiver_bind_cannot_submit(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running_gateway(tmp_path) as (gateway, port):

            def run() -> int:
                client = smpplib_client(port)
                try:
                    client.bind_receiver(system_id="acme", password=PASSWORD)
                    client.state = (
                        smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX
                    )  # send what rx may not
                    return int(submit(client, "27600000001", "27600000900").status)
                finally:
                    client.disconnect()

            assert await trio.to_thread.run_sync(run) == 0x04  # ESME_RINVBNDSTS
            assert await gateway.store.lease_mt("sim", 10, 30.0, gateway.clock()) == []


async def test_client_side_pdus_are_all_counted_each_way(tmp_path: Path) -> None:
    """Binds, the enquire_link the session answers itself and the unbind handshake count
    under ``side="client"``, each way."""
    with trio.fail_after(10):
        async with running_gateway(tmp_path) as (gateway, port):
            async with esme(port) as conn:
                await conn.request(EnquireLink())

            def pdus(direction: str, command: str) -> float:
                labels = {"side": "client", "direction": direction, "command": command,
                          "status": "ESME_ROK"}  # fmt: skip
                value = gateway.metrics.registry.get_sample_value("smppcore_pdus_total", labels)
                return value or 0.0

            while pdus("out", "unbind_resp") < 1:  # noqa: ASYNC110 - a counter, no event
                await trio.sleep(0.01)
            for direction, command in [
                ("in", "bind_transceiver"), ("out", "bind_transceiver_resp"),
                ("in", "enquire_link"), ("out", "enquire_link_resp"), ("in", "unbind"),
            ]:  # fmt: skip
                assert pdus(direction, command) == 1, (direction, command)
            assert pdus("out", "submit_sm") == 0


async def test_a_client_unbinding_or_dropping_its_connection_is_logged_at_info(
    tmp_path: Path,
) -> None:
    import structlog
    from structlog.testing import capture_logs

    saved = structlog.get_config()
    structlog.reset_defaults()  # another test may have set a level filter that drops info
    try:
        with trio.fail_after(20), capture_logs() as logs:
            async with running_gateway(tmp_path) as (gateway, port):
                polite = smpplib_client(port)
                await trio.to_thread.run_sync(
                    lambda: polite.bind_transmitter(system_id="acme", password=PASSWORD)
                )
                await trio.to_thread.run_sync(polite.unbind)
                polite.disconnect()
                rude = smpplib_client(port)
                await trio.to_thread.run_sync(
                    lambda: rude.bind_receiver(system_id="acme", password=PASSWORD)
                )
                rude.disconnect()  # no unbind
                while sum(1 for e in logs if e["event"] == "client.unbound") < 2:
                    await gateway.binds.wait_for_change("acme", 0.05)
    finally:
        structlog.configure(**saved)
    ends = [(e["bind_type"], e["reason"]) for e in logs if e["event"] == "client.unbound"]
    assert ends == [("transmitter", "UNBOUND"), ("receiver", "PEER_CLOSED")]
    assert all(e["log_level"] == "info" and e["account"] == "acme" for e in logs
               if e["event"] == "client.unbound")  # fmt: skip
