"""Fault bench: the operator connector under SMSC adversity, one row per scenario.

Everything runs in this one process, on one trio loop: the SMSC simulator (in-process,
``connectors.simulator.Simulator`` on a loopback port, so its fault switches are flipped
with ``set_faults`` at exact moments and its records are read directly), the operator
connector (``create_connector``, 2 binds, window 10, contract ``throughput`` 500 submits/s,
burst 50) and a SQLite store in a temporary directory.  The sink's ``mt_final`` makes the
message final in the store, as the gateway's does.  Each scenario gets a fresh simulator,
store and connector.  Because simulator and connector share the CPU (2 cores, other work
running), absolute rates are a floor, not the connector's speed (``bench/connector.py``).

Per scenario: wait until both binds are up, set the scenario's first faults, then offer
messages at a steady rate (a batch every 50 ms, ``enqueue_mt`` + ``wake``, sized to keep the
running total at rate × elapsed) for a fixed time, flipping faults at their moments; then
wait (bounded) until the store holds no message of the connector QUEUED or LEASED.  Faults
that are not switched off in the timeline stay on while the backlog drains.  Messages go to
2,000 handsets round-robin; a one-part message's text starts with its id, each part of a
3-part message (3 × 153 GSM septets, 8-bit UDH) starts with ``<id>/<part>``, so every
accepted segment the simulator recorded is traced back to its message and part.

Columns (table and JSON):

* ``offered``: messages enqueued; ``offered/s``: that ÷ the offer phase (from the first batch to one
  batch interval after the last);
* ``delivered``: messages every part of which the SMSC accepted (ESME_ROK) at least once,
  from the simulator's records; ``delivered/s``: those whose last part was first accepted
  within the offer phase ÷ its length (the delivered rate *while offered*);
* ``dup``: the simulator's ``accepted_duplicates``: extra accepted copies of a part (or of a
  one-part message) already accepted.  The JSON also has ``duplicated_counted`` (the same,
  counted here from the records) and ``max_copies`` (most accepted copies of any one part);
* ``failed``: messages the store holds final as REJECTED, UNDELIVERABLE or EXPIRED at the
  end (made final through the sink: the client hears of them; nothing silent);
* ``lost``: offered messages neither delivered nor failed (= offered − delivered − failed,
  plus ``delivered_and_failed``, the messages that were both, reported separately; still
  QUEUED/LEASED after the bounded wait counts here too, see ``unsettled``).  Must be 0.
  ``acked_not_delivered`` (ENROUTE in the store, not accepted at the SMSC) would be a loss;
* ``recovery s``: where a fault ends mid-run: seconds from the fault's end until every
  message offered before that end is settled (acked ENROUTE or made final: the last
  ``sink.submitted`` / ``sink.mt_final`` for it); "-" when the fault lasts the whole run;
* ``drain s``: seconds from the end of offering until nothing is QUEUED/LEASED;
* ``SMSC side / notes``: the throttling rows' comparison figure, see below, and notes.

Scenarios (``--quick`` shortens every phase, about 30 s in all):

1. ``baseline``: no fault, 300 msg/s offered for 10 s;
2. ``transient``: ``error_statuses {0x08: 0.3}`` (ESME_RSYSERR, transient by default):
   nacked and retried (``retry_initial`` 0.2 s, ``retry_max`` 1 s);
3. ``permanent``: ``{0x45: 0.10, 0x401: 0.05}``, neither in ``transient_statuses``: final
   REJECTED (failed), not lost;
4. ``part2``: 3-part messages, 100 msg/s (300 submits/s), ``part_error`` part 2 status 0x08
   times 20: the retry resumes after the accepted part 1, so ``dup`` must be 0;
5. ``throttle50``: ``throttle_share 0.5`` at 300 msg/s offered: the SMSC accepts at most
   half of what the connector sends, and the connector may send its contract rate, so the
   **SMSC acceptance capacity is 0.5 × 500 = 250/s**; compared: ``delivered/s`` (while
   offered) ÷ 250, goal ≥ 0.8; the JSON has what the SMSC received and accepted per second;
6. ``ratelimit150``: ``rate_limit 150`` at 300 msg/s offered: the SMSC's accepted rate over
   the second half of the offer phase should settle within 10 % under 150 (135..150), with
   the throttled share of the answers in that half;
7. ``freeze``: 300 msg/s for 15 s, the SMSC frozen from 5 s to 10 s; ``response_timeout``
   1 s, ``enquire_link_interval`` 2 s: ``dup`` and ``max_copies`` (goal ≤ 2), the seconds
   until ``connector.health().state == "down"`` after the freeze began (polled every 20 ms),
   until a bind was back after the thaw, and recovery after the thaw;
8. ``drops``: ``disconnect_after 500`` (150 with ``--quick``) and ``drop_share 0.02`` for
   the first 8 of 12 s (``response_timeout`` 1 s): ``dup``, ``lost``, recovery after they
   stop. (A dropped submit was never accepted, so this row cannot show duplicates.)
9. ``lostanswers``: ``lose_answer_share 0.02`` for the first 8 of 12 s: submits the SMSC
   accepted but never answered. Each is resent once: ``dup`` should be at most the answers
   lost (a message reaches 3 copies only if its resend's answer was lost too).

    python bench/faults.py                       # markdown table, about 2.5 minutes
    python bench/faults.py --json                # exactly one JSON object on stdout
    python bench/faults.py --quick               # every scenario, shortened (~30 s)
    python bench/faults.py --scenario freeze     # one scenario (repeatable)
    python bench/faults.py --render run.json     # the table of a saved --json run
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import structlog
import trio

from connectors.simulator import Simulator, SimulatorStats
from connectors.smpp_operator import SmppOperatorConnector, create_connector
from smppcore.config.model import ConnectorConfig, SimulatorConfig
from smppcore.config.values import HostPort
from smppcore.connector_api import ConnectorContext
from smppcore.metrics import Metrics
from smppcore.protocol.enums import CommandStatus, status_name
from smppcore.protocol.gsm7 import encode_gsm7
from smppcore.store.base import IdMapEntry, MtFinal, MtMessage, MtState, Store
from smppcore.store.sqlite import open_sqlite_store

NAME: Final = "op"
SYSTEM_ID: Final = "sim"
PASSWORD: Final = "simpass"
BINDS: Final = 2
WINDOW: Final = 10
THROUGHPUT: Final = 500.0
BURST: Final = 50
HANDSETS: Final = 2000
TICK: Final = 0.05  #: seconds between offer batches
SAMPLE: Final = 0.2  #: seconds between queue-depth samples
HEALTH_POLL: Final = 0.02
BIND_TIMEOUT: Final = 15.0
PART_SEPTETS: Final = 153  #: GSM 7-bit septets per part with an 8-bit concatenation UDH
FAILED_STATES: Final = (MtState.REJECTED, MtState.UNDELIVERABLE, MtState.EXPIRED)
THROTTLED: Final = int(CommandStatus.ESME_RTHROTTLED)
_TAG = re.compile(r"^m(\d{7})(?:/(\d+))?")

Timeline = tuple[tuple[float, Mapping[str, Any]], ...]


@attrs.frozen(kw_only=True)
class Scenario:
    name: str
    title: str
    rate: float  #: messages offered per second
    duration: float  #: seconds of offering
    parts: int = 1
    #: (seconds after the offer starts, fault changes); a step at 0 is set before the start
    timeline: Timeline = ()
    #: index of the timeline step that ends the fault mid-run (for recovery), or None
    fault_end_step: int | None = None
    config: Mapping[str, Any] = attrs.field(factory=dict)  #: ConnectorConfig changes
    options: Mapping[str, Any] = attrs.field(factory=dict)  #: connector option changes


def scenarios(quick: bool) -> list[Scenario]:
    d = 2.5 if quick else 10.0  # a plain scenario's offer phase
    fz = (1.5, 4.0, 6.0) if quick else (5.0, 10.0, 15.0)  # freeze on, off, offer end
    dr = (2.0, 3.5) if quick else (8.0, 12.0)  # drop faults off, offer end
    cut = 150 if quick else 500  # disconnect_after: a session answers ~150/s
    live = {"response_timeout": 1.0, "enquire_link_interval": 2.0}
    return [
        Scenario(name="baseline", title="no fault", rate=300, duration=d),
        Scenario(
            name="transient", title="30 % ESME_RSYSERR (transient)", rate=300, duration=d,
            timeline=((0.0, {"error_statuses": {0x08: 0.3}}),),
        ),
        Scenario(
            name="permanent", title="10 % 0x45 + 5 % 0x401 (permanent)", rate=300, duration=d,
            timeline=((0.0, {"error_statuses": {0x45: 0.10, 0x401: 0.05}}),),
        ),
        Scenario(
            name="part2", title="3-part, part 2 answered 0x08 ×20", rate=100, duration=d,
            parts=3, timeline=((0.0, {"part_error": {"part": 2, "status": 0x08, "times": 20}}),),
        ),
        Scenario(
            name="throttle50", title="50 % ESME_RTHROTTLED", rate=300, duration=d,
            timeline=((0.0, {"throttle_share": 0.5}),),
        ),
        Scenario(
            name="ratelimit150", title="SMSC rate limit 150/s", rate=300, duration=d,
            timeline=((0.0, {"rate_limit": 150.0}),),
        ),
        Scenario(
            name="freeze", title=f"SMSC frozen {fz[1] - fz[0]:g} s mid-run", rate=300,
            duration=fz[2], timeline=((fz[0], {"freeze": True}), (fz[1], {"freeze": False})),
            fault_end_step=1, config=live,
        ),
        Scenario(
            name="drops", title=f"disconnect after {cut} + 2 % dropped responses", rate=300,
            duration=dr[1], fault_end_step=1, config={"response_timeout": 1.0},
            timeline=((0.0, {"disconnect_after": cut, "drop_share": 0.02}),
                      (dr[0], {"disconnect_after": 0, "drop_share": 0.0})),
        ),
        Scenario(
            name="lostanswers", title="2 % of accepted submits lose their answer", rate=300,
            duration=dr[1], fault_end_step=1, config={"response_timeout": 1.0},
            timeline=((0.0, {"lose_answer_share": 0.02}), (dr[0], {"lose_answer_share": 0.0})),
        ),
    ]  # fmt: skip


# ------------------------------------------------------------------ messages and the sink
def _text(i: int, parts: int) -> str:
    if parts == 1:
        return f"m{i:07d} fault bench, a message in one part"
    return "".join(f"m{i:07d}/{k} ".ljust(PART_SEPTETS, "x") for k in range(1, parts + 1))


def _message(i: int, parts: int, now: float) -> MtMessage:
    return MtMessage(
        id=f"m{i:07d}", account="bench", connector=NAME, source_addr="447700900000",
        destination_addr=f"4479{i % HANDSETS:07d}", payload=encode_gsm7(_text(i, parts)),
        submitted_at=now + i * 1e-6, expires_at=now + 3600,
    )  # fmt: skip


class _Sink:
    """A DeliverSink: finals go to the store; notes when each message was last settled."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.settled_at: dict[str, float] = {}  #: message id -> trio time of the last settle
        self.final_statuses: Counter[str] = Counter()

    async def operator_deliver(self, connector: str, pdus: Sequence[Any]) -> list[int]:
        await trio.lowlevel.checkpoint()
        return [0] * len(pdus)

    def submitted(self, message: MtMessage, id_maps: Sequence[IdMapEntry]) -> None:
        self.settled_at[message.id] = trio.current_time()

    async def mt_final(self, message: MtMessage, state: MtState, error_code: int) -> None:
        await self.store.finalise_mt([MtFinal(message.id, state, time.time(), error_code)])
        self.settled_at[message.id] = trio.current_time()
        self.final_statuses[f"{state.name} {status_name(error_code)}"] += 1


