"""The operator connector under SMSC trouble: restarts, throttling, refused hosts, slow and
lost responses, long messages. Everything runs against the SMSC simulator over loopback TCP."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import trio

from connectors.simulator import Faults
from smppcore.metrics import Metrics
from smppcore.protocol.receipt import normalise_message_id
from smppcore.protocol.text import TextEncoding, encode_text
from smppcore.store.base import MtState

from .helpers import (
    NAME,
    RecordingSink,
    TimedSimulator,
    connector_config,
    message,
    now,
    open_store,
    refused_port,
    running_connector,
    running_simulator,
    wait_for,
    wait_settled,
)


def _texts(sims: list[TimedSimulator]) -> Counter[str]:
    seen: Counter[str] = Counter()
    for sim in sims:
        for dest in sim.destinations():
            seen.update(rec.text for rec in sim.messages(dest))
    return seen


async def test_smsc_restart_mid_traffic(tmp_path: Path) -> None:
    """Binds come back after the SMSC restarts; every message reaches an SMSC, and every
    duplicate is accounted for by a resend of a submit whose response was lost."""
    sink = RecordingSink()
    n = 300
    port = refused_port()
    config = connector_config([port], binds=2, throughput=600.0, burst=20)
    with trio.fail_after(30):
        async with open_store(tmp_path) as store:
            t0 = now()
            msgs = [message(i, f"44770{i % 7:06d}", f"restart {i}", t0=t0) for i in range(n)]
            await store.enqueue_mt(msgs)
            async with running_connector(config, store, sink) as connector:
                async with running_simulator(port) as first:
                    await first.wait_for_submits(80)
                binds_before = sum(slot.binds for slot in connector.pool.slots)
                async with running_simulator(port) as second:
                    settled = await wait_settled(store, [m.id for m in msgs])
                    assert sum(slot.binds for slot in connector.pool.slots) > binds_before
                    assert connector.health().binds_up == 2
                stats = connector.stats
    assert sink.finals == []
    assert all(m.state is MtState.ENROUTE for m in settled.values())
    seen = _texts([first, second])
    assert set(seen) == {f"restart {i}" for i in range(n)}
    duplicates = sum(seen.values()) - n
    assert duplicates <= stats.resends + stats.nacked
    assert 0 < first.stats().submits_received < n  # the restart really was mid-traffic
    assert sink.finals == []


async def test_throttled_keeps_order_and_rate(tmp_path: Path) -> None:
    """30 % ESME_RTHROTTLED: everything arrives, in queue order per destination, and the SMSC
    never sees more than burst + rate x elapsed submits (throttled ones included)."""
    sink = RecordingSink()
    n, rate, burst = 150, 300.0, 10
    dests = [f"4477001{d:05d}" for d in range(5)]
    with trio.fail_after(30):
        async with open_store(tmp_path) as store:
            t0 = now()
            msgs = [message(i, dests[i % 5], f"thr {i}", t0=t0) for i in range(n)]
            await store.enqueue_mt(msgs)
            async with running_simulator(faults=Faults(throttle_share=0.3), seed=3) as sim:
                config = connector_config([sim.port], binds=2, throughput=rate, burst=burst)
                metrics = Metrics()
                async with running_connector(config, store, sink, metrics) as connector:
                    settled = await wait_settled(store, [m.id for m in msgs])
                    cuts = connector.throttle.cuts
                arrivals = list(sim.arrivals)
                throttled = sim.stats().submits.get("ESME_RTHROTTLED", 0)
    assert all(m.state is MtState.ENROUTE for m in settled.values())
    assert throttled > 10
    # The operator's answers are visible per connector: every throttled response, and each
    # cut of the send rate once however many in-flight submits reported throttling.
    sample = metrics.registry.get_sample_value
    labels = {"connector": NAME, "status": "ESME_RTHROTTLED"}
    assert sample("smppcore_connector_submits_total", labels) == throttled
    assert sample("smppcore_connector_rate_cuts_total", {"connector": NAME}) == cuts
    ok = {"connector": NAME, "status": "ESME_ROK"}
    assert sample("smppcore_connector_submits_total", ok) == n
    # Every PDU on the operator side, each way: the submits sent and their answers.
    pdus = {"side": "operator", "command": "submit_sm", "status": "ESME_ROK"}
    assert sample("smppcore_pdus_total", {**pdus, "direction": "out"}) == n + throttled
    answers = {**pdus, "direction": "in", "command": "submit_sm_resp"}
    assert sample("smppcore_pdus_total", answers) == n
    assert sample("smppcore_pdus_total", {**answers, "status": "ESME_RTHROTTLED"}) == throttled
    assert sample("smppcore_pdus_total", {**pdus, "side": "client", "direction": "out"}) is None
    for d, dest in enumerate(dests):
        got = [rec.text for rec in sim.messages(dest)]
        assert got == [f"thr {i}" for i in range(d, n, 5)]
    # Correctness bound on the SMSC's own receive times: allow the burst and two submits of
    # loopback jitter between our clock and the simulator's.
    for i in range(len(arrivals)):
        for j in range(i, len(arrivals)):
            count = j - i + 1
            assert count <= burst + rate * (arrivals[j] - arrivals[i]) + 2, (i, j)


async def test_failover_to_second_host(tmp_path: Path) -> None:
    sink = RecordingSink()
    with trio.fail_after(20):
        async with open_store(tmp_path) as store, running_simulator() as sim:
            t0 = now()
            msgs = [message(i, "447700900123", f"fo {i}", t0=t0) for i in range(20)]
            await store.enqueue_mt(msgs)
            config = connector_config([refused_port(), sim.port], binds=2)
            async with running_connector(config, store, sink) as connector:
                settled = await wait_settled(store, [m.id for m in msgs])
                assert {slot.host_index for slot in connector.pool.slots} == {1}
    assert all(m.state is MtState.ENROUTE for m in settled.values())
    assert [r.text for r in sim.messages("447700900123")] == [f"fo {i}" for i in range(20)]


async def test_window_is_never_exceeded(tmp_path: Path) -> None:
    sink = RecordingSink()
    window = 3
    with trio.fail_after(20):
        async with (
            open_store(tmp_path) as store,
            running_simulator(faults=Faults(response_delay=0.03)) as sim,
        ):
            t0 = now()
            msgs = [message(i, f"4477002{i:05d}", f"w {i}", t0=t0) for i in range(80)]
            await store.enqueue_mt(msgs)
            config = connector_config([sim.port], binds=2, window=window)
            async with running_connector(config, store, sink):
                await wait_settled(store, [m.id for m in msgs])
            stats = sim.stats()
    assert stats.submits.get("ESME_ROK") == 80
    by_session = stats.max_outstanding_by_session
    assert max(by_session.values()) == window  # the window was used, and never exceeded
    assert len(by_session) == 2


async def test_dropped_response_is_resent_and_maps(tmp_path: Path) -> None:
    sink = RecordingSink()
    with trio.fail_after(30):
        async with open_store(tmp_path) as store:
            async with running_simulator(faults=Faults(drop_share=0.25), seed=11) as sim:
                t0 = now()
                msgs = [message(i, f"4477003{i % 3:05d}", f"d {i}", t0=t0) for i in range(30)]
                await store.enqueue_mt(msgs)
                config = connector_config([sim.port], binds=1, response_timeout=0.2)
                async with running_connector(config, store, sink) as connector:
                    settled = await wait_settled(store, [m.id for m in msgs])
                    resends = connector.stats.resends
                dropped = sim.stats().submits_dropped
            assert dropped > 0 and resends >= dropped
            assert all(m.state is MtState.ENROUTE for m in settled.values())
            for d in range(3):
                dest = f"4477003{d:05d}"
                recs = sim.messages(dest)
                assert [r.text for r in recs] == [f"d {i}" for i in range(d, 30, 3)]
                for rec in recs:
                    entry = await store.get_id_map(NAME, normalise_message_id(rec.message_id))
                    assert entry is not None
                    assert entry.message_id == f"msg-{int(rec.text[2:]):05d}"


async def test_long_messages_are_concatenated_segments(tmp_path: Path) -> None:
    sink = RecordingSink()
    gsm_text = "".join(f"{i:03d} part of a long message. " for i in range(16))  # 400 chars
    ucs_text = "Grüße € ✓ " * 10  # 100 UCS2 units: 2 parts of 67
    with trio.fail_after(20):
        async with open_store(tmp_path) as store, running_simulator() as sim:
            t0 = now()
            gsm = message(1, "447700904001", gsm_text, t0=t0)
            ucs = message(
                2, "447700904002", "", t0=t0, data_coding=8,
                payload=encode_text(ucs_text, TextEncoding.UCS2),
            )  # fmt: skip
            await store.enqueue_mt([gsm, ucs])
            async with running_connector(connector_config([sim.port]), store, sink):
                await wait_settled(store, [gsm.id, ucs.id])
            for msg, text, parts in ((gsm, gsm_text, 3), (ucs, ucs_text, 2)):
                recs = sim.messages(msg.destination_addr)
                assert len(recs) == parts
                assert all(r.esm_class & 0x40 for r in recs)
                concat = [r.concat for r in recs]
                assert all(c is not None for c in concat)
                assert len({c.reference for c in concat if c}) == 1
                assert [(c.seq, c.total) for c in concat if c] == [
                    (k, parts) for k in range(1, parts + 1)
                ]
                assert "".join(r.text for r in recs) == text
                for k, rec in enumerate(recs, start=1):
                    entry = await store.get_id_map(NAME, normalise_message_id(rec.message_id))
                    assert entry is not None and entry.message_id == msg.id
                    assert (entry.segment, entry.total_segments) == (k, parts)


class _SlowNackStore:
    """The real store, whose ``nack_mt`` waits until the test opens ``gate``."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.gate = trio.Event()
        self.nacks_waiting = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def nack_mt(
        self, message_id: str, retry_at: float, error_code: int, *, attempted: bool = True
    ) -> None:
        self.nacks_waiting += 1
        await self.gate.wait()
        await self._store.nack_mt(message_id, retry_at, error_code, attempted=attempted)


