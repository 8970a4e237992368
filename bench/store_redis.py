"""Benchmark of the Redis store: enqueue + lease + ack throughput, enqueue latency.

Each scenario runs ``--messages`` messages through one store: ``P`` producer tasks enqueue
one message per call (as the server does per ``submit_sm``: durable before the response)
while one consumer task leases batches of ``--lease-batch`` and acks each message of a batch
concurrently (as a connector worker does when the ``submit_sm_resp`` of a window arrive).
Reported per scenario: end-to-end messages/s (first enqueue to last ack), enqueue calls/s,
p50/p99 enqueue latency, and the client process's CPU microseconds per message.

    python bench/store_redis.py [--messages 5000] [--producers 1,8] [--json]

Needs Redis on ``--url`` (default database 15); uses a fresh key prefix and deletes it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from typing import Any

import redis
import trio

from smppcore.store.base import MtMessage, MtState
from smppcore.store.redis import RedisStore, open_redis_store

SECRET = b"bench-secret-0123456789abcdef"


def _delete_prefix(url: str, prefix: str) -> None:
    client: Any = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
    finally:
        client.close()


async def _scenario(
    store: RedisStore, producers: int, messages: int, lease_batch: int
) -> dict[str, float]:
    latencies: list[float] = []
    acked = 0
    done_producing = trio.Event()

    async def produce(worker: int) -> None:
        for n in range(worker, messages, producers):
            m = MtMessage(
                id=f"m{n}",
                account=f"acct{worker % 4}",
                connector="up1",
                source_addr="27600000001",
                destination_addr=f"276{n:08d}",
                payload=b"benchmark message text, about sixty bytes of GSM 7-bit.",
                submitted_at=time.time(),
            )
            t = time.perf_counter()
            await store.enqueue_mt([m])
            latencies.append(time.perf_counter() - t)

    async def consume() -> None:
        nonlocal acked
        while acked < messages:
            got = await store.lease_mt("up1", lease_batch, 30.0, time.time())
            if not got:
                if done_producing.is_set() and acked >= messages:
                    break
                await trio.sleep(0.01)  # idle poll interval of a worker
                continue
            # acks arrive concurrently, as submit_sm_resp do for a window of submits
            async with trio.open_nursery() as acks:
                for m in got:
                    acks.start_soon(store.ack_mt, m.id, MtState.ENROUTE, time.time())
            acked += len(got)

    stats0 = store.statistics()
    start = time.perf_counter()
    cpu_start = time.process_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        async with trio.open_nursery() as prod:
            for w in range(producers):
                prod.start_soon(produce, w)
        enqueue_done = time.perf_counter()
        done_producing.set()
    end = time.perf_counter()
    cpu = time.process_time() - cpu_start
    stats = store.statistics()
    latencies.sort()
    return {
        "producers": producers,
        "messages": messages,
        "end_to_end_msgs_per_s": round(messages / (end - start)),
        "enqueue_calls_per_s": round(messages / (enqueue_done - start)),
        "enqueue_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "enqueue_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "client_cpu_us_per_msg": round(cpu / messages * 1e6),
        "calls_per_round_trip": round(
            (stats.calls - stats0.calls) / max(1, stats.round_trips - stats0.round_trips), 2
        ),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    for p in args.producers:
        prefix = f"smppcore-bench:{uuid.uuid4().hex}:"
        try:
            async with open_redis_store(args.url, hash_secret=SECRET, key_prefix=prefix) as store:
                results.append(await _scenario(store, p, args.messages, args.lease_batch))
        finally:
            await trio.to_thread.run_sync(_delete_prefix, args.url, prefix)
    return {"store": "redis", "url": args.url, "scenarios": results}


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="redis://127.0.0.1:6379/15")
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--producers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8])
    ap.add_argument("--lease-batch", type=int, default=100)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    return ap.parse_args(argv)


if __name__ == "__main__":
    ns = _parse(sys.argv[1:])
    out = trio.run(main, ns)
    if ns.json:
        print(json.dumps(out))
    else:
        for s in out["scenarios"]:
            print(
                f"{s['producers']} producer(s): {s['end_to_end_msgs_per_s']} msg/s end to end,"
                f" {s['enqueue_calls_per_s']} enqueues/s,"
                f" enqueue p50 {s['enqueue_p50_ms']} ms p99 {s['enqueue_p99_ms']} ms,"
                f" client CPU {s['client_cpu_us_per_msg']} us/msg,"
                f" {s['calls_per_round_trip']} calls per round trip"
            )
