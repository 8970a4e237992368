"""End-to-end benchmark: load → daemon → simulator, and the same load straight to the simulator.

Three processes: the SMSC simulator (``smppcore simulate``), the daemon (``smppcore run``,
SQLite store in a temporary data dir, its built-in simulator off, its connector bound to the
simulator process) and this driver, an ESME on our own stack keeping ``--window`` submits in
flight. Per run it reports

* ``accept_msg_per_s`` / ``p50_ms`` / ``p99_ms``: client submit_sm → submit_sm_resp (for the
  daemon: checked, routed and durable in the store);
* ``e2e_msg_per_s``: first submit → the simulator has received all N (daemon run only);
* ``daemon_cpu_us_per_msg``: the daemon's utime+stime from ``/proc/<pid>/stat`` over the
  run, divided by N (Linux only); ``daemon_main_thread_us_per_msg`` is the share of the trio
  thread (``/proc/<pid>/task/<pid>/stat``), the rest ran in worker threads (the SQLite
  writer and readers). The trio thread is the one that saturates first.

The direct run binds to the simulator as its operator account and sends the same N.

    python bench/e2e.py                  # table
    python bench/e2e.py -n 5000 --json   # exactly one JSON object on stdout
    python bench/e2e.py --profile d.prof # the daemon under cProfile (slower; CPU includes it)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import structlog
import trio

from smppcore.net.client import open_bind_client
from smppcore.protocol.pdu import BindTransceiver, SubmitSm
from smppcore.protocol.session_events import SessionConfig

REPO = Path(__file__).resolve().parents[1]
SMPPCORE = Path(sys.executable).with_name("smppcore")
MAX_N = 200_000
_TEXT = b"Your verification code is 123456. It expires in 10 minutes."
_HANDSETS = 1000
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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


def _configs(directory: Path, window: int) -> tuple[Path, Path, dict[str, int]]:
    """(daemon config, simulator config, ports) derived from configs/local.toml: no rate limits
    in the way, the simulator in its own process, WARNING logs."""
    client, metrics, sim, control = _free_ports(4)
    text = (REPO / "configs" / "local.toml").read_text()
    text = _sub(text, r"^port = 2775$", f"port = {client}")
    text = _sub(text, r"^port = 9775$", f"port = {metrics}")
    text = _sub(text, r"^port = 2776$", f"port = {sim}")
    text = _sub(text, r"^control_port = 2777$", f"control_port = {control}")
    text = _sub(text, r'^hosts = \["127.0.0.1:2776"\]', f'hosts = ["127.0.0.1:{sim}"]')
    text = _sub(text, r'^level = "info"$', 'level = "warning"')
    text = _sub(text, r'^format = "console"$', 'format = "json"')
    text = _sub(text, r"^throughput = 100\nburst = 100$", "throughput = 1000000\nburst = 1000000")
    text = _sub(text, r"^max_queued = 10000$", "max_queued = 1000000")
    text = _sub(
        text, r"^window = 10\nthroughput = 200$", f"window = {window}\nthroughput = 1000000"
    )
    text = _sub(text, r"^window = 10\n", f"window = {window}\n")  # the client listener
    simulator = text
    daemon = _sub(text, r"^\[simulator\]\nenabled = true$", "[simulator]\nenabled = false")
    daemon_path, sim_path = directory / "daemon.toml", directory / "simulator.toml"
    daemon_path.write_text(daemon)
    sim_path.write_text(simulator)
    return daemon_path, sim_path, {"client": client, "metrics": metrics, "sim": sim,
                                   "control": control}  # fmt: skip


def _cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of ``pid`` in seconds, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK


def _thread_cpu_seconds(pid: int) -> float:
    """utime + stime of the main thread of ``pid`` (the trio thread of the daemon)."""
    with open(f"/proc/{pid}/task/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid``."""
    return sum(_cpu_times(pid))


def _http_json(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
        return dict(json.loads(reply.read()))


def _wait_port(port: int, process: subprocess.Popen[bytes], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port} after {limit}s")


def _wait_received(
    control_port: int, target: int, processes: list[subprocess.Popen[bytes]], limit: float
) -> None:
    """Until the simulator has received ``target`` submits; bounded, and fails fast when the
    daemon or the simulator has died (their logs say why)."""
    deadline = time.monotonic() + limit
    while _http_json(control_port, "/stats")["submits_received"] < target:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{process.args!r} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the simulator did not receive {target} submits in {limit}s")
        time.sleep(0.01)


def _submit(destination: str) -> SubmitSm:
    return SubmitSm(
        source_addr_ton=1, source_addr_npi=1, source_addr="27600000001",
        dest_addr_ton=1, dest_addr_npi=1, destination_addr=destination,
        short_message=_TEXT,
    )  # fmt: skip


async def _load(
    port: int, system_id: str, password: str, n: int, window: int
) -> tuple[float, list[float]]:
    """Send ``n`` submits with ``window`` in flight; (wall seconds, sorted latencies)."""
    config = SessionConfig(window=window, enquire_link_interval=None, response_timeout=60)
    # Many handsets: the connector keeps per-destination order, so one handset would
    # serialise the whole load.
    submits = [_submit(f"278212{i:05d}") for i in range(_HANDSETS)]
    latencies: list[float] = []
    remaining = n
    failures = 0
    bind = BindTransceiver(system_id=system_id, password=password)
    async with open_bind_client("127.0.0.1", port, bind, config=config) as client:
        conn = await client.wait_connected()

        async def sender() -> None:
            nonlocal remaining, failures
            perf = time.perf_counter
            while remaining > 0:
                remaining -= 1
                t0 = perf()
                resp = await conn.request(submits[remaining % _HANDSETS])
                latencies.append(perf() - t0)
                if resp.command_status != 0:
                    failures += 1

        wall0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(window):
                nursery.start_soon(sender)
        wall = time.perf_counter() - wall0
    if failures:
        raise SystemExit(f"{failures} of {n} submits were refused")
    latencies.sort()
    return wall, latencies


def _summary(n: int, wall: float, latencies: list[float]) -> dict[str, Any]:
    return {
        "n": n,
        "accept_msg_per_s": round(n / wall, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1e3, 3),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3, 3),
    }


