"""End-to-end benchmark: what a client sees (submits accepted, receipts back) through the
daemon, and the same load straight to the simulator.

Four processes on loopback: two SMSC simulators (``smppcore simulate``), the daemon
(``smppcore run``, SQLite store in a temporary data dir, its built-in simulator off, its
operator connector ``--binds`` binds × ``--window`` to the first simulator) and this driver,
an ESME on our own stack.  The direct run uses the second simulator: a simulator hands a
receipt to any bound receiver of the account that submitted, and the daemon's connector and
the direct driver both bind as ``sim``, so with one simulator the direct run's receipts would
be shared with the daemon.  Both simulators answer every submit at once and send a DELIVRD
receipt ``--receipt-delay`` seconds later, with ``delivery_window = 256`` (deliver_sm kept
outstanding over all receivers, and the window of each simulator session).
All configs are derived from ``configs/local.toml`` by substitutions that must each match
exactly once.

The driver makes one transceiver bind and keeps ``--window`` submit_sm in flight (or, with
``--rate R``, sends them at R per second, at most ``--window`` in flight), each with
registered_delivery=1 (0 with ``--no-receipts``), 1000 handsets round-robin.  It records
when each submit_sm was sent, keyed by the message_id of its submit_sm_resp.  A receiver task
answers every deliver_sm ESME_ROK at once and, for receipts (esm_class 0x04), records when it
arrived, matched by the ``receipted_message_id`` TLV, else the ``id:`` of the receipt text.  A
receipt processed before its submit_sm_resp is stashed and matched when the resp comes;
a second receipt for an id counts as a duplicate, one whose id never came back in a resp as
unknown.  The run fails (SystemExit) when a submit is refused, when a process dies, or when
receipts are missing after no receipt has arrived for ``--receipt-timeout`` seconds (the
whole wait is capped at an hour).  A warm-up of 500 (receipts included) on each path is not
measured.  Per path and run (``t0`` = just before the first submit_sm is sent, the submit
phase = ``t0`` → the last submit_sm_resp):

* ``accept_msg_per_s`` = N / submit phase; ``p50_ms`` / ``p99_ms``: submit_sm → resp;
* ``e2e_msg_per_s`` = N / ``e2e_s``, ``e2e_s`` = last receipt − ``t0``.  With
  ``--no-receipts``: until the simulator has received all N, polled every 10 ms (as the old
  bench did; direct: the last submit_sm_resp, so e2e = accept);
* ``receipts_per_s_during_submit``: receipts that arrived within the submit phase ÷ its
  length; ``receipts_per_s_after``: the rest ÷ (last receipt − last resp);
* ``receipt_p50_ms`` / ``receipt_p99_ms`` / ``receipt_max_ms``: submit_sm sent → receipt;
  ``receipts`` (matched), ``receipts_duplicate``, ``receipts_unknown``;
* ``daemon_cpu_us_per_msg``: the daemon's utime+stime (``/proc/<pid>/stat``) from ``t0`` to
  the last receipt (``--no-receipts``: the end above), ÷ N; ``daemon_user_…`` and
  ``daemon_sys_…`` split it and ``daemon_main_thread_us_per_msg`` is the trio thread's
  share (the rest ran in the SQLite writer and reader threads); ``simulator_cpu_us_per_msg``
  and ``driver_cpu_us_per_msg`` the same for the simulator on that path and for this
  process;
* with ``--rate``: ``offered_per_s`` (R) and, over the middle 70% of the send phase (first
  → last submit_sm sent), ``steady_submits_per_s`` (sent), ``steady_receipts_per_s``
  (arrived) and ``steady_receipt_ratio`` (receipts ÷ submits; below 1 a backlog grows);
* with ``--rss``: ``daemon_rss_kib``, VmRSS (``/proc/<pid>/status``) after the warm-up
  (idle), at ``t0`` (``start``: after the driver's bind, whose scrypt password check alone
  takes 16 MiB), at 25/50/75/100% of the submits sent and at the end, and VmHWM at the end
  (``hwm``); ``daemon_rss_growth_kib`` = end − start;
* per run: ``ratio_to_direct`` = daemon ``e2e_msg_per_s`` ÷ direct ``e2e_msg_per_s``.

``--repeat K`` runs both paths K times (interleaved) against the same processes; the JSON has
``settings``, ``runs`` and, at the top level, the median of every figure (``through_daemon``,
``direct_to_simulator``, ``ratio_to_direct``) and its ``range`` ([min, max]).  ``--py-spy
FILE`` records the daemon with py-spy (``--gil``: only the thread holding the GIL, i.e. Python
CPU time) during the first measured daemon run only (format from
the suffix: ``.svg`` flamegraph, ``.txt`` raw, else speedscope); ``--profile FILE`` runs the
whole daemon under cProfile.  Both slow the daemon and so change its figures.  On a 2-core
machine the four processes share the cores: ``simulator_…`` and ``driver_…`` say how much
the measuring side took.

    python bench/e2e.py                      # table, 20,000 submits with receipts
    python bench/e2e.py --repeat 3 --json    # exactly one JSON object on stdout
    python bench/e2e.py --no-receipts        # the old figure: submits reaching the SMSC
    python bench/e2e.py --rate 500 -n 10000  # paced: does the receipt path keep up?
    python bench/e2e.py --py-spy d.txt       # py-spy raw (collapsed) stacks of the daemon
"""

