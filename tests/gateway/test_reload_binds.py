"""A SIGHUP reload (``Gateway.reload``) reaches sessions that were bound before it."""

from __future__ import annotations

from pathlib import Path

import attrs
import trio

from smppcore.protocol.pdu import SubmitSm

from .mt_harness import account, esme, make_config, running_gateway


def _submit(source: str) -> SubmitSm:
    return SubmitSm(
        source_addr_ton=1, source_addr_npi=1, source_addr=source,
        dest_addr_ton=1, dest_addr_npi=1, destination_addr="27600000900",
        short_message=b"hello",
    )  # fmt: skip


async def test_bound_session_follows_the_reloaded_account(tmp_path: Path) -> None:
    config = make_config()
    with trio.fail_after(20):
        async with running_gateway(tmp_path, config) as (gateway, port), esme(port) as conn:
            assert (await conn.request(_submit("27600000001"))).command_status == 0
            # acme gives up its range for one other number
            accounts = tuple(
                account("acme", "27600000500") if a.system_id == "acme" else a
                for a in config.accounts
            )
            gateway.reload(attrs.evolve(config, accounts=accounts))
            assert (await conn.request(_submit("27600000001"))).command_status == 0x0A
            assert (await conn.request(_submit("27600000500"))).command_status == 0
            # acme is removed: its session may no longer submit
            rest = tuple(a for a in config.accounts if a.system_id != "acme")
            gateway.reload(attrs.evolve(config, accounts=rest))
            assert (await conn.request(_submit("27600000500"))).command_status == 0x04
