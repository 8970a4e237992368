"""The daemon's periodic housekeeping: the retention purge and the status gauges.

Owns :class:`Upkeep`, two loops the daemon runs in its infra stage:

* :meth:`Upkeep.run_purge` - ``store.purge(now)`` every :data:`PURGE_INTERVAL` seconds; the
  counts go to ``smppcore_purged_total{data_class}``;
* :meth:`Upkeep.run_sampler` - every :data:`SAMPLE_INTERVAL` seconds, the MT queue depth
  per connector (``smppcore_mt_queue_depth{connector}``) and the delivery queue depth per
  account (``smppcore_delivery_queue_depth{account}``), the
  receipts waiting for their id map (``smppcore_pending_receipts``) and each connector's
  health state (``smppcore_connector_state{connector,state}`` = 1 for the current one of
  up/degraded/down/throttled), which ``smppcore status`` reads.

Both loops survive a failing store call (logged, retried at the next interval): a store
hiccup must not stop the daemon through its housekeeping.
"""

from __future__ import annotations

from typing import Final

import trio
from prometheus_client import Counter, Gauge

from smppcore.gateway.context import Gateway
from smppcore.logs import get_logger

__all__ = ["CONNECTOR_STATES", "PURGE_INTERVAL", "SAMPLE_INTERVAL", "Upkeep"]

log = get_logger(__name__)

PURGE_INTERVAL: Final = 60.0
SAMPLE_INTERVAL: Final = 2.0
CONNECTOR_STATES: Final = ("up", "degraded", "down", "throttled")


class Upkeep:
    """Housekeeping loops over one :class:`Gateway` (and its metrics registry)."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        purge_interval: float = PURGE_INTERVAL,
        sample_interval: float = SAMPLE_INTERVAL,
    ) -> None:
        self.gateway = gateway
        self.purge_interval = purge_interval
        self.sample_interval = sample_interval
        registry = gateway.metrics.registry
        self.purged = Counter(
            "smppcore_purged", "Records deleted by the retention purge, by data class.",
            ["data_class"], registry=registry,
        )  # fmt: skip
        self.connector_state = Gauge(
            "smppcore_connector_state", "1 for each connector's current state, else 0.",
            ["connector", "state"], registry=registry,
        )  # fmt: skip
        self.pending_receipts = Gauge(
            "smppcore_pending_receipts",
            "Operator receipts held because their id map was not there yet, being retried.",
            registry=registry,
        )

    async def purge_once(self) -> dict[str, int]:
        counts = await self.gateway.store.purge(self.gateway.clock())
        for data_class, count in counts.items():
            if count:
                self.purged.labels(data_class).inc(count)
        return counts

    async def run_purge(self) -> None:
        while True:
            await trio.sleep(self.purge_interval)
            try:
                counts = await self.purge_once()
            except Exception as exc:
                log.warning("upkeep.purge_failed", error=type(exc).__name__)
                continue
            if any(counts.values()):
                log.info("upkeep.purged", **{k: v for k, v in counts.items() if v})

    async def sample_once(self) -> None:
        gateway = self.gateway
        metrics = gateway.metrics
        for name, connector in list(gateway.connectors.items()):
            helper = metrics.connector(name)
            helper.mt_queue.set(await gateway.store.queue_depth(name))
            health = connector.health()
            state = health.state
            if health.send_rate > 0:
                helper.send_rate.set(health.send_rate)
            for candidate in CONNECTOR_STATES:
                self.connector_state.labels(name, candidate).set(1 if candidate == state else 0)
        for runtime in list(gateway.directory):
            account = runtime.config.system_id
            depth = await gateway.store.delivery_depth(account)
            metrics.account(account).delivery_queue.set(depth)
        self.pending_receipts.set(await gateway.store.count_pending_receipts())

    async def run_sampler(self) -> None:
        failing = False
        while True:
            try:
                await self.sample_once()
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("upkeep.sampling_failed", error=type(exc).__name__)
                failing = True
            await trio.sleep(self.sample_interval)