from __future__ import annotations

import argparse
import bisect
import json
import logging
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import structlog
import trio

from smppcore.net.client import open_bind_client
from smppcore.net.connection import SmppConnection
from smppcore.protocol.pdu import BindTransceiver, DeliverSm, SubmitSm
from smppcore.protocol.receipt import parse_receipt
from smppcore.protocol.session_events import SessionConfig

REPO = Path(__file__).resolve().parents[1]
SMPPCORE = Path(sys.executable).with_name("smppcore")
MAX_N: Final = 1_000_000
WARMUP: Final = 500
SIM_DELIVERY_WINDOW: Final = 256
STEADY_SKIP: Final = 0.15  # of the send phase, at each end, for the steady-state figures
MAX_RECEIPT_WAIT: Final = 3600.0
_TEXT = b"Your verification code is 123456. It expires in 10 minutes."
_HANDSETS = 1000
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_ESM_TYPE_MASK = 0x3C
_ESM_RECEIPT = 0x04
_RSS_MARKS = (0.25, 0.5, 0.75, 1.0)

Processes = Sequence[subprocess.Popen[bytes]]


# ------------------------------------------------------------------ configs and processes
def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _sub(text: str, pattern: str, replacement: str) -> str:
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if count != 1:
        raise SystemExit(f"configs/local.toml changed: {pattern!r} matched {count} times")
    return new


def _derive(
    template: str, ports: dict[str, int], sim: str, window: int, binds: int, receipt_delay: float
) -> str:
    """configs/local.toml with no rate limits in the way, WARNING logs in JSON, the connector
    pointed at the simulator ``sim`` ("sim" or "direct") and that simulator's settings."""
    sim_port, control = ports[f"{sim}_smpp"], ports[f"{sim}_control"]
    text = _sub(template, r"^port = 2775$", f"port = {ports['client']}")
    text = _sub(text, r"^port = 9775$", f"port = {ports['metrics']}")
    text = _sub(text, r"^port = 2776$", f"port = {sim_port}")
    text = _sub(text, r"^control_port = 2777$", f"control_port = {control}")
    text = _sub(text, r'^hosts = \["127.0.0.1:2776"\]', f'hosts = ["127.0.0.1:{sim_port}"]')
    text = _sub(text, r'^level = "info"$', 'level = "warning"')
    text = _sub(text, r'^format = "console"$', 'format = "json"')
    text = _sub(text, r"^throughput = 100\nburst = 100$", "throughput = 1000000\nburst = 1000000")
    text = _sub(text, r"^max_queued = 10000$", "max_queued = 1000000")
    text = _sub(text, r"^binds = 1$", f"binds = {binds}")
    text = _sub(
        text, r"^window = 10\nthroughput = 200$", f"window = {window}\nthroughput = 1000000"
    )
    text = _sub(text, r"^window = 10\n", f"window = {window}\n")  # the client listener
    text = _sub(text, r"^receipt_delay = 1\.0$", f"receipt_delay = {receipt_delay!r}")
    return _sub(text, r"^delivery_window = 64\b.*$", f"delivery_window = {SIM_DELIVERY_WINDOW}")


def _configs(
    directory: Path, window: int, binds: int, receipt_delay: float
) -> tuple[Path, Path, Path, dict[str, int]]:
    """(daemon config, its simulator's config, the direct simulator's config, ports)."""
    names = ("client", "metrics", "sim_smpp", "sim_control", "direct_smpp", "direct_control")
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    template = (REPO / "configs" / "local.toml").read_text()
    sim = _derive(template, ports, "sim", window, binds, receipt_delay)
    direct = _derive(template, ports, "direct", window, binds, receipt_delay)
    daemon = _sub(sim, r"^\[simulator\]\nenabled = true$", "[simulator]\nenabled = false")
    paths = directory / "daemon.toml", directory / "simulator.toml", directory / "direct.toml"
    for path, text in zip(paths, (daemon, sim, direct), strict=True):
        path.write_text(text)
    return *paths, ports


