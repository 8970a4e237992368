"""The rate_limit fault: a token bucket over all sessions, submits above it throttled."""

from __future__ import annotations

import random

import trio
from hypothesis import given
from hypothesis import strategies as st

from connectors.simulator import Faults
from connectors.simulator.answers import SubmitJudge, rate_limit_burst
from smppcore.net.client import open_bind_client
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.pdu import BindTransmitter, SubmitSm

from .helpers import HANDSET, PASSWORD, SYSTEM_ID, running_simulator

_THROTTLED = CommandStatus.ESME_RTHROTTLED


def test_bucket_with_time_as_input() -> None:
    judge = SubmitJudge(random.Random(0))
    faults = Faults(rate_limit=20)  # burst 2
    t = 100.0
    assert [judge.judge(faults, None, t) for _ in range(4)] == [0, 0, _THROTTLED, _THROTTLED]
    assert judge.judge(faults, None, t + 0.06) == 0  # over 1/20 s: one token
    assert judge.judge(faults, None, t + 0.06) == _THROTTLED
    slower = Faults(rate_limit=5)  # a new limit starts with a full bucket (of 1)
    assert [judge.judge(slower, None, t + 0.06) for _ in range(2)] == [0, _THROTTLED]
    assert {judge.judge(Faults(), None, t) for _ in range(10)} == {0}  # 0: off
    assert rate_limit_burst(0.5) == 1.0 and rate_limit_burst(300) == 30.0


@given(
    rate=st.floats(min_value=0.5, max_value=2000),
    gaps=st.lists(st.floats(min_value=0, max_value=0.05), min_size=1, max_size=200),
)
def test_accepted_within_burst_plus_rate_times_elapsed(rate: float, gaps: list[float]) -> None:
    judge = SubmitJudge(random.Random(0))
    faults = Faults(rate_limit=rate)
    times: list[float] = []
    now = 0.0
    for gap in gaps:
        now += gap
        if judge.judge(faults, None, now) == 0:
            times.append(now)
    burst = rate_limit_burst(rate)
    for i in range(len(times)):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + rate * (times[j] - times[i]) + 1e-6


async def test_rate_limit_over_all_sessions() -> None:
    rate, binds, per_bind = 50.0, 3, 60
    bind = BindTransmitter(system_id=SYSTEM_ID, password=PASSWORD)
    statuses: list[int] = []

    async def blast(port: int, client_index: int) -> None:
        async with (
            open_bind_client("127.0.0.1", port, bind) as client,
            trio.open_nursery() as nursery,
        ):
            for i in range(per_bind):  # as fast as the window (10) lets them go

                async def one(i: int = i) -> None:
                    text = b"r%d-%d" % (client_index, i)
                    pdu = SubmitSm(destination_addr=HANDSET, short_message=text)
                    statuses.append((await client.request(pdu)).command_status)

                nursery.start_soon(one)

    with trio.fail_after(30):
        async with running_simulator(faults=Faults(rate_limit=rate)) as sim:
            async with trio.open_nursery() as nursery:
                for b in range(binds):
                    nursery.start_soon(blast, sim.port, b)
            assert len(statuses) == binds * per_bind
            throttled = statuses.count(_THROTTLED)
            assert throttled > 0 and statuses.count(0) > 0
            assert set(statuses) == {0, _THROTTLED}
            stats = sim.stats()
            assert stats.answered(_THROTTLED) == throttled
            # On the simulator's own clock: never more than burst + rate x elapsed accepted.
            times = [m.received_at for m in sim.messages(HANDSET)]
            assert len(times) == statuses.count(0)
            burst = rate_limit_burst(rate)
            for i in range(len(times)):
                for j in range(i, len(times)):
                    assert j - i + 1 <= burst + rate * (times[j] - times[i]) + 1e-6, (i, j)
            sim.set_faults(rate_limit=0)
            async with open_bind_client("127.0.0.1", sim.port, bind) as client:
                after = [
                    await client.request(SubmitSm(destination_addr="1", short_message=b"%d" % i))
                    for i in range(20)
                ]
            assert {r.command_status for r in after} == {0}