def _config(sc: Scenario, port: int, seed: int) -> ConnectorConfig:
    options: dict[str, Any] = {
        "poll_interval": 0.05,
        "retry_initial": 0.2,
        "retry_max": 1.0,
        "rng_seed": seed,
        **sc.options,
    }
    fields: dict[str, Any] = {
        "name": NAME, "hosts": (HostPort("127.0.0.1", port),), "system_id": SYSTEM_ID,
        "password": PASSWORD, "binds": BINDS, "window": WINDOW, "throughput": THROUGHPUT,
        "burst": BURST, "reconnect_min": 0.2, "reconnect_max": 2.0, "response_timeout": 5.0,
        "options": options, **sc.config,
    }  # fmt: skip
    return ConnectorConfig(**fields)


# ------------------------------------------------------------------ one scenario
@attrs.define
class _Run:
    """What the tasks of one scenario observe."""

    sim: Simulator
    store: Store
    connector: SmppOperatorConnector
    t0: float = 0.0
    offered_at: list[float] = attrs.field(factory=list)  #: per message index
    fault_times: list[float] = attrs.field(factory=list)  #: per timeline step, trio time
    marks: dict[str, SimulatorStats] = attrs.field(factory=dict)
    mark_times: dict[str, float] = attrs.field(factory=dict)
    depth_peak: int = 0
    states: list[tuple[float, str]] = attrs.field(factory=list)  #: health state changes

    def mark(self, name: str) -> None:
        self.marks[name] = self.sim.stats()
        self.mark_times[name] = trio.current_time()


