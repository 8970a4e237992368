"""A SQLite store client that ``test_sqlite_crash`` runs as a child process and SIGKILLs.

``python -m tests.store.sqlite_crash_child <db path> <tag>``: enqueues messages one per
``enqueue_mt`` call, several calls in flight at once (so group commits of many writers are
being written when the kill lands), and prints ``E <id>`` once a call returned. Every tenth
message it also leases up to three messages at a fixed time ``LEASE_AT`` for 60 s and prints
``L <id>`` for each; those are never acked.
"""

from __future__ import annotations

import sys

import trio

from smppcore.store.base import MtMessage
from smppcore.store.sqlite import SqliteStore, open_sqlite_store

HASH_SECRET = b"crash-test-secret-0123456789"
CONNECTOR = "up1"
LEASE_AT = 1_800_000_000.0
LEASE_SECONDS = 60.0
WRITERS = 4


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _writer(store: SqliteStore, tag: str, k: int) -> None:
    n = 0
    while True:
        mid = f"{tag}-{k}-{n}"
        await store.enqueue_mt(
            [
                MtMessage(
                    id=mid,
                    account="acme",
                    connector=CONNECTOR,
                    source_addr="ACME",
                    destination_addr="27600000002",
                    payload=b"crash test " + mid.encode(),
                    submitted_at=LEASE_AT - 1000 + n,
                )
            ]
        )
        _say(f"E {mid}")
        n += 1
        if k == 0 and n % 10 == 0:
            for m in await store.lease_mt(CONNECTOR, 3, LEASE_SECONDS, LEASE_AT):
                _say(f"L {m.id}")


async def main(path: str, tag: str) -> None:
    async with open_sqlite_store(path, hash_secret=HASH_SECRET) as store:
        _say("ready")
        async with trio.open_nursery() as nursery:
            for k in range(WRITERS):
                nursery.start_soon(_writer, store, tag, k)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
