"""The operator connector against the SMSC simulator over loopback TCP."""

from __future__ import annotations

from pathlib import Path

import trio

from smppcore.protocol.receipt import normalise_message_id
from smppcore.store.base import MtState

from .helpers import (
    NAME,
    RecordingSink,
    connector_config,
    message,
    now,
    open_store,
    running_connector,
    running_simulator,
    wait_settled,
)


async def test_messages_flow_and_ids_map(tmp_path: Path) -> None:
    sink = RecordingSink()
    with trio.fail_after(20):
        async with open_store(tmp_path) as store, running_simulator() as sim:
            t0 = now()
            msgs = [message(i, f"4477009{i % 5:05d}", f"hello {i}", t0=t0) for i in range(40)]
            await store.enqueue_mt(msgs)
            config = connector_config([sim.port], binds=2)
            async with running_connector(config, store, sink) as connector:
                connector.wake()
                settled = await wait_settled(store, [m.id for m in msgs])
                assert connector.is_up()
                health = connector.health()
                assert health.binds_up == 2 and health.state == "up"
            assert all(m.state is MtState.ENROUTE for m in settled.values())
            by_text = {}
            for dest in sim.destinations():
                for rec in sim.messages(dest):
                    by_text[rec.text] = rec
            assert len(by_text) == 40
            for m in msgs:
                rec = by_text[f"hello {int(m.id[4:])}"]
                entry = await store.get_id_map(NAME, normalise_message_id(rec.message_id))
                assert entry is not None and entry.message_id == m.id
            assert sink.finals == []