def _stat_fields(path: str) -> list[str]:
    with open(path) as fh:
        return fh.read().rsplit(")", 1)[1].split()


def _cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of ``pid`` in seconds, from /proc/<pid>/stat."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK


def _thread_cpu_seconds(pid: int) -> float:
    """utime + stime of the main thread of ``pid`` (the trio thread of the daemon)."""
    fields = _stat_fields(f"/proc/{pid}/task/{pid}/stat")
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB, from /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def _http_json(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
        return dict(json.loads(reply.read()))


def _check_alive(processes: Processes) -> None:
    for process in processes:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}")


def _wait_port(port: int, process: subprocess.Popen[bytes], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        _check_alive([process])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port} after {limit}s")


def _wait_received(control_port: int, target: int, processes: Processes, limit: float) -> None:
    """Until the simulator has received ``target`` submits; bounded, and fails fast when the
    daemon or the simulator has died (their logs say why)."""
    deadline = time.monotonic() + limit
    while _http_json(control_port, "/stats")["submits_received"] < target:
        _check_alive(processes)
        if time.monotonic() > deadline:
            raise SystemExit(f"the simulator did not receive {target} submits in {limit}s")
        time.sleep(0.01)


def _leaf_exit(exc: BaseException) -> BaseException:
    """The SystemExit (else the first non-Cancelled leaf) inside a nursery's exception group."""
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for inner in e.exceptions:
                walk(inner)
        else:
            leaves.append(e)

    walk(exc)
    for leaf in leaves:
        if isinstance(leaf, SystemExit):
            return leaf
    return next((x for x in leaves if not isinstance(x, trio.Cancelled)), exc)


