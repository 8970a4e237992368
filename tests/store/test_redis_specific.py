"""Redis-only behaviour beyond the shared contract (needs Redis; see redis_support)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from smppcore.store.base import Conversation, IdMapEntry, MtAck, MtFinal, MtMessage, MtState
from smppcore.store.redis import RedisStore, open_redis_store
from tests.store.redis_support import (
    HASH_SECRET,
    REDIS_MARKS,
    REDIS_URL,
    cleaned,
    new_prefix,
    require_redis,
    sync_client,
)

pytestmark = REDIS_MARKS

T0 = 1_800_000_000.0


def _mt(mid: str, **kw: object) -> MtMessage:
    fields: dict[str, object] = {
        "id": mid,
        "account": "acme",
        "connector": "up1",
        "source_addr": "31337",
        "destination_addr": "27600000009",
        "payload": b"text",
        "submitted_at": T0,
    }
    fields.update(kw)
    return MtMessage(**fields)  # type: ignore[arg-type]


@asynccontextmanager
async def _store(prefix: str) -> AsyncIterator[RedisStore]:
    async with open_redis_store(REDIS_URL, hash_secret=HASH_SECRET, key_prefix=prefix) as s:
        yield s


async def test_a_message_is_purged_only_once_final() -> None:
    require_redis()
    async with cleaned(new_prefix("purge-final")) as prefix, _store(prefix) as store:
        with trio.fail_after(10):
            await store.enqueue_mt([_mt("m1", expires_at=T0 + 10)])
            await store.lease_mt("up1", 1, 30.0, T0)
            await store.ack_mt([MtAck("m1")])
            assert (await store.purge(T0 + 20))["mt_messages"] == 0
            assert await store.get_mt("m1") is not None
            await store.finalise_mt([MtFinal("m1", MtState.DELIVERED, T0 + 30)])
            assert (await store.purge(T0 + 40))["mt_messages"] == 1


async def test_enqueue_of_a_known_id_keeps_the_first_record() -> None:
    require_redis()
    async with cleaned(new_prefix("dup")) as prefix, _store(prefix) as store:
        with trio.fail_after(10):
            await store.enqueue_mt([_mt("m1")])
            assert [m.id for m in await store.lease_mt("up1", 5, 30.0, T0)] == ["m1"]
            await store.enqueue_mt([_mt("m1", payload=b"again")])  # a client's retry
            m = await store.get_mt("m1")
            assert m is not None and m.state is MtState.LEASED and m.payload == b"text"
            assert await store.queue_depth("up1") == 1


async def test_two_daemons_on_one_prefix_never_lease_the_same_message() -> None:
    require_redis()
    async with cleaned(new_prefix("two")) as prefix, _store(prefix) as a, _store(prefix) as b:
        with trio.fail_after(20):
            await a.enqueue_mt([_mt(f"m{n}", priority=n % 4) for n in range(300)])
            got: dict[str, list[str]] = {"a": [], "b": []}

            async def drain(name: str, store: RedisStore) -> None:
                while batch := await store.lease_mt("up1", 7, 30.0, T0):
                    got[name] += [m.id for m in batch]

            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(drain, "a", a)
                    nursery.start_soon(drain, "b", b)
            everything = got["a"] + got["b"]
            assert sorted(everything) == sorted(f"m{n}" for n in range(300))
            assert len(set(everything)) == 300


async def test_id_maps_and_conversations_get_a_ttl_backstop_only_in_the_future() -> None:
    require_redis()
    async with cleaned(new_prefix("ttl")) as prefix, _store(prefix) as store:
        with trio.fail_after(10):
            future = time.time() + 3600
            await store.put_id_maps(
                [
                    IdMapEntry("up1", "FUT", "m1", "acme", expires_at=future),
                    IdMapEntry("up1", "PAST", "m1", "acme", expires_at=T0 - 1e9),
                ]
            )
            await store.put_conversations([Conversation("31337", "276", "acme", 0, future)])

            def ttls() -> list[int]:
                with sync_client() as client:
                    conv = next(iter(client.scan_iter(match=prefix + "conv:*")))
                    return [
                        client.pttl(f"{prefix}idmap:up1:FUT"),
                        client.pttl(f"{prefix}idmap:up1:PAST"),
                        client.pttl(conv),
                    ]

            fut, past, conv = await trio.to_thread.run_sync(ttls)
            assert fut > 3_600_000  # expiry plus the grace period
            assert past == -1  # no TTL: a fake clock's past is not Redis's past
            assert conv > 3_600_000
            assert await store.get_id_map("up1", "PAST") is not None