async def _offer(run: _Run, sc: Scenario) -> None:
    total = round(sc.rate * sc.duration)
    n, k = 0, 0
    while n < total:
        await trio.sleep_until(run.t0 + k * TICK)
        k += 1
        target = min(total, round(sc.rate * k * TICK))
        if target <= n:
            continue
        now = time.time()
        await run.store.enqueue_mt([_message(i, sc.parts, now) for i in range(n, target)])
        at = trio.current_time()
        run.offered_at.extend([at] * (target - n))
        n = target
        run.connector.wake()
    await trio.sleep_until(run.t0 + k * TICK)  # the last batch's share of the offer phase


async def _faults(run: _Run, timeline: Timeline) -> None:
    for step, (at, changes) in enumerate(timeline):
        if step == 0 and at == 0:
            continue  # set before the start
        await trio.sleep_until(run.t0 + at)
        run.sim.set_faults(**changes)
        run.fault_times.append(trio.current_time())


async def _mark_half(run: _Run, duration: float) -> None:
    await trio.sleep_until(run.t0 + duration / 2)
    run.mark("half")


async def _sample_depth(run: _Run) -> None:
    while True:
        depth = await run.store.queue_depth(NAME)
        run.depth_peak = max(run.depth_peak, depth)
        await trio.sleep(SAMPLE)