# ------------------------------------------------------------------ measurement helpers
class _Probe:
    """CPU (and optionally memory) of the processes on one path, between start() and stop()."""

    def __init__(self, pids: dict[str, int], *, rss_pid: int | None = None) -> None:
        self.pids = pids  # "daemon" / "simulator" -> pid; the first one gets the full split
        self.rss_pid = rss_pid
        self.rss: dict[str, int] = {}
        self._start: dict[str, tuple[float, float, float]] = {}
        self._stop: dict[str, tuple[float, float, float]] = {}
        self._driver = (0.0, 0.0)

    def _sample(self) -> dict[str, tuple[float, float, float]]:
        return {
            name: (*_cpu_times(pid), _thread_cpu_seconds(pid)) for name, pid in self.pids.items()
        }

    def start(self) -> None:
        self.mark("start")
        self._start = self._sample()
        self._driver = (time.process_time(), 0.0)

    def stop(self) -> None:
        if not self._stop:
            self._stop = self._sample()
            self._driver = (self._driver[0], time.process_time())
            self.mark("end")

    def mark(self, label: str) -> None:
        if self.rss_pid is not None:
            memory = _memory_kib(self.rss_pid)
            self.rss[label] = memory["VmRSS"]
            if label == "end":
                self.rss["hwm"] = memory["VmHWM"]

    def figures(self, n: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, name in enumerate(self.pids):
            (u0, s0, m0), (u1, s1, m1) = self._start[name], self._stop[name]
            out[f"{name}_cpu_us_per_msg"] = round((u1 - u0 + s1 - s0) / n * 1e6, 1)
            if i == 0:
                out[f"{name}_user_us_per_msg"] = round((u1 - u0) / n * 1e6, 1)
                out[f"{name}_sys_us_per_msg"] = round((s1 - s0) / n * 1e6, 1)
                out[f"{name}_main_thread_us_per_msg"] = round((m1 - m0) / n * 1e6, 1)
        out["driver_cpu_us_per_msg"] = round((self._driver[1] - self._driver[0]) / n * 1e6, 1)
        return out


class _Tracker:
    """One run's bookkeeping in the driver: submits by message id, receipts matched to them."""

    def __init__(self, n: int, want_receipts: bool, probe: _Probe | None) -> None:
        self.n = n
        self.want_receipts = want_receipts
        self.probe = probe
        self.sent_times: list[float] = []  # every submit_sm, in sending order
        self.latencies: list[float] = []  # submit_sm -> resp
        self.sent_at: dict[str, float] = {}  # message id -> when its submit_sm was sent
        self.received: set[str] = set()
        self.early: dict[str, float] = {}  # receipts whose resp has not been recorded yet
        self.receipt_times: list[float] = []  # arrival of each matched receipt, in order
        self.receipt_latencies: list[float] = []
        self.duplicates = 0
        self.no_id = 0
        self.refused = 0
        self.accepted = 0
        self.first_sent = 0.0
        self.last_resp = 0.0
        self.last_receipt = 0.0
        self.sending_done = False
        self.done = trio.Event()
        self._marks = [(max(1, round(n * f)), f"submitted_{f:.0%}") for f in _RSS_MARKS]

    def sent(self, now: float) -> None:
        if not self.sent_times:
            self.first_sent = now
        self.sent_times.append(now)
        while self.probe is not None and self._marks and len(self.sent_times) >= self._marks[0][0]:
            self.probe.mark(self._marks.pop(0)[1])

    def response(self, message_id: str, sent: float, now: float, status: int) -> None:
        self.latencies.append(now - sent)
        self.last_resp = max(self.last_resp, now)
        if status != 0:
            self.refused += 1
            return
        self.accepted += 1
        if message_id in self.sent_at:
            raise SystemExit(f"message id {message_id!r} was given to two submits")
        self.sent_at[message_id] = sent
        arrived = self.early.pop(message_id, None)
        if arrived is not None:
            self._match(message_id, arrived)

    def receipt(self, message_id: str | None, now: float) -> None:
        if not message_id:
            self.no_id += 1
        elif message_id in self.received or message_id in self.early:
            self.duplicates += 1
        elif message_id in self.sent_at:
            self._match(message_id, now)
        else:
            self.early[message_id] = now

    def _match(self, message_id: str, arrived: float) -> None:
        self.received.add(message_id)
        self.receipt_times.append(arrived)
        self.receipt_latencies.append(arrived - self.sent_at[message_id])
        self.last_receipt = max(self.last_receipt, arrived)
        self._check_done()

    def sending_finished(self) -> None:
        self.sending_done = True
        self._check_done()

    def _check_done(self) -> None:
        if self.done.is_set() or not self.sending_done:
            return
        if not self.want_receipts or len(self.received) == self.accepted:
            self.done.set()
            if self.probe is not None and self.want_receipts:
                self.probe.stop()

    @property
    def unknown(self) -> int:
        return len(self.early) + self.no_id

    def missing_text(self) -> str:
        return (
            f"{self.accepted - len(self.received)} of {self.accepted} accepted submits got no"
            f" receipt ({self.duplicates} duplicate receipts, {self.unknown} for unknown ids)"
        )


def _receipt_id(pdu: DeliverSm) -> str | None:
    value = pdu.tlvs.get("receipted_message_id")
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if isinstance(value, str) and value.strip("\x00 "):
        return value.strip("\x00 ")
    return parse_receipt(pdu.short_message.decode("ascii", errors="replace")).message_id


def _submit(destination: str, registered_delivery: int) -> SubmitSm:
    return SubmitSm(
        source_addr_ton=1, source_addr_npi=1, source_addr="27600000001",
        dest_addr_ton=1, dest_addr_npi=1, destination_addr=destination,
        registered_delivery=registered_delivery, short_message=_TEXT,
    )  # fmt: skip


# ------------------------------------------------------------------ the driver
async def _receive(conn: SmppConnection, track: _Tracker) -> None:
    """Answer every incoming request at once; note each receipt."""
    perf = time.perf_counter
    async for pdu in conn:
        if isinstance(pdu, DeliverSm) and pdu.esm_class & _ESM_TYPE_MASK == _ESM_RECEIPT:
            track.receipt(_receipt_id(pdu), perf())
        if type(pdu).response_class is not None:
            await conn.respond(pdu, pdu.response())


async def _guard(processes: Processes) -> None:
    while True:
        _check_alive(processes)
        await trio.sleep(0.2)


async def _load(
    port: int,
    account: tuple[str, str],
    n: int,
    window: int,
    *,
    receipts: bool,
    rate: float | None,
    processes: Processes,
    probe: _Probe | None,
    receipt_timeout: float,
) -> _Tracker:
    """Send ``n`` submits with ``window`` in flight (paced at ``rate``/s if given) on one
    transceiver bind, and wait (bounded) for every receipt when ``receipts``."""
    config = SessionConfig(
        window=window, enquire_link_interval=None, response_timeout=60, max_inbound_pending=1000
    )
    # Many handsets: the connector keeps per-destination order, so one handset would
    # serialise the whole load.
    submits = [_submit(f"278212{i:05d}", int(receipts)) for i in range(_HANDSETS)]
    track = _Tracker(n, receipts, probe)
    next_index = 0
    bind = BindTransceiver(system_id=account[0], password=account[1])
    async with open_bind_client("127.0.0.1", port, bind, config=config) as client:
        conn = await client.wait_connected()

        async def sender(start: float) -> None:
            nonlocal next_index
            perf = time.perf_counter
            while next_index < n:
                i = next_index
                next_index += 1
                if rate is not None:
                    await trio.sleep_until(start + i / rate)
                t0 = perf()
                track.sent(t0)
                resp = await conn.request(submits[i % _HANDSETS])
                message_id = getattr(resp, "message_id", "") or ""
                track.response(message_id, t0, perf(), resp.command_status)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(_receive, conn, track)
            nursery.start_soon(_guard, processes)
            if probe is not None:
                probe.start()
            start = trio.current_time()
            async with trio.open_nursery() as senders:
                for _ in range(window):
                    senders.start_soon(sender, start)
            if track.refused:
                raise SystemExit(f"{track.refused} of {n} submits were refused")
            track.sending_finished()
            deadline = trio.current_time() + MAX_RECEIPT_WAIT
            while not track.done.is_set():
                seen = len(track.received)
                with trio.move_on_after(receipt_timeout):
                    await track.done.wait()
                stalled = len(track.received) == seen
                if not track.done.is_set() and (stalled or trio.current_time() > deadline):
                    why = f"none for {receipt_timeout:g}s" if stalled else "the wait's cap"
                    raise SystemExit(f"receipts missing ({why}): {track.missing_text()}")
            nursery.cancel_scope.cancel()
    return track


def _drive(label: str, *args: Any, **kwargs: Any) -> _Tracker:
    """:func:`_load` in its own trio run; a failure says which run (``label``) it was."""
    try:
        try:
            return trio.run(lambda: _load(*args, **kwargs))
        except BaseExceptionGroup as group:
            raise _leaf_exit(group) from None
    except SystemExit as exc:
        raise SystemExit(f"{label}: {exc}") from None


# ------------------------------------------------------------------ figures
def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))]


