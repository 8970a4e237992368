"""Operator connector benchmark: one connector with 1, 2 and 4 binds against the simulator.

The SMSC simulator runs in a separate process (so it does not share the CPU measurement).
For each bind count, ``--messages`` messages are queued in a fresh SQLite store (not timed),
then the connector is started and the clock and the process CPU time (``time.process_time``,
all threads: the store's writer thread included) run until every message is acked ENROUTE
(leased, submitted, id map written, acked). The throughput limit is set far above what is
reached, so the figure is the connector's own speed; the window is ``--window`` per bind.

    python bench/connector.py                  # table
    python bench/connector.py --json           # one JSON object
    python bench/connector.py --messages 20000 --binds 1 2 4 --window 10
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
import trio

from connectors.simulator import serve_simulator
from connectors.smpp_operator import create_connector
from smppcore.config.model import ConnectorConfig, SimulatorConfig
from smppcore.config.values import HostPort
from smppcore.connector_api import ConnectorContext
from smppcore.metrics import Metrics
from smppcore.protocol.gsm7 import encode_gsm7
from smppcore.store.base import IdMapEntry, MtMessage, MtState
from smppcore.store.sqlite import open_sqlite_store


class _NullSink:
    async def operator_deliver(self, connector: str, pdus: Sequence[Any]) -> list[int]:
        await trio.lowlevel.checkpoint()
        return [0] * len(pdus)

    async def mt_final(self, message: MtMessage, state: MtState, error_code: int) -> None:
        await trio.lowlevel.checkpoint()

    def submitted(self, message: MtMessage, id_maps: Sequence[IdMapEntry]) -> None:
        pass


def _messages(n: int, now: float) -> list[MtMessage]:
    text = encode_gsm7("Your code is 123456. It expires in ten minutes. Do not share it.")
    return [
        MtMessage(
            id=f"m{i:09d}",
            account="bench",
            connector="op",
            source_addr="447700900000",
            destination_addr=f"4477{i % 1_000_000:07d}",
            payload=text,
            submitted_at=now + i * 1e-6,
            expires_at=now + 3600,
        )
        for i in range(n)
    ]


async def _serve_simulator() -> None:
    """Child mode: run the simulator, print its port, serve until killed."""
    settings = SimulatorConfig(host="127.0.0.1", port=0, control_port=0, receipt_delay=0.0)
    async with trio.open_nursery() as nursery:
        sim = await nursery.start(serve_simulator, settings)
        print(sim.port, flush=True)


async def _run_one(
    port: int, n: int, binds: int, window: int, max_leased: int = 0
) -> dict[str, float]:
    config = ConnectorConfig(
        name="op", hosts=(HostPort("127.0.0.1", port),), system_id="sim", password="simpass",
        binds=binds, window=window, throughput=1_000_000.0, burst=1000,
        options={"poll_interval": 0.05, "max_leased": max_leased},
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        async with open_sqlite_store(Path(tmp) / "bench.db", hash_secret=b"k" * 32) as store:
            await store.enqueue_mt(_messages(n, time.time()))
            ctx = ConnectorContext(store=store, sink=_NullSink(), metrics=Metrics(), retention=None)
            connector = create_connector(config, ctx)
            async with trio.open_nursery() as nursery:
                wall0, cpu0 = time.perf_counter(), time.process_time()
                await nursery.start(connector.run)
                while connector.stats.acked < n:  # noqa: ASYNC110 - a counter, no event
                    await trio.sleep(0.005)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                nursery.cancel_scope.cancel()
            last = await store.get_mt(f"m{n - 1:09d}")
    assert last is not None and last.state is MtState.ENROUTE
    return {
        "binds": binds,
        "messages": n,
        "msg_per_s": round(n / wall, 1),
        "cpu_us_per_msg": round(cpu / n * 1e6, 1),
        "seconds": round(wall, 3),
    }


async def _main(port: int, n: int, bind_counts: list[int], window: int) -> dict[str, Any]:
    runs = [await _run_one(port, n, binds, window) for binds in bind_counts]
    return {"benchmark": "connector", "window": window, "store": "sqlite FULL", "runs": runs}


def _start_simulator() -> tuple[subprocess.Popen[bytes], int]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, __file__, "--serve-simulator"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline().strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--binds", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--serve-simulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.serve_simulator:
        trio.run(_serve_simulator)
        return
    proc, port = _start_simulator()
    try:
        report = trio.run(_main, port, args.messages, args.binds, args.window)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    if args.json:
        json.dump(report, sys.stdout)
        print()
        return
    print(f"window {report['window']} per bind, store {report['store']}")
    print(f"{'binds':>5} {'messages':>9} {'msg/s':>9} {'CPU us/msg':>11}")
    for r in report["runs"]:
        line = f"{r['binds']:>5} {r['messages']:>9} {r['msg_per_s']:>9.0f}"
        print(f"{line} {r['cpu_us_per_msg']:>11.1f}")


if __name__ == "__main__":
    main()