def run(n: int, window: int, profile: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="smppcore-bench-") as tmp:
        directory = Path(tmp)
        daemon_cfg, sim_cfg, ports = _configs(directory, window)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        sim_log = (directory / "simulator.log").open("wb")
        daemon_log = (directory / "daemon.log").open("wb")
        sim = subprocess.Popen([str(SMPPCORE), "simulate", "--config", str(sim_cfg)],
                               stdout=sim_log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
        daemon = None
        try:
            _wait_port(ports["control"], sim)
            profiler = [] if profile is None else [sys.executable, "-m", "cProfile", "-o", profile]
            daemon = subprocess.Popen(
                [*profiler, str(SMPPCORE), "run", "--config", str(daemon_cfg),
                 "--data-dir", str(directory / "data")],
                stdout=daemon_log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
            _wait_port(ports["client"], daemon)
            bind_deadline = time.monotonic() + 30
            while _http_json(ports["control"], "/stats")["sessions_bound"] < 1:
                if time.monotonic() > bind_deadline or daemon.poll() is not None:
                    raise SystemExit("the daemon's connector never bound to the simulator")
                time.sleep(0.05)
            # Warm-up (imports, caches, first store pages), not measured.
            trio.run(_load, ports["client"], "demo", "demopass", min(500, n), window)
            _wait_received(ports["control"], min(500, n), [daemon, sim], limit=120)
            base = _http_json(ports["control"], "/stats")["submits_received"]

            main0 = _thread_cpu_seconds(daemon.pid)
            user0, sys0 = _cpu_times(daemon.pid)
            start = time.perf_counter()
            wall, latencies = trio.run(_load, ports["client"], "demo", "demopass", n, window)
            _wait_received(ports["control"], base + n, [daemon, sim], limit=600)
            e2e_wall = time.perf_counter() - start
            user1, sys1 = _cpu_times(daemon.pid)
            main1 = _thread_cpu_seconds(daemon.pid)
            through = _summary(n, wall, latencies)
            through["e2e_msg_per_s"] = round(n / e2e_wall, 1)
            through["daemon_cpu_us_per_msg"] = round((user1 - user0 + sys1 - sys0) / n * 1e6, 1)
            through["daemon_user_us_per_msg"] = round((user1 - user0) / n * 1e6, 1)
            through["daemon_sys_us_per_msg"] = round((sys1 - sys0) / n * 1e6, 1)
            through["daemon_main_thread_us_per_msg"] = round((main1 - main0) / n * 1e6, 1)

            sim_cpu0 = _cpu_seconds(sim.pid)
            wall, latencies = trio.run(_load, ports["sim"], "sim", "simpass", n, window)
            direct = _summary(n, wall, latencies)
            direct["simulator_cpu_us_per_msg"] = round(
                (_cpu_seconds(sim.pid) - sim_cpu0) / n * 1e6, 1
            )
        except BaseException:
            for name in ("daemon.log", "simulator.log"):
                tail = (directory / name).read_bytes()[-4000:].decode(errors="replace")
                print(f"--- last lines of the {name} ---\n{tail}", file=sys.stderr)
            raise
        finally:
            for process in (daemon, sim):
                if process is not None:
                    process.terminate()
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        process.kill()
            sim_log.close()
            daemon_log.close()
    return {"window": window, "through_daemon": through, "direct_to_simulator": direct}


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help=f"submits per run (<= {MAX_N})")
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--profile", metavar="FILE", help="run the daemon under cProfile, stats to FILE"
    )
    args = parser.parse_args()
    n = max(1, min(args.n, MAX_N))
    result = run(n, max(1, args.window), args.profile)
    if args.json:
        print(json.dumps({"bench": "e2e", "python": platform.python_version(),
                          "machine": platform.machine(), **result}))  # fmt: skip
        return
    d, s = result["through_daemon"], result["direct_to_simulator"]
    print(f"e2e bench: {n} submit_sm, window {result['window']}, SQLite store (FULL), loopback")
    print(f"{'path':<22} {'accept/s':>9} {'e2e/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
          f" {'CPU µs/msg':>11}")  # fmt: skip
    print(f"{'client→daemon→sim':<22} {d['accept_msg_per_s']:>9} {d['e2e_msg_per_s']:>8} "
          f"{d['p50_ms']:>8} {d['p99_ms']:>8} {d['daemon_cpu_us_per_msg']:>11}")  # fmt: skip
    print(f"{'client→sim':<22} {s['accept_msg_per_s']:>9} {'':>8} "
          f"{s['p50_ms']:>8} {s['p99_ms']:>8} {s['simulator_cpu_us_per_msg']:>11}")  # fmt: skip


if __name__ == "__main__":
    main()
