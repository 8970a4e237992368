"""In-process checks of the daemon's helpers: ``smppcore status`` reading a real metrics
registry, and the upkeep loops (purge counts, queue-depth and connector-state gauges) on a
real SQLite store. Fast; no subprocess."""

from __future__ import annotations

from pathlib import Path

import trio

from smppcore.config import load_config
from smppcore.connector_api import ConnectorHealth
from smppcore.gateway.context import build_gateway
from smppcore.metrics import Metrics
from smppcore.status import format_status, summarize_metrics
from smppcore.store.base import DeliveryItem, DeliveryKind, MtMessage, PendingReceipt
from smppcore.store.sqlite import open_sqlite_store
from smppcore.upkeep import Upkeep

from .helpers import LOCAL_CONFIG, metric


class FakeConnector:
    """A connector that only reports health (the upkeep reads nothing else)."""

    name = "sim"

    def __init__(self, state: str) -> None:
        self.state = state

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    def is_up(self) -> bool:
        return self.state == "up"

    def wake(self) -> None:
        pass

    def health(self) -> ConnectorHealth:
        return ConnectorHealth(self.name, self.state, 0, 1, send_rate=12.0)


def test_status_reads_binds_queues_and_reasons_from_metrics() -> None:
    metrics = Metrics()
    demo = metrics.account("demo")
    demo.binds["transceiver"].set(2)
    demo.accepted.inc(5)
    demo.rejected("not_owned").inc(2)
    demo.delivery_queue.set(3)
    sim = metrics.connector("sim")
    sim.binds_up.set(1)
    sim.binds_down.set(1)
    sim.mt_queue.set(7)
    status = summarize_metrics(metrics.render().decode())
    (connector,) = status.connectors
    assert (connector.name, connector.binds_up, connector.binds_down, connector.mt_queue) == (
        "sim", 1, 1, 7,
    )  # fmt: skip
    (account,) = status.accounts
    assert account.binds == {"transceiver": 2}
    assert (account.accepted, account.rejected, account.delivery_queue) == (
        5, {"not_owned": 2}, 3,
    )  # fmt: skip
    text = format_status("127.0.0.1:9775", status)
    assert "demo: 2 transceiver; delivery queue 3; submits accepted 5, rejected 2" in text
    assert "(not_owned 2)" in text


async def test_upkeep_purges_and_samples_into_metrics(tmp_path: Path) -> None:
    config = load_config(LOCAL_CONFIG, data_dir=tmp_path)
    now = 1_800_000_000.0
    with trio.fail_after(30):
        async with open_sqlite_store(tmp_path / "s.sqlite3", hash_secret=b"x" * 32) as store:
            metrics = Metrics()
            connector = FakeConnector("throttled")
            gateway = build_gateway(config, store, metrics, {"sim": connector}, clock=lambda: now)
            upkeep = Upkeep(gateway)
            await store.enqueue_mt(
                [MtMessage(id="m1", account="demo", connector="sim", source_addr="27600000001",
                           destination_addr="27821234567", payload=b"x", expires_at=now + 60)]
            )  # fmt: skip
            await store.enqueue_delivery(
                [DeliveryItem(id=f"d{i}", account="demo", kind=DeliveryKind.MO,
                              source_addr="27821234567", destination_addr="27600000001",
                              expires_at=now - 1 if i == 0 else now + 60)
                 for i in range(3)]
            )  # fmt: skip
            await store.hold_receipts(
                [PendingReceipt(id="p1", connector="sim", upstream_id="U1", state=2,
                                next_try_at=now + 1, expires_at=now + 600)]
            )  # fmt: skip
            await upkeep.sample_once()
            sampled = metrics.render().decode()
            counts = await upkeep.purge_once()
            purged = metrics.render().decode()
    assert metric(sampled, "smppcore_mt_queue_depth", connector="sim") == 1
    assert metric(sampled, "smppcore_delivery_queue_depth", account="demo") == 3
    assert metric(sampled, "smppcore_pending_receipts") == 1
    assert metric(sampled, "smppcore_connector_state", connector="sim", state="throttled") == 1
    assert metric(sampled, "smppcore_connector_state", connector="sim", state="up") == 0
    assert metric(sampled, "smppcore_connector_send_rate", connector="sim") == 12.0
    assert sum(counts.values()) >= 1
    assert metric(purged, "smppcore_purged_total") == sum(counts.values())
    assert "sim: throttled" in format_status("x", summarize_metrics(sampled))