async def test_destination_unblocked_while_its_nack_is_slow_keeps_the_connector_up(
    tmp_path: Path,
) -> None:
    """A transient failure blocks the destination until ``retry_at``; when that time passes
    while the nack is still being written, a newly leased message for the destination lines
    up behind the failed one. It is given back too, and the connector carries on."""
    sink = RecordingSink()
    dest = "447700905001"
    with trio.fail_after(30):
        async with open_store(tmp_path) as real, running_simulator() as sim:
            store = _SlowNackStore(real)
            sim.set_faults(drop_share=1.0)
            config = connector_config(
                [sim.port], binds=1, response_timeout=0.1, options={"resend_limit": 0}
            )
            t0 = now()
            first = message(1, dest, "first", t0=t0)
            await real.enqueue_mt([first])
            async with running_connector(config, store, sink) as connector:  # type: ignore[arg-type]
                worker = connector.worker
                await wait_for(lambda: store.nacks_waiting == 1)
                blocked_until = worker._blocked[dest]
                await wait_for(lambda: now() > blocked_until)
                second = message(2, dest, "second", t0=t0)
                await real.enqueue_mt([second])
                connector.wake()
                await wait_for(lambda: len(worker._active.get(dest, ())) == 1)
                sim.set_faults(drop_share=0.0)
                store.gate.set()
                settled = await wait_settled(real, [first.id, second.id])
    assert all(m.state is MtState.ENROUTE for m in settled.values())
    assert [r.text for r in sim.messages(dest)] == ["first", "second"]
