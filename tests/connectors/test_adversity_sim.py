"""The connector against our simulator's faults: error mixes, an error on one part, a
rate-limiting SMSC, a freeze. Real TCP; what is asserted is what the operator saw."""

from __future__ import annotations

from pathlib import Path

import trio

from connectors.simulator import Faults
from smppcore.metrics import Metrics
from smppcore.protocol.gsm7 import encode_gsm7
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
    wait_for,
    wait_settled,
)


async def test_transient_errors_fail_a_message_only_after_its_own_attempts(
    tmp_path: Path,
) -> None:
    """30 % ESME_RSYSERR, four messages per handset, max_attempts 3: a message is given up
    only after three submits of its own failed, and the operator saw every one of them."""
    sink = RecordingSink()
    n = 40
    with trio.fail_after(60):
        async with open_store(tmp_path) as store:
            t0 = now()
            msgs = [message(i, f"4477010{i % 10:05d}", f"t {i}", t0=t0) for i in range(n)]
            await store.enqueue_mt(msgs)
            faults = Faults(error_statuses={0x08: 0.3})
            async with running_simulator(faults=faults, seed=4) as sim:
                config = connector_config([sim.port], binds=2, options={"max_attempts": 3})
                async with running_connector(config, store, sink):
                    settled = await wait_settled(store, [m.id for m in msgs])
                stats = sim.stats()
                seen = {d: [r.text for r in sim.messages(d)] for d in sim.destinations()}
    accepted = {text for texts in seen.values() for text in texts}
    undeliverable = {mid for mid, m in settled.items() if m.state is MtState.UNDELIVERABLE}
    for mid, m in settled.items():
        text = f"t {int(mid[4:])}"
        if m.state is MtState.ENROUTE:
            assert text in accepted
            assert m.attempts <= 2
        else:
            assert mid in undeliverable and m.attempts == 2  # the third failure made it final
            assert text not in accepted
    assert stats.answered(0x08) >= 3 * len(undeliverable)
    assert stats.accepted_duplicates == 0


async def test_a_failing_part_is_retried_alone(tmp_path: Path) -> None:
    sink = RecordingSink()
    text = "".join(f"{i % 10}" for i in range(400))  # 3 parts
    with trio.fail_after(30):
        async with open_store(tmp_path) as store:
            longs = [
                message(i, f"4477011{i:05d}", "", t0=now(), payload=encode_gsm7(text))
                for i in range(5)
            ]
            await store.enqueue_mt(longs)
            faults = Faults(part_error={"part": 2, "status": 8, "times": 4})
            async with running_simulator(faults=faults) as sim:
                async with running_connector(connector_config([sim.port]), store, sink):
                    settled = await wait_settled(store, [m.id for m in longs])
                stats = sim.stats()
                parts = [len(sim.messages(m.destination_addr)) for m in longs]
    assert all(m.state is MtState.ENROUTE for m in settled.values())
    assert stats.answered(8) == 4
    assert stats.accepted_duplicates == 0
    assert parts == [3] * 5


async def test_a_rate_limiting_smsc_brings_the_send_rate_down(tmp_path: Path) -> None:
    sink = RecordingSink()
    n = 400
    with trio.fail_after(60):
        async with open_store(tmp_path) as store:
            t0 = now()
            msgs = [message(i, f"4477012{i % 50:05d}", f"r {i}", t0=t0) for i in range(n)]
            await store.enqueue_mt(msgs)
            async with running_simulator(faults=Faults(rate_limit=100)) as sim:
                config = connector_config([sim.port], binds=2, throughput=1000.0, burst=20)
                metrics = Metrics()
                async with running_connector(config, store, sink, metrics) as connector:
                    settled = await wait_settled(store, [m.id for m in msgs])
                    rate, cuts = connector.throttle.rate, connector.throttle.cuts
                    state = connector.health().state
                stats = sim.stats()
    assert all(m.state is MtState.ENROUTE for m in settled.values())
    assert stats.answered(0x58) > 0 and cuts >= 1
    assert rate < 1000.0 and state == "throttled"
    sample = metrics.registry.get_sample_value
    assert sample("smppcore_connector_rate_cuts_total", {"connector": NAME}) == cuts
    assert stats.accepted_duplicates == 0


async def test_a_frozen_simulator_is_shown_down_and_no_message_is_accepted_thrice(
    tmp_path: Path,
) -> None:
    sink = RecordingSink()
    n = 60
    with trio.fail_after(60):
        async with open_store(tmp_path) as store:
            t0 = now()
            msgs = [message(i, f"4477013{i:05d}", f"f {i}", t0=t0) for i in range(n)]
            async with running_simulator() as sim:
                config = connector_config(
                    [sim.port], binds=2, window=5, response_timeout=0.5,
                    enquire_link_interval=10.0, throughput=100.0, burst=5,
                )  # fmt: skip
                async with running_connector(config, store, sink) as connector:
                    await store.enqueue_mt(msgs)
                    connector.wake()
                    await wait_for(lambda: sim.stats().answered(0) >= 10)
                    sim.set_faults(freeze=True)
                    await wait_for(lambda: connector.health().state == "down")
                    await trio.sleep(1.0)
                    sim.set_faults(freeze=False)
                    settled = await wait_settled(store, [m.id for m in msgs])
                stats = sim.stats()
                copies = [len(sim.messages(m.destination_addr)) for m in msgs]
    assert all(m.state is MtState.ENROUTE for m in settled.values())
    assert stats.submits_frozen > 0
    # One number per message: a second copy is one whose answer the freeze swallowed
    # after the SMSC had accepted it; never a third.
    assert min(copies) == 1 and max(copies) <= 2
    assert stats.accepted_duplicates == sum(copies) - len(msgs)
    assert sink.finals == []


async def test_an_accepted_submit_whose_answer_is_lost_is_sent_once_more_only(
    tmp_path: Path,
) -> None:
    """10 % of accepted submits never get their answer: each such message is resent once
    (a duplicate the operator sees; the design's bound), never more, and nothing is lost."""
    sink = RecordingSink()
    n = 80
    with trio.fail_after(60):
        async with open_store(tmp_path) as store:
            t0 = now()
            msgs = [message(i, f"4477015{i:05d}", f"l {i}", t0=t0) for i in range(n)]
            await store.enqueue_mt(msgs)
            faults = Faults(lose_answer_share=0.1)
            async with running_simulator(faults=faults, seed=9) as sim:
                config = connector_config([sim.port], binds=2, response_timeout=0.3)
                async with running_connector(config, store, sink):
                    settled = await wait_settled(store, [m.id for m in msgs])
                stats = sim.stats()
                copies = [len(sim.messages(m.destination_addr)) for m in msgs]
    assert all(m.state is MtState.ENROUTE for m in settled.values())
    assert stats.answers_lost > 0
    assert min(copies) == 1 and max(copies) <= 3  # a resend's answer may be lost too
    assert stats.accepted_duplicates == sum(copies) - n <= stats.answers_lost
    assert sink.finals == []
