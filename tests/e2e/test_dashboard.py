"""deploy/grafana/smppcore.json queries only series the daemon exposes: after real traffic
(a submit with its receipt, a refused submit) every metric a panel reads is in /metrics,
with every label the panel groups by."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from .helpers import DEMO_SENDER, DaemonProcess, Esme, make_config, new_ports, scrape, wait_metric

pytestmark = pytest.mark.slow

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "smppcore.json"
_METRIC = re.compile(r"\b((?:smppcore|process)_[a-z_]+)")
_BY = re.compile(r"\bby \(([^)]*)\)")


def _queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_every_panel_has_a_query_and_a_unique_id() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in panels)


async def test_every_series_the_dashboard_reads_exists_after_traffic(tmp_path: Path) -> None:
    ports = new_ports()
    daemon = DaemonProcess(make_config(tmp_path, ports), tmp_path / "data", tmp_path / "d.log")
    esme = Esme(ports.client)
    with trio.fail_after(60):
        try:
            daemon.start()
            await daemon.wait_ready()
            await trio.to_thread.run_sync(esme.bind)
            sent = await trio.to_thread.run_sync(
                lambda: esme.submit(DEMO_SENDER, "27825550101", registered_delivery=1)
            )
            assert sent.status == 0
            refused = await trio.to_thread.run_sync(
                lambda: esme.submit("ACME", "27825550102", source_ton=5, source_npi=0)
            )
            assert refused.status != 0
            await trio.to_thread.run_sync(esme.wait_deliveries, 1)
            await wait_metric(ports.metrics, "smppcore_receipts_total", 1)
            await wait_metric(ports.metrics, "smppcore_pending_receipts", 0)
            await wait_metric(ports.metrics, "smppcore_connector_state", 1)
            text = await scrape(ports.metrics)
        finally:
            await trio.to_thread.run_sync(esme.close)
            await daemon.stop()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    for query in _queries():
        names = _METRIC.findall(query)
        assert names, query
        for name in names:
            assert name in labels, f"{name} (in {query!r}) is not in /metrics"
        for group in _BY.findall(query):
            for label in (x.strip() for x in group.split(",")):
                assert any(label in labels[n] for n in names), (label, query)
