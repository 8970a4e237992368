"""A store client that ``test_redis_crash`` runs as a child process and SIGKILLs.

``python -m tests.store.redis_crash_child <role> <prefix> <now> <limit>``; roles:

* ``produce``: enqueue small batches forever; after each ``enqueue_mt`` returns, print the
  batch's ids (one line), so every printed id is one the store acknowledged.
* ``lease-and-hang``: lease up to ``limit`` messages at ``now`` with a 60 s lease, print
  ``<id> <attempts>`` per message and ``leased``, then wait to be killed.
* ``drain``: lease (at ``now``, up to ``limit`` at a time) and ack until nothing is left;
  print ``<id> <attempts>`` per leased message and ``done`` at the end.
"""

from __future__ import annotations

import sys

import trio

from smppcore.store.base import MtAck, MtMessage
from smppcore.store.redis import RedisStore, open_redis_store
from tests.store.redis_support import HASH_SECRET, REDIS_URL

CONNECTOR = "up1"


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _produce(store: RedisStore, tag: str) -> None:
    n = 0
    while True:
        size = 1 + n % 4
        batch = [
            MtMessage(
                id=f"{tag}-{n + i}",
                account="acme",
                connector=CONNECTOR,
                source_addr="27600000001",
                destination_addr="27600000002",
                payload=b"crash test",
                submitted_at=float(n + i),
            )
            for i in range(size)
        ]
        await store.enqueue_mt(batch)
        n += size
        _say(" ".join(m.id for m in batch))


async def _lease_and_hang(store: RedisStore, now: float, limit: int) -> None:
    for m in await store.lease_mt(CONNECTOR, limit, 60.0, now):
        _say(f"{m.id} {m.attempts}")
    _say("leased")
    await trio.sleep_forever()


async def _drain(store: RedisStore, now: float, limit: int) -> None:
    while True:
        got = await store.lease_mt(CONNECTOR, limit, 60.0, now)
        if not got:
            break
        for m in got:
            _say(f"{m.id} {m.attempts}")
            await store.ack_mt([MtAck(m.id)])
    _say("done")


async def main(role: str, prefix: str, now: float, limit: int) -> None:
    async with open_redis_store(REDIS_URL, hash_secret=HASH_SECRET, key_prefix=prefix) as store:
        if role == "produce":
            await _produce(store, f"p{int(now)}")
        elif role == "lease-and-hang":
            await _lease_and_hang(store, now, limit)
        elif role == "drain":
            await _drain(store, now, limit)
        else:
            raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