async def _watch_health(run: _Run) -> None:
    last = ""
    while True:
        state = run.connector.health().state
        if state != last:
            run.states.append((trio.current_time(), state))
            last = state
        await trio.sleep(HEALTH_POLL)


async def _wait_settled(store: Store, limit: float) -> int:
    """Poll until nothing of the connector is QUEUED/LEASED (0) or ``limit`` seconds passed
    (what is left)."""
    with trio.move_on_after(limit):
        while await store.queue_depth(NAME) > 0:  # noqa: ASYNC110 - a store count, no event
            await trio.sleep(0.05)
        return 0
    return await store.queue_depth(NAME)


async def run_scenario(sc: Scenario, seed: int) -> dict[str, Any]:
    settings = SimulatorConfig(
        host="127.0.0.1", port=0, control_port=0, system_id=SYSTEM_ID, password=PASSWORD,
        receipt_delay=0.0,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="smppcore-faults-") as tmp:
        db = Path(tmp) / "faults.db"
        async with (
            open_sqlite_store(db, hash_secret=b"k" * 32) as store,
            trio.open_nursery() as sim_nursery,
        ):
            sim = Simulator(settings, seed=seed)
            await sim_nursery.start(sim.serve)
            sink = _Sink(store)
            ctx = ConnectorContext(store=store, sink=sink, metrics=Metrics(), retention=None)
            connector = create_connector(_config(sc, sim.port, seed), ctx)
            run = _Run(sim=sim, store=store, connector=connector)
            async with trio.open_nursery() as conn_nursery:
                await conn_nursery.start(connector.run)
                unsettled = await _drive(run, sc)
                conn_nursery.cancel_scope.cancel()
            row = await _collect(run, sc, sink, unsettled)
            sim_nursery.cancel_scope.cancel()
    return row


