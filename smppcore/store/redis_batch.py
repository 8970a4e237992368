"""Group commit for the Redis store: concurrent script calls share one thread hop and one
pipelined round trip.

A call to :meth:`ScriptBatcher.call` queues ``(script, args)`` and waits. ``flushers`` tasks
each take everything queued at that moment, send it as one non-transactional pipeline of
``EVALSHA`` commands from a worker thread, and hand each caller its own reply (or its own
error). Each script stays atomic on the server; the batch as a whole is not a transaction,
nor does it need to be. A lone caller (nothing else in flight) runs its call in a thread
directly; eight concurrent callers pay one
hop between them instead of eight, which is what bounds throughput on a small box (a thread
hop costs about as much as a Redis round trip there).

Calls of one script are merged into one call of its batch variant (one ``EVALSHA`` for the
group). An error reply reaches only its own caller; a Lua runtime error (a bug, a key of the
wrong type) aborts the merged call and every caller in it gets the error, knowing as little
about what was written as after a lost connection (Redis does not roll scripts back).

A caller that is cancelled while its command is queued or in flight still waits for the
reply (shielded, bounded by the socket timeout), so a write either happened or did not before
the cancellation is seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
import redis
import trio
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from smppcore.store.base import StoreClosedError

#: Upper bound on calls per pipeline, so one flush cannot grow without limit.
MAX_BATCH: Final = 256
#: Upper bound on the arguments of one merged call, so it cannot hold the server for long.
MAX_MERGED_ARGS: Final = 20_000


@attrs.frozen
class BatchStatistics:
    """Counters of the batcher. ``commits``/``writes`` are the names the SQLite engine's
    statistics use (round trips and calls here), so one benchmark reads both stores."""

    round_trips: int
    calls: int
    largest_batch: int

    @property
    def commits(self) -> int:
        return self.round_trips

    @property
    def writes(self) -> int:
        return self.calls


@attrs.define(eq=False)
class _Pending:
    script: Script
    args: Sequence[bytes | str]
    done: trio.Event = attrs.field(factory=trio.Event)
    result: Any = None
    error: BaseException | None = None


class ScriptBatcher:
    """Queue of script calls flushed in pipelines by a few tasks of the owner's nursery."""

    def __init__(
        self,
        client: redis.Redis,
        limiter: trio.CapacityLimiter,
        multi: Mapping[Script, Script] | None = None,
    ) -> None:
        """``multi`` maps a script to its batch variant: ARGV ``P, n, args..., n, args...``
        (each call's arguments without its first, shared one), reply one result per call."""
        self._client = client
        self._limiter = limiter
        self._multi = {id(k): v for k, v in (multi or {}).items()}
        self._busy = 0  # round trips in flight
        self._flushers = 0  # run_flusher tasks running
        self._ended = False  # the last flusher has ended: no call is served any more
        self._round_trips = 0
        self._calls = 0
        self._largest = 0
        self._send, self._receive = trio.open_memory_channel[_Pending](MAX_BATCH * 4)

    def statistics(self) -> BatchStatistics:
        return BatchStatistics(self._round_trips, self._calls, self._largest)

    async def call(self, script: Script, args: Sequence[bytes | str]) -> Any:
        item = _Pending(script, args)
        if self._ended:
            raise StoreClosedError("the store is closed")
        if self._busy == 0 and self._send.statistics().current_buffer_used == 0:
            # Nothing else in flight: go straight to a thread (saves waking a flusher);
            # callers arriving meanwhile queue up and are batched by the flushers.
            self._busy += 1
            self._round_trips += 1
            self._calls += 1
            try:
                await trio.to_thread.run_sync(self._one, item, limiter=self._limiter)
            finally:
                self._busy -= 1
        else:
            with trio.CancelScope(shield=True):
                await self._queue(item)
                await item.done.wait()
        if item.error is not None:
            raise item.error
        return item.result

    async def call_many(self, calls: Sequence[tuple[Script, Sequence[bytes | str]]]) -> list[Any]:
        """Several calls in one round trip (one pipeline, in this order, each script atomic on
        its own, NOT one transaction); the first error among them is raised after all ran."""
        items = [_Pending(script, args) for script, args in calls]
        if not items:
            return []
        if self._ended:
            raise StoreClosedError("the store is closed")
        if self._busy == 0 and self._send.statistics().current_buffer_used == 0:
            self._busy += 1
            self._round_trips += 1
            self._calls += len(items)
            try:
                await trio.to_thread.run_sync(self._flush, items, limiter=self._limiter)
            finally:
                self._busy -= 1
        else:
            with trio.CancelScope(shield=True):
                for item in items:
                    await self._queue(item)
                for item in items:
                    await item.done.wait()
        for item in items:
            if item.error is not None:
                raise item.error
        return [item.result for item in items]

    async def _queue(self, item: _Pending) -> None:
        try:
            await self._send.send(item)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise StoreClosedError("the store is closed") from None

    async def run_flusher(self) -> None:
        """Flush batches until the channel closes (run several of these concurrently).

        The last flusher to end (closed, or cancelled with calls still queued) fails what is
        queued and refuses later calls: their callers wait shielded, so nobody else would."""
        self._flushers += 1
        try:
            await self._flush_batches()
        finally:
            self._flushers -= 1
            if self._flushers == 0:
                # No checkpoint from here on, so nothing slips in between.
                while True:
                    try:
                        item = self._receive.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                        break
                    item.error = StoreClosedError("the store closed before this call ran")
                    item.done.set()
                self._receive.close()
                self._ended = True

    async def _flush_batches(self) -> None:
        async for first in self._receive:
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            self._round_trips += 1
            self._calls += len(batch)
            self._largest = max(self._largest, len(batch))
            self._busy += 1
            try:
                await trio.to_thread.run_sync(self._flush, batch, limiter=self._limiter)
            finally:
                self._busy -= 1
                for item in batch:
                    item.done.set()

    def _flush(self, batch: list[_Pending]) -> None:
        """Send ``batch`` in one round trip: calls of the same script are merged into one call
        of its multi variant (see :func:`smppcore.store.redis_scripts.multi`) when it has one,
        the rest go as plain ``EVALSHA`` (not Script objects in a pipeline, which would first
        ask SCRIPT EXISTS, one more round trip). NOSCRIPT (a restarted server) is handled by
        running the affected calls again through their Script object, which loads it."""
        groups: dict[int, list[_Pending]] = {}
        for item in batch:
            groups.setdefault(id(item.script), []).append(item)
        if len(groups) == 1 and len(batch) == 1:
            self._one(batch[0])
            return
        sends: list[tuple[Script, list[_Pending]]] = []
        try:
            pipe = self._client.pipeline(transaction=False)
            for items in groups.values():
                merged = self._multi.get(id(items[0].script))
                if merged is not None and len(items) > 1:
                    for chunk in _chunks(items):
                        pipe.evalsha(merged.sha, 0, *_merge(chunk))
                        sends.append((merged, chunk))
                else:
                    for item in items:
                        pipe.evalsha(item.script.sha, 0, *item.args)
                        sends.append((item.script, [item]))
            replies = pipe.execute(raise_on_error=False)
        except Exception as exc:  # the whole batch failed (connection lost, ...)
            for item in batch:
                item.error = exc
            return
        for (script, items), reply in zip(sends, replies, strict=True):
            if isinstance(reply, NoScriptError):
                if len(items) == 1:
                    self._one(items[0])
                    continue
                try:
                    reply = script(keys=[], args=_merge(items))
                except Exception as exc:
                    reply = exc
            if isinstance(reply, Exception):
                for item in items:
                    item.error = reply
            elif len(items) == 1 and script is items[0].script:
                items[0].result = reply
            else:
                for item, result in zip(items, reply, strict=True):
                    if isinstance(result, Exception):  # an error reply of that call only
                        item.error = result
                    else:
                        item.result = result

    @staticmethod
    def _one(item: _Pending) -> None:
        """Run one call on its own (``Script`` loads itself on NOSCRIPT)."""
        try:
            item.result = item.script(keys=[], args=item.args)
        except Exception as exc:
            item.error = exc

    def close(self) -> None:
        self._send.close()


def _merge(items: Sequence[_Pending]) -> list[bytes | str]:
    """The arguments of a multi call: the shared first argument, then each call's count and
    other arguments."""
    out: list[bytes | str] = [items[0].args[0]]
    for item in items:
        out.append(str(len(item.args) - 1))
        out.extend(item.args[1:])
    return out


def _chunks(items: list[_Pending]) -> list[list[_Pending]]:
    """``items`` cut so that no merged call carries more than ``MAX_MERGED_ARGS`` arguments."""
    out: list[list[_Pending]] = [[]]
    size = 0
    for item in items:
        if out[-1] and size + len(item.args) > MAX_MERGED_ARGS:
            out.append([])
            size = 0
        out[-1].append(item)
        size += len(item.args)
    return out
