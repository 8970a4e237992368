"""Session benchmark: our ESME submits N submit_sm to our SMSC responder over loopback TCP.

The responder (:class:`smppcore.net.testing.SmscResponder` behind ``serve_smpp``) runs in a
SEPARATE process started by this script; each process measures its own CPU time
(``time.process_time``) over the session, so CPU µs per message is reported per side.
Windows 1, 10 and 100 by default; the window is kept full by that many sender tasks.

    python bench/session.py                 # table
    python bench/session.py --json          # exactly one JSON object on stdout
    python bench/session.py --repeat 5      # each window 5 times: median [min-max]
    python bench/session.py --profile 100   # cProfile both sides at window 100 (stderr)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import platform
import pstats
import statistics
import subprocess
import sys
import time
from typing import Any

import structlog
import trio

from smppcore.net.client import open_bind_client
from smppcore.net.server import listener_port, serve_smpp
from smppcore.net.testing import SmscResponder
from smppcore.protocol.pdu import BindTransceiver, SubmitSm
from smppcore.protocol.session_events import SessionConfig

MAX_N = 1_000_000
_TEXT = b"Your verification code is 123456. It expires in 10 minutes."


def _profile_text(profiler: cProfile.Profile, limit: int = 18) -> str:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(limit)
    return out.getvalue()


# ---------------------------------------------------------------- responder process
def run_responder(profile: bool) -> None:
    """Serve one connection, then print its CPU use as JSON and exit."""
    profiler = cProfile.Profile() if profile else None

    async def main() -> None:
        responder = SmscResponder(record=False)
        done = trio.Event()
        stats: dict[str, Any] = {}

        async def handler(conn: Any) -> None:
            cpu0 = time.process_time()
            if profiler is not None:
                profiler.enable()
            try:
                await responder(conn)
                await conn.wait_closed()
            finally:
                if profiler is not None:
                    profiler.disable()
                stats["cpu_s"] = time.process_time() - cpu0
                stats["pdus_in"] = conn.statistics().pdus_in
                done.set()

        async with trio.open_nursery() as nursery:
            config = SessionConfig(max_inbound_pending=1000, enquire_link_interval=None)
            listeners = await nursery.start(
                lambda task_status: serve_smpp(
                    handler, "127.0.0.1", 0, config=config, task_status=task_status
                )
            )
            print(f"PORT {listener_port(listeners)}", flush=True)
            await done.wait()
            print(json.dumps(stats), flush=True)
            nursery.cancel_scope.cancel()

    trio.run(main)
    if profiler is not None:
        print("=== responder profile (tottime) ===\n" + _profile_text(profiler), file=sys.stderr)


# ---------------------------------------------------------------- ESME side
async def _esme_run(
    port: int, n: int, window: int, profiler: cProfile.Profile | None
) -> dict[str, Any]:
    config = SessionConfig(window=window, enquire_link_interval=None, response_timeout=60)
    submit = SubmitSm(
        source_addr_ton=1, source_addr_npi=1, source_addr="447700900001",
        dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123",
        registered_delivery=1, short_message=_TEXT,
    )  # fmt: skip
    latencies: list[float] = []
    remaining = n
    bind = BindTransceiver(system_id="bench", password="bench")
    async with open_bind_client("127.0.0.1", port, bind, config=config) as client:
        conn = await client.wait_connected()

        async def sender() -> None:
            nonlocal remaining
            perf = time.perf_counter
            while remaining > 0:
                remaining -= 1
                t0 = perf()
                resp = await conn.request(submit)
                latencies.append(perf() - t0)
                assert resp.command_status == 0

        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        async with trio.open_nursery() as nursery:
            for _ in range(window):
                nursery.start_soon(sender)
        if profiler is not None:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    latencies.sort()
    return {
        "window": window,
        "n": n,
        "wall_s": round(wall, 4),
        "msg_per_s": round(n / wall, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1e3, 3),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3, 3),
        "esme_cpu_us_per_msg": round(cpu / n * 1e6, 2),
    }


def run_one(n: int, window: int, profile: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--role", "responder"] + (
        ["--profile-self"] if profile else []
    )
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while line and not line.startswith("PORT "):
            line = proc.stdout.readline()
        if not line.startswith("PORT "):
            proc.kill()
            raise RuntimeError(f"responder did not start: {line!r}")
        port = int(line.split()[1])
        profiler = cProfile.Profile() if profile else None
        result = trio.run(_esme_run, port, n, window, profiler)
        smsc = _read_json_line(proc.stdout)
        proc.wait(timeout=30)
    result["smsc_cpu_us_per_msg"] = round(smsc["cpu_s"] / n * 1e6, 2)
    if profiler is not None:
        print(f"=== ESME profile, window {window} (tottime) ===\n" + _profile_text(profiler),
              file=sys.stderr)  # fmt: skip
    return result


def _quiet_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _read_json_line(stream: Any) -> dict[str, Any]:
    for line in stream:
        if line.startswith("{"):
            return dict(json.loads(line))
    raise RuntimeError("responder exited without reporting")


def main() -> None:
    _quiet_logs()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["driver", "responder"], default="driver")
    parser.add_argument("-n", type=int, default=20_000, help=f"submits per window (<= {MAX_N})")
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--repeat", type=int, default=1, help="runs per window (median, range)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", type=int, metavar="WINDOW", help="cProfile this window")
    parser.add_argument("--profile-self", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "responder":
        run_responder(args.profile_self)
        return
    n = max(1, min(args.n, MAX_N))
    windows = [args.profile] if args.profile else args.windows
    repeat = 1 if args.profile else max(1, args.repeat)
    runs = [
        [run_one(n, w, profile=args.profile is not None) for _ in range(repeat)] for w in windows
    ]
    results = [_summarise(per_window) for per_window in runs]
    if args.json:
        print(json.dumps({
            "bench": "session", "python": platform.python_version(),
            "machine": platform.machine(), "repeat": repeat, "results": results,
        }))  # fmt: skip
        return
    head = (
        f"{'window':>6} {'msg/s':>22} {'p50 ms':>22} {'p99 ms':>22}"
        f" {'ESME µs/msg':>22} {'SMSC µs/msg':>22}"
    )
    print(f"session bench: {n} submit_sm per window, loopback TCP, responder in its own process")
    if repeat > 1:
        print(f"median [min-max] of {repeat} runs")
    print(head)
    for r in results:
        cells = [_cell(r, key) for key in _KEYS]
        print(f"{r['window']:>6} " + " ".join(f"{c:>22}" for c in cells))


_KEYS = ("msg_per_s", "p50_ms", "p99_ms", "esme_cpu_us_per_msg", "smsc_cpu_us_per_msg")


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One window's runs: the median of each measure, plus ``<key>_range`` [min, max]."""
    summary: dict[str, Any] = {"window": runs[0]["window"], "n": runs[0]["n"]}
    for key in ("wall_s", *_KEYS):
        values = [r[key] for r in runs]
        summary[key] = round(statistics.median(values), 3)
        if len(runs) > 1:
            summary[f"{key}_range"] = [min(values), max(values)]
    return summary


def _cell(result: dict[str, Any], key: str) -> str:
    span = result.get(f"{key}_range")
    if span is None:
        return f"{result[key]}"
    return f"{result[key]:g} [{span[0]:g}-{span[1]:g}]"


if __name__ == "__main__":
    main()