async def _drive(run: _Run, sc: Scenario) -> int:
    """Binds up, faults, offer, settle; returns how many are left unsettled."""
    with trio.fail_after(BIND_TIMEOUT):
        while run.connector.health().binds_up < BINDS:  # noqa: ASYNC110 - no event for it
            await trio.sleep(0.02)
    async with trio.open_nursery() as tasks:
        tasks.start_soon(_watch_health, run)
        tasks.start_soon(_sample_depth, run)
        at_start = bool(sc.timeline) and sc.timeline[0][0] == 0
        if at_start:
            run.sim.set_faults(**sc.timeline[0][1])
        run.t0 = trio.current_time()
        run.fault_times = [run.t0] if at_start else []
        run.mark("start")
        tasks.start_soon(_faults, run, sc.timeline)
        tasks.start_soon(_mark_half, run, sc.duration)
        await _offer(run, sc)
        run.mark("end")
        unsettled = await _wait_settled(run.store, max(20.0, 1.5 * sc.duration + 10.0))
        run.mark("settled")
        tasks.cancel_scope.cancel()
    return unsettled


# ------------------------------------------------------------------ figures
def _per_s(count: float, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def _accepted(a: SimulatorStats, b: SimulatorStats) -> int:
    return b.answered(0) - a.answered(0)


def _answered(a: SimulatorStats, b: SimulatorStats) -> int:
    return sum(b.submits.values()) - sum(a.submits.values())


def _throttled(a: SimulatorStats, b: SimulatorStats) -> int:
    return b.answered(THROTTLED) - a.answered(THROTTLED)


def _copies(sim: Simulator) -> tuple[dict[tuple[int, int], list[float]], int]:
    """Accepted arrival times per (message index, part), and records not traced back."""
    seen: dict[tuple[int, int], list[float]] = {}
    strays = 0
    for dest in sim.destinations():
        for rec in sim.messages(dest):
            match = _TAG.match(rec.text)
            part = rec.concat.seq if rec.concat is not None else 1
            if match is None or (match.group(2) is not None and int(match.group(2)) != part):
                strays += 1
                continue
            seen.setdefault((int(match.group(1)), part), []).append(rec.received_at)
    return seen, strays


async def _collect(run: _Run, sc: Scenario, sink: _Sink, unsettled: int) -> dict[str, Any]:
    sim, connector = run.sim, run.connector
    offered = len(run.offered_at)
    t0, t_end, t_settled = run.t0, run.mark_times["end"], run.mark_times["settled"]
    offer_s = t_end - t0
    copies, strays = _copies(sim)
    delivered_at: dict[int, float] = {}
    for i in {i for i, _ in copies}:
        firsts = [min(copies[(i, p)]) for p in range(1, sc.parts + 1) if (i, p) in copies]
        if len(firsts) == sc.parts:
            delivered_at[i] = max(firsts)
    states: Counter[MtState] = Counter()
    failed_ids: set[int] = set()
    enroute_ids: set[int] = set()
    for i in range(offered):
        m = await run.store.get_mt(f"m{i:07d}")
        state = m.state if m is not None else MtState.UNKNOWN
        states[state] += 1
        if state in FAILED_STATES:
            failed_ids.add(i)
        elif state is MtState.ENROUTE:
            enroute_ids.add(i)
    delivered_ids = set(delivered_at)
    both = len(delivered_ids & failed_ids)
    lost = offered - len(delivered_ids | failed_ids)
    last = run.marks["settled"]
    dups = sum(len(v) - 1 for v in copies.values())
    row: dict[str, Any] = {
        "scenario": sc.name,
        "title": sc.title,
        "faults": [{"at_s": at, "set": _jsonable(ch)} for at, ch in sc.timeline],
        "parts_per_message": sc.parts,
        "offered": offered,
        "offered_per_s": _per_s(offered, offer_s),
        "offer_s": round(offer_s, 2),
        "delivered": len(delivered_ids),
        "delivered_per_s": _per_s(sum(1 for t in delivered_at.values() if t <= t_end), offer_s),
        "duplicated": last.accepted_duplicates,
        "duplicated_counted": dups,
        "max_copies": max((len(v) for v in copies.values()), default=0),
        "failed": len(failed_ids),
        "failed_by_state_status": dict(sink.final_statuses),
        "lost": lost,
        "delivered_and_failed": both,
        "acked_not_delivered": len(enroute_ids - delivered_ids),
        "unsettled": unsettled,
        "store_states": {s.name: n for s, n in sorted(states.items())},
        "recovery_s": None,
        "drain_s": round(t_settled - t_end, 2) if not unsettled else None,
        "backlog_peak": run.depth_peak,
        "smsc": {
            "received_per_s_offered": _per_s(
                run.marks["end"].submits_received - run.marks["start"].submits_received, offer_s
            ),
            "accepted_per_s_offered": _per_s(_accepted(run.marks["start"], run.marks["end"]),
                                             offer_s),
            "answered": dict(last.submits),
            "dropped": last.submits_dropped,
            "answers_lost": last.answers_lost,
            "frozen": last.submits_frozen,
            "disconnects_injected": last.disconnects_injected,
            "binds": sum(last.binds.values()),
            "records_not_traced": strays,
        },
        "connector": _connector_figures(connector),
    }  # fmt: skip
    checks: dict[str, bool] = {"lost_0": lost == 0, "settled": unsettled == 0}
    if sc.fault_end_step is not None and len(run.fault_times) > sc.fault_end_step:
        end = run.fault_times[sc.fault_end_step]
        before = [f"m{i:07d}" for i, at in enumerate(run.offered_at) if at <= end]
        if all(mid in sink.settled_at for mid in before) and not unsettled:
            latest = max((sink.settled_at[mid] for mid in before), default=end)
            row["recovery_s"] = round(max(0.0, latest - end), 2)
    row.update(_extras(run, sc, row, checks))
    row["checks"] = checks
    row["notes"] = _notes(row)
    return row


def _connector_figures(connector: SmppOperatorConnector) -> dict[str, Any]:
    s = connector.stats
    return {
        "submits_answered": s.submits, "resends": s.resends, "acked": s.acked,
        "nacked": s.nacked, "failed": s.failed, "expired": s.expired,
        "by_status": {status_name(k): v for k, v in sorted(s.by_status.items())},
        "send_rate_end": round(connector.throttle.rate, 1),
        "send_rate_noise": round(connector.throttle.noise, 3),
        "rate_cuts": connector.throttle.cuts,
    }  # fmt: skip


def _extras(
    run: _Run, sc: Scenario, row: dict[str, Any], checks: dict[str, bool]
) -> dict[str, Any]:
    """The scenario-specific figures (throttling, rate limit, freeze)."""
    out: dict[str, Any] = {}
    start, half, end = run.marks["start"], run.marks["half"], run.marks["end"]
    if sc.name == "part2":
        checks["no_duplicates"] = row["duplicated"] == 0
    if sc.name == "throttle50":
        share = float(sc.timeline[0][1]["throttle_share"])
        capacity = (1 - share) * THROUGHPUT
        ratio = row["delivered_per_s"] / capacity
        out["throttling"] = {
            "compared_with": f"SMSC acceptance capacity = {1 - share:g} x contract {THROUGHPUT:g}",
            "throttle_share": share,
            "smsc_capacity_per_s": capacity,
            "delivered_per_s_offered": row["delivered_per_s"],
            "delivered_over_capacity": round(ratio, 3),
            "smsc_accepted_per_s_offered": row["smsc"]["accepted_per_s_offered"],
            "smsc_received_per_s_offered": row["smsc"]["received_per_s_offered"],
            "throttled_share_offered": _share(_throttled(start, end), _answered(start, end)),
        }  # fmt: skip
        checks["delivered_ge_80pct_capacity"] = ratio >= 0.8
    if sc.name == "ratelimit150":
        limit = float(sc.timeline[0][1]["rate_limit"])
        seconds = run.mark_times["end"] - run.mark_times["half"]
        steady = _per_s(_accepted(half, end), seconds)
        out["rate_limit"] = {
            "limit_per_s": limit,
            "steady_accepted_per_s": steady,
            "steady_window_s": round(seconds, 2),
            "steady_over_limit": round(steady / limit, 3),
            "steady_throttled_share": _share(_throttled(half, end), _answered(half, end)),
            "steady_received_per_s": _per_s(end.submits_received - half.submits_received,
                                            seconds),
        }  # fmt: skip
        checks["steady_within_10pct_under_limit"] = 0.9 * limit <= steady <= 1.02 * limit
    if sc.name == "freeze" and len(run.fault_times) >= 2:
        frozen, thawed = run.fault_times[0], run.fault_times[1]
        down = next((t for t, s in run.states if s == "down" and t >= frozen), None)
        back = next((t for t, s in run.states if s != "down" and t >= thawed), None)
        out["freeze"] = {
            "freeze_s": round(thawed - frozen, 2),
            "down_after_s": round(down - frozen, 2) if down is not None else None,
            "down_before_thaw": down is not None and down < thawed,
            "bind_back_after_thaw_s": round(back - thawed, 2) if back is not None else None,
            "health_states": [(round(t - run.t0, 2), s) for t, s in run.states],
        }  # fmt: skip
        checks["max_two_copies"] = row["max_copies"] <= 2
    if sc.name == "lostanswers":
        # Each lost answer costs at most one copy (a resend whose answer is lost as well
        # makes a third copy: two losses).
        checks["dup_le_answers_lost"] = row["duplicated"] <= row["smsc"]["answers_lost"]
    return out


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _jsonable(changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    if "error_statuses" in out:
        out["error_statuses"] = {f"{k:#x}": v for k, v in out["error_statuses"].items()}
    if isinstance(out.get("part_error"), Mapping):
        pe = dict(out["part_error"])
        pe["status"] = f"{pe['status']:#x}"
        out["part_error"] = pe
    return out


def _notes(row: dict[str, Any]) -> str:
    notes: list[str] = []
    if "throttling" in row:
        t = row["throttling"]
        notes.append(
            f"SMSC capacity {t['smsc_capacity_per_s']:g}/s"
            f" ({1 - t['throttle_share']:g} × contract {THROUGHPUT:g}/s);"
            f" delivered/capacity {t['delivered_over_capacity']:.2f} (goal ≥ 0.8);"
            f" SMSC received {t['smsc_received_per_s_offered']:g}/s,"
            f" accepted {t['smsc_accepted_per_s_offered']:g}/s"
        )
    if "rate_limit" in row:
        r = row["rate_limit"]
        notes.append(
            f"limit {r['limit_per_s']:g}/s; steady accepted (2nd half)"
            f" {r['steady_accepted_per_s']:g}/s = {r['steady_over_limit']:.3f} × limit"
            f" (goal 0.90–1.00); throttled share {r['steady_throttled_share']}"
        )
    if "freeze" in row:
        f = row["freeze"]
        notes.append(
            f"down {f['down_after_s']} s after the freeze began; a bind back"
            f" {f['bind_back_after_thaw_s']} s after the thaw; max copies {row['max_copies']}"
        )
    smsc = row["smsc"]
    if row["connector"]["nacked"]:
        errors = sorted(
            f"{name} {n}"
            for name, n in smsc["answered"].items()
            if name not in ("ESME_ROK", "ESME_RTHROTTLED")
        )
        notes.append(f"answered {', '.join(errors)}; {row['connector']['nacked']} nacks, retried")
    if smsc["answers_lost"]:
        notes.append(
            f"{smsc['answers_lost']} accepted submits lost their answer (each resent: a"
            f" duplicate by design); max copies {row['max_copies']}"
        )
    if smsc["disconnects_injected"] or smsc["dropped"]:
        notes.append(
            f"{smsc['disconnects_injected']} disconnects, {smsc['dropped']} responses dropped;"
            f" max copies {row['max_copies']}"
        )
    if row["failed"]:
        notes.append(
            ", ".join(f"{k} {v}" for k, v in sorted(row["failed_by_state_status"].items()))
        )
    if row["delivered_and_failed"] or row["acked_not_delivered"] or row["unsettled"]:
        notes.append(
            f"delivered+failed {row['delivered_and_failed']},"
            f" acked not delivered {row['acked_not_delivered']}, unsettled {row['unsettled']}"
        )
    failing = [name for name, ok in row["checks"].items() if not ok]
    if failing:
        notes.append("FAILED: " + ", ".join(failing))
    return "; ".join(notes)


# ------------------------------------------------------------------ output
def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def print_table(report: dict[str, Any]) -> None:
    s = report["settings"]
    print(
        f"fault bench: operator connector, {s['binds']} binds × window {s['window']},"
        f" throughput {s['throughput']:g}/s (burst {s['burst']}), SQLite store,"
        f" simulator in-process; wall {report['wall_s']} s\n"
    )
    head = ("scenario", "offered", "offered/s", "delivered", "delivered/s", "dup", "failed",
            "lost", "recovery s", "drain s", "SMSC side / notes")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in report["scenarios"]:
        cells = (f"{r['scenario']}: {r['title']}", r["offered"], r["offered_per_s"],
                 r["delivered"], r["delivered_per_s"], r["duplicated"], r["failed"], r["lost"],
                 r["recovery_s"], r["drain_s"], r["notes"] or "-")  # fmt: skip
        print("| " + " | ".join(_cell(c) for c in cells) + " |")


async def _main(chosen: list[Scenario], seed: int) -> dict[str, Any]:
    wall0 = time.perf_counter()
    rows = []
    for sc in chosen:
        print(f"[faults] {sc.name}: {sc.title}", file=sys.stderr, flush=True)
        rows.append(await run_scenario(sc, seed))
    return {
        "bench": "faults",
        "python": platform.python_version(),
        "simulator": "in-process",
        "settings": {"binds": BINDS, "window": WINDOW, "throughput": THROUGHPUT, "burst": BURST,
                     "handsets": HANDSETS, "seed": seed, "store": "sqlite FULL"},
        "scenarios": rows,
        "all_checks_passed": all(all(r["checks"].values()) for r in rows),
        "wall_s": round(time.perf_counter() - wall0, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    names = [sc.name for sc in scenarios(False)]
    parser.add_argument(
        "--scenario",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this one (repeatable): {', '.join(names)}",
    )
    parser.add_argument("--quick", action="store_true", help="shortened phases (~30 s in all)")
    parser.add_argument("--seed", type=int, default=1, help="simulator and connector seed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--verbose", action="store_true", help="warnings on stderr")
    parser.add_argument("--render", metavar="FILE", help="print the table of a saved --json run")
    args = parser.parse_args()
    if args.render:
        print_table(json.loads(Path(args.render).read_text()))
        return
    level = logging.WARNING if args.verbose else logging.ERROR
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    chosen = [sc for sc in scenarios(args.quick) if not args.scenario or sc.name in args.scenario]
    report = trio.run(_main, chosen, args.seed)
    if args.json:
        json.dump(report, sys.stdout)
        print()
        return
    print_table(report)


if __name__ == "__main__":
    main()
