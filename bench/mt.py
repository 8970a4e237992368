"""MT path benchmark: N submit_sm over loopback into the in-process gateway (SQLite store).

The gateway (server, policy, routing, SQLite group commit) runs in this process; the client
runs in a separate process (our own ESME-role connection, ``--window`` requests in flight) so
its CPU is not counted. Reports accepted msg/s, p50/p99 submit→resp latency seen by the
client, and CPU µs per message in the gateway process (all threads, incl. the SQLite writer).

    python bench/mt.py --n 20000 --window 64
    python bench/mt.py --n 20000 --profile     # cProfile of the gateway's trio thread
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import logging
import pstats
import sys
import tempfile
import time
from pathlib import Path

import structlog
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smppcore.config.model import AccountConfig, Config, ListenerConfig, RouteConfig
from smppcore.config.values import NumberPattern, RouteTarget
from smppcore.gateway.context import build_gateway
from smppcore.gateway.server import serve_clients
from smppcore.metrics import Metrics
from smppcore.passwords import hash_password
from smppcore.store.sqlite import open_sqlite_store

PASSWORD = "benchpw"


def _config(window: int) -> tuple[Config, ListenerConfig]:
    listener = ListenerConfig(host="127.0.0.1", port=0, window=window)
    account = AccountConfig(
        system_id="bench",
        password_hash=hash_password(PASSWORD, n=2**4, r=1, p=1),
        source_numbers=(NumberPattern.from_config("27600000000-27600000999"),),
        throughput=1e9,
        burst=10**9,
        max_queued=10**9,
    )
    routes = (RouteConfig(connectors=(RouteTarget("sim"),), prefix="27"),)
    return Config(accounts=(account,), routes=routes, listeners=(listener,)), listener


# --- client (separate process) ---------------------------------------------------------------


async def _client(port: int, n: int, window: int) -> dict[str, float]:
    from smppcore.net.client import bind, connect_smpp
    from smppcore.net.connection import open_smpp_connection
    from smppcore.protocol.pdu import BindTransmitter, SubmitSm
    from smppcore.protocol.session_events import SessionConfig
    from smppcore.protocol.states import Role

    latencies: list[float] = []
    failures = 0
    stream = await connect_smpp("127.0.0.1", port)
    async with open_smpp_connection(stream, Role.ESME, SessionConfig(window=window)) as conn:
        await bind(conn, BindTransmitter(system_id="bench", password=PASSWORD))
        pdus = [
            SubmitSm(
                source_addr_ton=1,
                source_addr_npi=1,
                source_addr=f"27600000{i % 1000:03d}",
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=f"2760000{i % 5000 + 1000:04d}",
                short_message=b"benchmark message text",
            )
            for i in range(n)
        ]
        next_index = 0

        async def worker() -> None:
            nonlocal next_index, failures
            while next_index < n:
                pdu = pdus[next_index]
                next_index += 1
                t0 = time.perf_counter()
                resp = await conn.request(pdu)
                latencies.append(time.perf_counter() - t0)
                if resp.command_status:
                    failures += 1

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(window):
                nursery.start_soon(worker)
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "elapsed": elapsed,
        "failures": failures,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
    }


# --- gateway (this process) ------------------------------------------------------------------


async def _gateway(n: int, window: int, profile: bool) -> None:
    config, listener = _config(window)
    with tempfile.TemporaryDirectory() as tmp:
        async with open_sqlite_store(Path(tmp) / "bench.db", hash_secret=b"k" * 32) as store:
            gateway = build_gateway(config, store, Metrics(), {})
            async with trio.open_nursery() as nursery:
                port = await nursery.start(
                    functools.partial(serve_clients, gateway, listener, port=0)
                )
                cmd = [sys.executable, __file__, "--client", str(port), "--n", str(n),
                       "--window", str(window)]  # fmt: skip
                profiler = cProfile.Profile() if profile else None
                cpu0 = time.process_time()
                if profiler:
                    profiler.enable()
                result = await trio.run_process(cmd, capture_stdout=True)
                if profiler:
                    profiler.disable()
                cpu = time.process_time() - cpu0
                nursery.cancel_scope.cancel()
            queued = await store.queue_depth("sim")
    stats = json.loads(result.stdout.decode().strip().splitlines()[-1])
    accepted = n - int(stats["failures"])
    print(f"messages            {n} (accepted {accepted}, queued in store {queued})")
    print(f"window              {window}")
    print(f"throughput          {accepted / stats['elapsed']:.0f} msg/s")
    print(f"latency p50 / p99   {stats['p50_ms']:.2f} / {stats['p99_ms']:.2f} ms")
    print(f"gateway CPU         {cpu / n * 1e6:.0f} us/message (incl. bind and setup)")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.client:
        print(json.dumps(trio.run(_client, args.client, args.n, args.window)))
    else:
        trio.run(_gateway, args.n, args.window, args.profile)


if __name__ == "__main__":
    main()