def _rate(count: int, seconds: float) -> float | None:
    return round(count / seconds, 1) if seconds > 0 else None


def _summary(track: _Tracker, rate: float | None, e2e_end: float | None) -> dict[str, Any]:
    """A path's figures (see the module docstring); ``e2e_end`` overrides the last receipt
    as the end of the run (--no-receipts)."""
    n, t0 = track.n, track.first_sent
    with_receipts = e2e_end is None
    latencies = sorted(track.latencies)
    submit_phase = track.last_resp - t0
    out: dict[str, Any] = {
        "n": n,
        "accept_msg_per_s": round(n / submit_phase, 1),
        "p50_ms": round(_pct(latencies, 0.5) * 1e3, 3),
        "p99_ms": round(_pct(latencies, 0.99) * 1e3, 3),
    }
    if e2e_end is None:
        e2e_end = track.last_receipt
        during = bisect.bisect_right(track.receipt_times, track.last_resp)
        receipts = sorted(track.receipt_latencies)
        out.update({
            "e2e_msg_per_s": round(n / (e2e_end - t0), 1),
            "receipts": len(track.received),
            "receipts_per_s_during_submit": _rate(during, submit_phase),
            "receipts_per_s_after": _rate(
                len(track.receipt_times) - during, track.last_receipt - track.last_resp
            ),
            "receipt_p50_ms": round(_pct(receipts, 0.5) * 1e3, 1),
            "receipt_p99_ms": round(_pct(receipts, 0.99) * 1e3, 1),
            "receipt_max_ms": round(receipts[-1] * 1e3, 1),
            "receipts_duplicate": track.duplicates,
            "receipts_unknown": track.unknown,
        })  # fmt: skip
    else:
        out["e2e_msg_per_s"] = round(n / (e2e_end - t0), 1)
    out["e2e_s"] = round(e2e_end - t0, 3)
    if rate is not None:
        sent = track.sent_times
        span = sent[-1] - sent[0]
        lo, hi = sent[0] + span * STEADY_SKIP, sent[-1] - span * STEADY_SKIP
        submits = bisect.bisect_right(sent, hi) - bisect.bisect_left(sent, lo)
        arrived = bisect.bisect_right(track.receipt_times, hi) - bisect.bisect_left(
            track.receipt_times, lo
        )
        out["offered_per_s"] = rate
        out["steady_submits_per_s"] = _rate(submits, hi - lo)
        if with_receipts:
            out["steady_receipts_per_s"] = _rate(arrived, hi - lo)
            out["steady_receipt_ratio"] = round(arrived / submits, 3) if submits else None
    return out


