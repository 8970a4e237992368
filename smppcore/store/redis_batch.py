"""Group commit for the Redis store: concurrent script calls share one thread hop and one
pipelined round trip.

A call to :meth:`ScriptBatcher.call` queues ``(script, args)`` and waits. ``flushers`` tasks
each take everything queued at that moment, send it as one non-transactional pipeline of
``EVALSHA`` commands from a worker thread, and hand each caller its own reply (or its own
error). Each script stays atomic on the server; the batch as a whole is not a transaction,
nor does it need to be. A lone caller pays one hop as before; eight concurrent callers pay one
hop between them instead of eight, which is what bounds throughput on a small box (a thread
hop costs about as much as a Redis round trip there).

A caller that is cancelled while its command is queued or in flight still waits for the
reply (shielded, bounded by the socket timeout), so a write either happened or did not before
the cancellation is seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import attrs
import redis
import trio
from redis.commands.core import Script
from redis.exceptions import NoScriptError

#: Upper bound on commands per pipeline, so one flush cannot grow without limit.
MAX_BATCH: Final = 256


@attrs.define(eq=False)
class _Pending:
    script: Script
    args: Sequence[bytes | str]
    done: trio.Event = attrs.field(factory=trio.Event)
    result: Any = None
    error: BaseException | None = None


class ScriptBatcher:
    """Queue of script calls flushed in pipelines by a few tasks of the owner's nursery."""

    def __init__(self, client: redis.Redis, limiter: trio.CapacityLimiter) -> None:
        self._client = client
        self._limiter = limiter
        self._send, self._receive = trio.open_memory_channel[_Pending](MAX_BATCH * 4)

    async def call(self, script: Script, args: Sequence[bytes | str]) -> Any:
        item = _Pending(script, args)
        with trio.CancelScope(shield=True):
            await self._send.send(item)
            await item.done.wait()
        if item.error is not None:
            raise item.error
        return item.result

    async def run_flusher(self) -> None:
        """Flush batches until the channel closes (run several of these concurrently)."""
        async for first in self._receive:
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            try:
                await trio.to_thread.run_sync(self._flush, batch, limiter=self._limiter)
            finally:
                for item in batch:
                    item.done.set()

    def _flush(self, batch: list[_Pending]) -> None:
        try:
            if len(batch) == 1:
                self._one(batch[0])
                return
            # Plain EVALSHA: a pipeline of Script objects would first ask SCRIPT EXISTS,
            # one more round trip per batch. NOSCRIPT (a restarted server) is handled below.
            pipe = self._client.pipeline(transaction=False)
            for item in batch:
                pipe.evalsha(item.script.sha, 0, *item.args)
            replies = pipe.execute(raise_on_error=False)
        except Exception as exc:  # the whole batch failed (connection lost, ...)
            for item in batch:
                item.error = exc
            return
        for item, reply in zip(batch, replies, strict=True):
            if isinstance(reply, NoScriptError):
                self._one(item)  # the script did not run: load it and run it now
            elif isinstance(reply, Exception):
                item.error = reply
            else:
                item.result = reply

    @staticmethod
    def _one(item: _Pending) -> None:
        """Run one call on its own (``Script`` loads itself on NOSCRIPT)."""
        try:
            item.result = item.script(keys=[], args=item.args)
        except Exception as exc:
            item.error = exc

    def close(self) -> None:
        self._send.close()
