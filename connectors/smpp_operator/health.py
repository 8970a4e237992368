"""What the connector reports about itself: :class:`~smppcore.connector_api.ConnectorHealth`.

Owns :func:`connector_health`. Times in the health record are ``time.monotonic()`` seconds
(converted from trio's clock), 0 when not set.
"""

from __future__ import annotations

import time

import trio

from smppcore.connector_api import ConnectorHealth

from .pool import BindPool
from .throttle import Throttle

__all__ = ["connector_health"]


def _monotonic(trio_time: float, trio_now: float) -> float:
    if trio_time <= trio_now:
        return 0.0
    return time.monotonic() + (trio_time - trio_now)


def connector_health(
    name: str, pool: BindPool, throttle: Throttle, in_flight: int
) -> ConnectorHealth:
    try:
        now = trio.current_time()
    except RuntimeError:  # outside trio (e.g. a CLI reading a stopped connector)
        now = float("inf")
    up = pool.binds_up()
    total = len(pool.submit_slots)
    if up == 0:
        state = "down"
    elif up < total:
        state = "degraded"
    elif throttle.reduced:
        state = "throttled"
    else:
        state = "up"
    return ConnectorHealth(
        name=name,
        state=state,
        binds_up=up,
        binds_total=total,
        send_rate=throttle.rate,
        backoff_until=_monotonic(pool.backoff_until(), now),
        in_flight=in_flight,
    )
