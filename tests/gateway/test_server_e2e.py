"""End to end without fakes on the operator side: smpplib client → gateway server → store →
the real operator connector → the SMSC simulator."""

from __future__ import annotations

import time
from pathlib import Path

import attrs
import trio

from smppcore.config.model import RouteConfig
from smppcore.config.values import RouteTarget
from smppcore.store.base import MtState
from tests.connectors.helpers import (
    NAME,
    RecordingSink,
    connector_config,
    running_connector,
    running_simulator,
    wait_settled,
)

from .mt_harness import (
    PASSWORD,
    accepted,
    make_config,
    message_id_of,
    running_gateway,
    smpplib_client,
    submit,
)


async def test_message_reaches_the_simulator(tmp_path: Path) -> None:
    config = attrs.evolve(
        make_config(), routes=(RouteConfig(connectors=(RouteTarget(NAME),), prefix="27"),)
    )
    with trio.fail_after(30):
        async with (
            running_simulator() as sim,
            running_gateway(tmp_path, config, clock=time.time) as (gateway, port),
            running_connector(
                connector_config([sim.port]), gateway.store, RecordingSink()
            ) as connector,
        ):
            gateway.connectors[NAME] = connector

            def run() -> tuple[int, str]:
                client = smpplib_client(port)
                try:
                    client.bind_transmitter(system_id="acme", password=PASSWORD)
                    resp = submit(client, "27600000001", "27600000900")
                    return int(resp.status), message_id_of(resp)
                finally:
                    client.disconnect()

            status, message_id = await trio.to_thread.run_sync(run)
            assert status == 0
            settled = await wait_settled(gateway.store, [message_id])
            assert settled[message_id].state in (MtState.ENROUTE, MtState.DELIVERED)
            assert len(sim.arrivals) == 1
            assert accepted(gateway, "acme") == 1
