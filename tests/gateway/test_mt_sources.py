"""Source addresses through the real server (smpplib client): only a routable MSISDN owned by
the sending account may leave; every refusal has its status and its reason in the metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from smppcore.config.model import AccountConfig, PolicyConfig
from smppcore.store.base import MtState

from .mt_harness import (
    FIXED_LINE,
    PASSWORD,
    Clock,
    accepted,
    account,
    make_config,
    message_id_of,
    rejected,
    running_gateway,
    smpplib_client,
    submit,
)

DEST = "27600000900"
ESME_ROK = 0x00
RINVSRCADR = 0x0A

# (source_addr, ton, npi, expected status, reason or None when accepted, stored e164)
CASES = [
    ("ABCSHOES", 5, 0, RINVSRCADR, "alphanumeric", None),
    ("ABCSHOES", 1, 1, RINVSRCADR, "alphanumeric", None),
    ("+27600000001", 1, 1, ESME_ROK, None, "27600000001"),
    ("27600000001", 1, 1, ESME_ROK, None, "27600000001"),
    ("27600000150", 1, 1, RINVSRCADR, "not_owned", None),  # owned by "other"
    ("2760000", 1, 1, RINVSRCADR, "invalid_number", None),  # too short
    (FIXED_LINE, 1, 1, RINVSRCADR, "not_reply_capable", None),  # fixed line only
    ("0600000002", 2, 1, ESME_ROK, None, "27600000002"),  # national, default country ZA
    ("2760000A001", 1, 1, RINVSRCADR, "alphanumeric", None),  # letters mixed with digits
]


@pytest.mark.parametrize(("source", "ton", "npi", "status", "reason", "e164"), CASES)
async def test_source_address_table(
    tmp_path: Path,
    source: str,
    ton: int,
    npi: int,
    status: int,
    reason: str | None,
    e164: str | None,
) -> None:
    with trio.fail_after(20):
        async with running_gateway(tmp_path) as (gateway, port):

            def run() -> tuple[int, str]:
                client = smpplib_client(port)
                try:
                    client.bind_transmitter(system_id="acme", password=PASSWORD)
                    resp = submit(client, source, DEST, source_addr_ton=ton, source_addr_npi=npi)
                    return int(resp.status), message_id_of(resp)
                finally:
                    client.disconnect()

            got_status, message_id = await trio.to_thread.run_sync(run)
            assert got_status == status
            queued = await gateway.store.lease_mt("sim", 10, 30.0, gateway.clock())
            if reason is None:
                assert accepted(gateway, "acme") == 1
                assert len(queued) == 1
                message = queued[0]
                assert message.id == message_id
                assert message.source_addr == e164
                assert message.destination_addr == DEST
                assert message.payload == b"hello"
                conversation = await gateway.store.get_conversation(e164 or "", DEST)
                assert conversation is not None and conversation.account == "acme"
            else:
                assert rejected(gateway, "acme", reason) == 1
                assert accepted(gateway, "acme") == 0
                assert queued == []


async def test_long_message_in_message_payload_is_one_record(tmp_path: Path) -> None:
    text = ("x" * 400).encode()
    with trio.fail_after(20):
        async with running_gateway(tmp_path) as (gateway, port):

            def run() -> list[int]:
                client = smpplib_client(port)
                try:
                    client.bind_transceiver(system_id="acme", password=PASSWORD)
                    out = [
                        int(
                            submit(
                                client, "27600000001", DEST, short_message=b"", message_payload=text
                            ).status
                        )
                    ]
                    # the same text as two UDH parts: each part is a message of its own
                    for part in (1, 2):
                        udh = bytes([5, 0, 3, 0x42, 2, part])
                        resp = submit(
                            client,
                            "27600000001",
                            DEST,
                            esm_class=0x40,
                            short_message=udh + text[:150],
                        )
                        out.append(int(resp.status))
                    return out
                finally:
                    client.disconnect()

            assert await trio.to_thread.run_sync(run) == [0, 0, 0]
            queued = await gateway.store.lease_mt("sim", 10, 30.0, gateway.clock())
            assert sorted(len(m.payload) for m in queued) == [156, 156, 400]
            assert {m.state for m in queued} == {MtState.LEASED}
            assert accepted(gateway, "acme") == 3


async def test_suppressed_pair_gets_the_configured_status(tmp_path: Path) -> None:
    config = make_config(policy=PolicyConfig(suppressed_status=0x401))
    with trio.fail_after(20):
        async with running_gateway(tmp_path, config) as (gateway, port):
            await gateway.store.add_suppression("27600000001", DEST, "STOP", gateway.clock())

            def run() -> list[int]:
                client = smpplib_client(port)
                try:
                    client.bind_transmitter(system_id="acme", password=PASSWORD)
                    return [
                        int(submit(client, "27600000001", DEST).status),
                        int(submit(client, "27600000002", DEST).status),  # other sender: fine
                    ]
                finally:
                    client.disconnect()

            assert await trio.to_thread.run_sync(run) == [0x401, 0]
            assert rejected(gateway, "acme", "suppressed") == 1


async def test_no_route_is_a_rejection_not_a_drop(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running_gateway(tmp_path) as (gateway, port):

            def run() -> int:
                client = smpplib_client(port)
                try:
                    client.bind_transmitter(system_id="acme", password=PASSWORD)
                    return int(submit(client, "27600000001", "447400123456").status)
                finally:
                    client.disconnect()

            assert await trio.to_thread.run_sync(run) == 0x0B  # ESME_RINVDSTADR
            assert rejected(gateway, "acme", "no_route") == 1


async def test_throughput_burst_gets_throttled_not_dropped(tmp_path: Path) -> None:
    clock = Clock()
    config = make_config(account("slow", "27600000300-27600000309", throughput=1.0, burst=3))
    with trio.fail_after(20):
        async with running_gateway(tmp_path, config, clock=clock) as (gateway, port):

            def burst(n: int) -> list[int]:
                return [int(submit(client, "27600000300", DEST).status) for _ in range(n)]

            client = smpplib_client(port)
            try:
                await trio.to_thread.run_sync(
                    lambda: client.bind_transmitter(system_id="slow", password=PASSWORD)
                )
                first = await trio.to_thread.run_sync(burst, 5)
                clock.now += 2.0  # two more tokens
                second = await trio.to_thread.run_sync(burst, 3)
            finally:
                client.disconnect()
            assert first == [0, 0, 0, 0x58, 0x58]
            assert second == [0, 0, 0x58]
            assert rejected(gateway, "slow", "throttled") == 3
            assert accepted(gateway, "slow") == 5


async def test_queue_cap_answers_msgqful(tmp_path: Path) -> None:
    config = make_config(account("capped", "27600000400", max_queued=2))
    with trio.fail_after(20):
        async with running_gateway(tmp_path, config) as (gateway, port):

            def run() -> list[int]:
                client = smpplib_client(port)
                try:
                    client.bind_transmitter(system_id="capped", password=PASSWORD)
                    return [int(submit(client, "27600000400", DEST).status) for _ in range(3)]
                finally:
                    client.disconnect()

            assert await trio.to_thread.run_sync(run) == [0, 0, 0x14]
            assert rejected(gateway, "capped", "queue_full") == 1


def test_account_helper_builds_configs() -> None:
    assert isinstance(account("x", "27600000001"), AccountConfig)
