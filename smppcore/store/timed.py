"""Store call latency: :func:`timed_store` wraps a store so that every call of one of its
coroutine methods is observed into ``smppcore_store_seconds{operation}``.

``operation`` is the method's name, from the fixed set of :class:`~smppcore.store.base.Store`'s
coroutine methods (:data:`TIMED_OPERATIONS`), so the label set is bounded. The time is the
call's wall time as its caller waits for it (a Redis round trip, the SQLite writer's batch,
queueing behind other calls included), measured with ``time.perf_counter``.

Hot path: the first call of a method builds its wrapper, with the histogram child already
bound, and stores it on the instance, so later calls are a plain attribute look-up, two
``perf_counter`` calls and one ``observe`` (about a microsecond; see the commit that added
this for the measurement). Everything else (the sync ``hash_msisdn``, backend attributes)
passes through untouched.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, cast

from smppcore.store.base import Store

if TYPE_CHECKING:
    from prometheus_client import Histogram

    from smppcore.metrics import Metrics

__all__ = ["TIMED_OPERATIONS", "TimedStore", "timed_store"]

#: The ``operation`` label values: every coroutine method of the store protocol.
TIMED_OPERATIONS: Final = frozenset(
    name
    for name, member in vars(Store).items()
    if not name.startswith("_") and inspect.iscoroutinefunction(member)
)


def _timed(
    call: Callable[..., Awaitable[Any]], histogram: Histogram
) -> Callable[..., Awaitable[Any]]:
    observe = histogram.observe
    clock = time.perf_counter

    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return await call(*args, **kwargs)
        finally:
            observe(clock() - started)

    return timed


class TimedStore:
    """A store whose coroutine methods are timed (see the module docstring)."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.inner = store
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        # Only called for what the instance does not have yet: each operation once.
        attr = getattr(self.inner, name)
        if name in TIMED_OPERATIONS:
            attr = _timed(attr, self._metrics.store_op(name))
            setattr(self, name, attr)
        return attr


def timed_store(store: Store, metrics: Metrics) -> Store:
    """``store``, every store call timed into ``metrics``' ``smppcore_store_seconds``."""
    return cast(Store, TimedStore(store, metrics))
