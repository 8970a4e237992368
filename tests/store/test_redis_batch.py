"""The group-commit batcher of the Redis store (needs Redis; see redis_support)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis
import trio
import trio.testing

from smppcore.store import redis_scripts as lua
from smppcore.store.base import StoreClosedError
from smppcore.store.redis import open_redis_store
from smppcore.store.redis_batch import ScriptBatcher
from tests.store.redis_support import (
    HASH_SECRET,
    REDIS_MARKS,
    REDIS_URL,
    cleaned,
    new_prefix,
    require_redis,
)

pytestmark = REDIS_MARKS


async def test_concurrent_calls_each_get_their_own_reply_or_error() -> None:
    require_redis()
    client: Any = redis.Redis.from_url(REDIS_URL)
    # A script text no server has seen yet: the first pipelined EVALSHA gets NOSCRIPT.
    script = client.register_script(
        f"-- {uuid.uuid4().hex}\n"
        "if ARGV[1] == 'boom' then return redis.error_reply('boom') end\n"
        "return ARGV[1] .. '!'"
    )
    batcher = ScriptBatcher(client, trio.CapacityLimiter(4))
    results: dict[str, object] = {}

    async def one(arg: str) -> None:
        try:
            results[arg] = await batcher.call(script, [arg])
        except redis.ResponseError as exc:
            results[arg] = f"error {exc}"

    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(batcher.run_flusher)
                async with trio.open_nursery() as callers:
                    for n in range(50):
                        callers.start_soon(one, "boom" if n % 7 == 0 else f"a{n}")
                batcher.close()
    finally:
        client.close()
    assert results == {
        ("boom" if n % 7 == 0 else f"a{n}"): ("error boom" if n % 7 == 0 else f"a{n}!".encode())
        for n in range(50)
    }


async def test_an_error_in_the_body_leaves_the_store_unwrapped() -> None:
    require_redis()
    async with cleaned(new_prefix("unwrap")) as prefix:
        with trio.fail_after(10), pytest.raises(KeyError):
            async with open_redis_store(REDIS_URL, hash_secret=HASH_SECRET, key_prefix=prefix):
                raise KeyError("mine")


async def test_calls_of_one_script_merge_into_its_batch_variant() -> None:
    require_redis()
    client: Any = redis.Redis.from_url(REDIS_URL)
    tag = uuid.uuid4().hex  # never loaded before: the merged call meets NOSCRIPT first
    lib = f"local P = ARGV[1]\n-- {tag}\n"
    body = "if ARGV[2] == 'boom' then return redis.error_reply('boom') end\nreturn P .. ARGV[2]"
    plain = client.register_script(lib + body)
    merged = client.register_script(
        lib + "local function body(ARGV)\n" + body + "\nend\n" + lua._MULTI_LOOP
    )
    batcher = ScriptBatcher(client, trio.CapacityLimiter(4), {plain: merged})
    merged_calls: list[int] = []
    send = batcher._flush

    def counting(batch: Any) -> None:
        merged_calls.append(len(batch))
        send(batch)

    batcher._flush = counting  # type: ignore[method-assign]
    results: dict[str, object] = {}

    async def one(arg: str) -> None:
        try:
            results[arg] = await batcher.call(plain, ["x:", arg])
        except redis.ResponseError as exc:
            results[arg] = f"error {exc}"

    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(batcher.run_flusher)
                async with trio.open_nursery() as callers:
                    for n in range(40):
                        callers.start_soon(one, f"a{n}")
                assert results == {f"a{n}": f"x:a{n}".encode() for n in range(40)}
                assert max(merged_calls) > 1, "the calls were never batched"
                # an error reply reaches its own caller only
                results.clear()
                async with trio.open_nursery() as callers:
                    for arg in ("b0", "boom", "b1"):
                        callers.start_soon(one, arg)
                assert str(results.pop("boom")).startswith("error")
                assert results == {"b0": b"x:b0", "b1": b"x:b1"}
                batcher.close()
    finally:
        client.close()


async def test_calls_queued_when_the_flushers_end_fail_instead_of_waiting_forever() -> None:
    """The flushers are cancelled (the store's nursery is) while calls wait in the queue: those
    callers wait shielded, so they must be answered (with an error) by the last flusher to go,
    and a call after that must fail at once."""
    require_redis()
    client: Any = redis.Redis.from_url(REDIS_URL)
    script = client.register_script("return ARGV[1]")
    batcher = ScriptBatcher(client, trio.CapacityLimiter(4))
    results: dict[int, object] = {}

    async def one(n: int) -> None:
        try:
            results[n] = await batcher.call(script, [str(n)])
        except StoreClosedError:
            results[n] = "closed"

    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                for n in range(20):
                    nursery.start_soon(one, n)
                # The first call runs in a thread, the others queue up behind it (polled: a
                # thread's end has no event to wait for; fail_after bounds it).
                queued = batcher._send.statistics
                while len(results) < 1 or queued().current_buffer_used < 19:  # noqa: ASYNC110
                    await trio.sleep(0.01)
                with trio.CancelScope() as scope:
                    scope.cancel()
                    await batcher.run_flusher()
                await trio.testing.wait_all_tasks_blocked()
                answered = len(results)
                while answered < 20:  # the bug: release them, so the test fails, not hangs
                    try:
                        batcher._receive.receive_nowait().done.set()
                    except trio.WouldBlock:
                        break
            assert answered == 20
            ran = {n: v for n, v in results.items() if v != "closed"}
            assert [str(n).encode() for n in ran] == list(ran.values())  # the one in a thread
            assert len(ran) == 1
            with pytest.raises(StoreClosedError):
                await batcher.call(script, ["late"])
    finally:
        client.close()