def _aggregate(values: list[Any], how: Callable[[list[Any]], Any]) -> Any:
    """``how`` over each number of like-shaped dicts (recursively), over the runs' values
    as they are (counts stay ints); anything else is kept if every run has the same, else
    None."""
    first = values[0]
    if isinstance(first, dict):
        return {k: _aggregate([v.get(k) for v in values], how) for k in first}
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return how(values)
    return first if all(v == first for v in values) else None


def _median_range(runs: list[dict[str, Any]]) -> tuple[Any, Any]:
    median = _aggregate(runs, lambda xs: round(statistics.median(xs), 3))
    spread = _aggregate(runs, lambda xs: [min(xs), max(xs)])
    return median, spread


# ------------------------------------------------------------------ py-spy
def _py_spy_binary() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).is_file() or not os.access(found, os.X_OK):
        raise SystemExit(
            "--py-spy: py-spy is not on PATH nor in this venv (.venv/bin/pip install py-spy)"
        )
    return found


def _py_spy_format(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return {".svg": "flamegraph", ".txt": "raw", ".raw": "raw"}.get(suffix, "speedscope")


def _start_py_spy(binary: str, pid: int, output: str, log_path: Path) -> subprocess.Popen[bytes]:
    """py-spy recording ``pid`` into ``output``, once it says it is sampling (bounded)."""
    with log_path.open("wb") as log:
        spy = subprocess.Popen(
            [binary, "record", "--pid", str(pid), "-o", output, "--gil", "--rate", "400",
             "--format", _py_spy_format(output)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while b"Sampling process" not in log_path.read_bytes():
        if spy.poll() is not None:
            tail = log_path.read_bytes()[-2000:].decode(errors="replace")
            raise SystemExit(f"py-spy exited with {spy.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            spy.kill()
            raise SystemExit("py-spy did not start sampling within 20s")
        time.sleep(0.05)
    return spy


def _stop_py_spy(spy: subprocess.Popen[bytes], output: str, log_path: Path) -> None:
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(timeout=120)
    except subprocess.TimeoutExpired:
        spy.kill()
        raise SystemExit("py-spy did not finish writing within 120s") from None
    if spy.returncode != 0 or not Path(output).exists():
        tail = log_path.read_bytes()[-2000:].decode(errors="replace")
        raise SystemExit(f"py-spy failed ({spy.returncode}), no {output}:\n{tail}")


# ------------------------------------------------------------------ the run
def _progress(text: str) -> None:
    print(f"[e2e] {text}", file=sys.stderr, flush=True)


def run(
    n: int,
    window: int,
    *,
    binds: int = 2,
    receipt_delay: float = 0.1,
    receipts: bool = True,
    rate: float | None = None,
    repeat: int = 1,
    rss: bool = False,
    receipt_timeout: float = 60.0,
    profile: str | None = None,
    py_spy: str | None = None,
) -> dict[str, Any]:
    spy_binary = _py_spy_binary() if py_spy is not None else None
    with tempfile.TemporaryDirectory(prefix="smppcore-bench-") as tmp:
        directory = Path(tmp)
        daemon_cfg, sim_cfg, direct_cfg, ports = _configs(directory, window, binds, receipt_delay)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        names = ("daemon.log", "simulator.log", "direct-simulator.log")
        logs = {name: (directory / name).open("wb") for name in names}

        def simulator(config: Path, log: str) -> subprocess.Popen[bytes]:
            command = [str(SMPPCORE), "simulate", "--config", str(config)]
            return subprocess.Popen(command, stdout=logs[log], stderr=subprocess.STDOUT, env=env)

        sim = simulator(sim_cfg, "simulator.log")
        direct_sim: subprocess.Popen[bytes] | None = None
        daemon: subprocess.Popen[bytes] | None = None
        spy: subprocess.Popen[bytes] | None = None
        try:
            direct_sim = simulator(direct_cfg, "direct-simulator.log")
            _wait_port(ports["sim_control"], sim)
            _wait_port(ports["direct_control"], direct_sim)
            profiler = [] if profile is None else [sys.executable, "-m", "cProfile", "-o", profile]
            daemon = subprocess.Popen(
                [*profiler, str(SMPPCORE), "run", "--config", str(daemon_cfg),
                 "--data-dir", str(directory / "data")],
                stdout=logs["daemon.log"], stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
            _wait_port(ports["client"], daemon)
            bind_deadline = time.monotonic() + 30
            while _http_json(ports["sim_control"], "/stats")["sessions_bound"] < binds:
                if time.monotonic() > bind_deadline or daemon.poll() is not None:
                    raise SystemExit(f"the daemon's connector did not make {binds} binds")
                time.sleep(0.05)
            on_daemon: list[subprocess.Popen[bytes]] = [daemon, sim]
            on_direct: list[subprocess.Popen[bytes]] = [direct_sim]

            def load(label: str, direct: bool, count: int, probe: _Probe | None) -> _Tracker:
                port, account = ports["direct_smpp" if direct else "client"], accounts[direct]
                processes = on_direct if direct else on_daemon
                paced = rate if probe is not None else None  # the warm-up is not paced
                return _drive(label, port, account, count, window, receipts=receipts,
                              rate=paced, processes=processes, probe=probe,
                              receipt_timeout=receipt_timeout)  # fmt: skip

            accounts = {False: ("demo", "demopass"), True: ("sim", "simpass")}
            # Warm-up (imports, caches, first store pages), not measured.
            warm = min(WARMUP, n)
            _progress(f"warm-up: {warm} through the daemon, {warm} direct")
            load("warm-up through the daemon", False, warm, None)
            _wait_received(ports["sim_control"], warm, on_daemon, limit=120)
            load("warm-up direct", True, warm, None)
            rss_after_warmup = _memory_kib(daemon.pid)["VmRSS"] if rss else None

            runs: list[dict[str, Any]] = []
            for k in range(repeat):
                _progress(f"run {k + 1}/{repeat}: {n} through the daemon")
                probe = _Probe(
                    {"daemon": daemon.pid, "simulator": sim.pid},
                    rss_pid=daemon.pid if rss else None,
                )
                if rss_after_warmup is not None:
                    probe.rss["after_warmup"] = rss_after_warmup  # then "start" of this run
                base = _http_json(ports["sim_control"], "/stats")["submits_received"]
                if spy_binary is not None and py_spy is not None and k == 0:
                    spy = _start_py_spy(spy_binary, daemon.pid, py_spy, directory / "py-spy.log")
                track = load(f"run {k + 1} through the daemon", False, n, probe)
                end = None
                if not receipts:
                    _wait_received(ports["sim_control"], base + n, on_daemon, limit=600)
                    end = time.perf_counter()
                    probe.stop()
                if spy is not None and py_spy is not None:
                    _stop_py_spy(spy, py_spy, directory / "py-spy.log")
                    spy = None
                through = _summary(track, rate, end)
                through.update(probe.figures(n))
                if rss:
                    through["daemon_rss_kib"] = probe.rss
                    through["daemon_rss_growth_kib"] = probe.rss["end"] - probe.rss["start"]

                _progress(f"run {k + 1}/{repeat}: {n} direct to the simulator")
                probe = _Probe({"simulator": direct_sim.pid})
                track = load(f"run {k + 1} direct", True, n, probe)
                if not receipts:  # answered by the simulator = received by it
                    probe.stop()
                direct = _summary(track, rate, None if receipts else track.last_resp)
                direct.update(probe.figures(n))
                runs.append({
                    "through_daemon": through,
                    "direct_to_simulator": direct,
                    "ratio_to_direct": round(through["e2e_msg_per_s"] / direct["e2e_msg_per_s"], 4),
                })  # fmt: skip
        except BaseException:
            for name in (*names, "py-spy.log"):
                if (directory / name).exists():
                    tail = (directory / name).read_bytes()[-4000:].decode(errors="replace")
                    print(f"--- last lines of the {name} ---\n{tail}", file=sys.stderr)
            raise
        finally:
            if spy is not None:
                spy.kill()
                spy.wait()
            for process in (daemon, sim, direct_sim):
                if process is not None:
                    process.terminate()
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
            for log in logs.values():
                log.close()
    median, spread = _median_range(runs)
    return {
        "settings": {
            "n": n, "window": window, "binds": binds, "receipt_delay": receipt_delay,
            "registered_delivery": int(receipts), "rate": rate, "repeat": repeat,
            "simulator_delivery_window": SIM_DELIVERY_WINDOW,
        },
        **median,
        "range": spread,
        "runs": runs,
    }  # fmt: skip


# ------------------------------------------------------------------ output
def _fmt(value: Any, width: int) -> str:
    return f"{'-' if value is None else value:>{width}}"


def _print_table(result: dict[str, Any], title: str) -> None:
    d, s = result["through_daemon"], result["direct_to_simulator"]
    paths = (("client→daemon→sim", d, d["daemon_cpu_us_per_msg"]),
             ("client→sim", s, s["simulator_cpu_us_per_msg"]))  # fmt: skip
    print(title)
    print(f"  {'path':<20} {'accept/s':>9} {'e2e/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
          f" {'CPU µs/msg':>11}")  # fmt: skip
    for name, f, cpu in paths:
        print(f"  {name:<20} {_fmt(f['accept_msg_per_s'], 9)} {_fmt(f['e2e_msg_per_s'], 8)}"
              f" {_fmt(f['p50_ms'], 8)} {_fmt(f['p99_ms'], 8)} {_fmt(cpu, 11)}")  # fmt: skip
    if "receipt_p50_ms" in d:
        print(f"  {'receipts':<20} {'during/s':>9} {'after/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
              f" {'max ms':>9} {'dup':>5} {'unknown':>7}")  # fmt: skip
        for name, f, _ in paths:
            print(f"  {name:<20} {_fmt(f['receipts_per_s_during_submit'], 9)}"
                  f" {_fmt(f['receipts_per_s_after'], 8)} {_fmt(f['receipt_p50_ms'], 8)}"
                  f" {_fmt(f['receipt_p99_ms'], 8)} {_fmt(f['receipt_max_ms'], 9)}"
                  f" {_fmt(f['receipts_duplicate'], 5)}"
                  f" {_fmt(f['receipts_unknown'], 7)}")  # fmt: skip
    if "offered_per_s" in d:
        for name, f, _ in paths:
            print(f"  {name:<20} offered {f['offered_per_s']}/s, steady: submits"
                  f" {_fmt(f['steady_submits_per_s'], 0)}/s, receipts"
                  f" {_fmt(f.get('steady_receipts_per_s'), 0)}/s,"
                  f" ratio {_fmt(f.get('steady_receipt_ratio'), 0)}")  # fmt: skip
    if "daemon_rss_kib" in d:
        marks = ", ".join(f"{k} {v}" for k, v in d["daemon_rss_kib"].items())
        print(f"  daemon VmRSS KiB: {marks}")
    print(f"  daemon e2e ÷ direct e2e: {result['ratio_to_direct']}")


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help=f"submits per run (<= {MAX_N})")
    parser.add_argument(
        "--window",
        type=int,
        default=100,
        help="client window, also the daemon's listener and connector window",
    )
    parser.add_argument("--binds", type=int, default=2, help="the daemon's operator binds")
    parser.add_argument(
        "--receipt-delay",
        type=float,
        default=0.1,
        metavar="S",
        help="the simulators send each receipt S seconds after the submit",
    )
    parser.add_argument(
        "--no-receipts",
        action="store_true",
        help="registered_delivery=0; e2e ends when the simulator has all N",
    )
    parser.add_argument(
        "--rate",
        type=float,
        metavar="R",
        help="pace submits at R per second (at most --window in flight)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="K",
        help="K measured runs per path against the same processes",
    )
    parser.add_argument("--rss", action="store_true", help="sample the daemon's VmRSS")
    parser.add_argument(
        "--receipt-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="fail when receipts are missing and none came for S seconds",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--profile", metavar="FILE", help="run the daemon under cProfile, stats to FILE"
    )
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="record the daemon with py-spy during the first measured run",
    )
    args = parser.parse_args()
    if args.rate is not None and not 0 < args.rate <= 1_000_000:
        parser.error("--rate must be > 0 and <= 1000000")
    if args.receipt_delay < 0 or args.receipt_timeout <= 0:
        parser.error("--receipt-delay must be >= 0 and --receipt-timeout > 0")
    if args.py_spy is not None:
        _py_spy_binary()  # fail before starting anything
    n = max(1, min(args.n, MAX_N))
    result = run(
        n,
        max(1, min(args.window, 1000)),
        binds=max(1, min(args.binds, 32)),
        receipt_delay=args.receipt_delay,
        receipts=not args.no_receipts,
        rate=args.rate,
        repeat=max(1, min(args.repeat, 20)),
        rss=args.rss,
        receipt_timeout=args.receipt_timeout,
        profile=args.profile,
        py_spy=args.py_spy,
    )
    if args.json:
        print(json.dumps({"bench": "e2e", "python": platform.python_version(),
                          "machine": platform.machine(), **result}))  # fmt: skip
        return
    st = result["settings"]
    rd = f"receipts {st['receipt_delay']} s after each submit"
    if not st["registered_delivery"]:
        rd = "no receipts"
    pace = f", paced at {st['rate']}/s" if st["rate"] else ""
    print(
        f"e2e bench: {st['n']} submit_sm, window {st['window']}{pace}, {rd}; daemon connector"
        f" {st['binds']} binds × window {st['window']}; SQLite store (FULL), loopback"
    )
    if len(result["runs"]) > 1:
        for k, one in enumerate(result["runs"], 1):
            _print_table(one, f"run {k}")
        _print_table(result, f"median of {len(result['runs'])} runs")
    else:
        _print_table(result, "result")


if __name__ == "__main__":
    main()
