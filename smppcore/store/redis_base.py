"""The plumbing of the Redis store: how its calls reach Redis, shared by its parts.

Owns :class:`RedisStoreBase`, the base of :class:`smppcore.store.redis.RedisStore`: the
connection, the worker threads and the group-commit batcher, the registration of every script
(from :mod:`smppcore.store.redis_scripts` and :mod:`smppcore.store.redis_return_scripts`),
the per-number index list of a record and the keyed hash, queue depths, and the helpers that
flatten record fields into script arguments (:func:`flat_fields`, :func:`pexpireat`).

Why the synchronous redis-py client in worker threads (and not redis-py's asyncio API under
trio-asyncio): redis-py's asyncio client needs an asyncio loop; trio-asyncio provides one
inside trio, but every call then crosses two event loops. Measured on the 2-core CI box with
a two-command MULTI pipeline per call (3000 calls, redis-py 8.1, trio-asyncio 0.16 in a
scratch venv): threads 3,980/s with one caller and 3,000-3,400/s with eight; trio-asyncio
1,840/s and 2,060/s. The thread hop costs less than the loop bridge and needs no extra
dependency. The store keeps hops few: every method is one script call or one pipeline, and
concurrent calls are group-committed (:mod:`smppcore.store.redis_batch`): one hop and one
round trip carry every call queued meanwhile, calls of the same script merged into one
``EVALSHA``. Calls are not abandoned on cancellation, so a write either completes or was
never sent before the caller sees the cancellation (no half-known state).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, ParamSpec, TypeVar

import redis
import trio

from smppcore.store import redis_return_scripts as return_lua
from smppcore.store import redis_scripts as lua
from smppcore.store.hashing import MsisdnHasher
from smppcore.store.redis_batch import BatchStatistics, ScriptBatcher
from smppcore.store.redis_codec import canon_address

P_ = ParamSpec("P_")
T = TypeVar("T")

#: Redis drops id maps and conversations this long after ``expires_at`` if no purge ran.
_TTL_GRACE_SECONDS: Final = 86_400.0
#: Every script the store runs, by name, with the module that holds it.
_SCRIPTS: Final = (
    (lua, (
        "ENQUEUE_MT", "LEASE_MT", "ACK_MT", "NACK_MT", "CANCEL_MT", "REPLACE_MT",
        "PUT_ID_MAPS", "ACCEPT_PART", "PUT_CONVERSATIONS", "IS_SUPPRESSED", "PURGE", "ERASE",
    )),
    (return_lua, (
        "FINALISE_MT", "RECORD_SEGMENT", "MATCH_RECEIPT", "HOLD_RECEIPTS", "DUE_PENDING",
        "DROP_PENDING", "PUT_REPLY_PARTS", "REPLY_PARTS", "DROP_REPLY_PARTS",
        "ENQUEUE_DELIVERY", "LEASE_DELIVERY", "ACK_DELIVERY", "NACK_DELIVERY",
        "RELEASE_DELIVERIES",
    )),
)  # fmt: skip


def flat_fields(fields: Mapping[str, bytes | str]) -> list[bytes | str]:
    """``fields`` as script arguments: their count, then name and value pairs."""
    out: list[bytes | str] = [str(len(fields))]
    for name, value in fields.items():
        out += [name, value]
    return out


def pexpireat(expires_at: float) -> str:
    """The TTL backstop of a record, only if it lies in the real future (tests use small
    fake clocks, whose times Redis would take as long past)."""
    if expires_at <= 0 or expires_at <= time.time():
        return "0"
    return str(int((expires_at + _TTL_GRACE_SECONDS) * 1000))


class RedisStoreBase:
    """What every part of :class:`smppcore.store.redis.RedisStore` calls Redis through."""

    def __init__(
        self, client: redis.Redis, hasher: MsisdnHasher, prefix: str, max_threads: int
    ) -> None:
        self._r = client
        self._hash = hasher
        self._p = prefix
        self._limiter = trio.CapacityLimiter(max_threads)
        sources = {name: getattr(module, name) for module, names in _SCRIPTS for name in names}
        self._scripts = {name: client.register_script(source) for name, source in sources.items()}
        # Every script a caller runs through the batcher also exists in a batch variant.
        merged = {
            self._scripts[name]: client.register_script(lua.multi(source))
            for name, source in sources.items()
            if name not in ("PURGE", "ERASE")
        }
        self._batcher = ScriptBatcher(client, self._limiter, merged)

    # --- plumbing ----------------------------------------------------------------------------
    async def _run(self, fn: Callable[P_, T], *args: P_.args, **kwargs: P_.kwargs) -> T:
        return await trio.to_thread.run_sync(
            functools.partial(fn, *args, **kwargs), limiter=self._limiter
        )

    def _call(self, script: str, *args: bytes | str) -> Any:
        """Run one script (``EVALSHA``, loading it on ``NOSCRIPT``); blocking."""
        return self._scripts[script](keys=[], args=[self._p, *args])

    async def _script(self, script: str, *args: bytes | str) -> Any:
        """Run one script through the group-commit batcher."""
        return await self._batcher.call(self._scripts[script], [self._p, *args])

    def _idx(self, *addresses: str) -> str:
        """The index list of a record: hashes of the numbers it mentions."""
        hashes = {self._hash(canon_address(a)) for a in addresses if canon_address(a)}
        return " ".join(sorted(hashes))

    def hash_msisdn(self, value: str) -> str:
        return self._hash(value)

    def statistics(self) -> BatchStatistics:
        """Group-commit counters: script calls, the round trips that carried them."""
        return self._batcher.statistics()

    async def ping(self) -> None:
        await self._run(self._r.ping)

    def _depth(self, kind: str, owner: str) -> int:
        pipe = self._r.pipeline(transaction=True)
        for stage in ("s", "q", "l"):
            pipe.zcard(f"{self._p}{kind}{stage}:{owner}")
        return sum(int(n) for n in pipe.execute())
