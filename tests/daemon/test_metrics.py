"""Metrics: fresh registries, bound helpers, bounded labels, and /metrics over loopback."""

from __future__ import annotations

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from smppcore.metrics import Metrics, serve_metrics, status_label


def sample(metrics: Metrics, metric: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(metric, labels)


def test_each_daemon_gets_its_own_registry() -> None:
    a, b = Metrics(), Metrics()  # would raise "Duplicated timeseries" on a shared registry
    a.account("demo").accepted.inc()
    assert sample(a, "smppcore_submits_total", account="demo", result="accepted", reason="") == 1
    assert sample(b, "smppcore_submits_total", account="demo", result="accepted", reason="") is None


def test_account_and_connector_helpers_are_bound_once() -> None:
    metrics = Metrics()
    demo = metrics.account("demo")
    assert metrics.account("demo") is demo
    assert demo.rejected("suppressed") is demo.rejected("suppressed")
    demo.rejected("suppressed").inc(2)
    demo.binds["transceiver"].inc()
    demo.throttled.inc()
    demo.delivery_failed("mo").inc()
    sim = metrics.connector("sim")
    sim.window("0").set(7)
    sim.submit_response_seconds.observe(0.004)
    sim.submit_receipt_seconds.observe(1.2)
    sim.mt_queue.set(3)
    metrics.store_op("enqueue_mt").observe(0.0003)
    metrics.decode_errors.labels("client").inc()

    labels = {"account": "demo", "result": "rejected", "reason": "suppressed"}
    assert sample(metrics, "smppcore_submits_total", **labels) == 2
    assert sample(metrics, "smppcore_client_binds", account="demo", bind_type="transceiver") == 1
    assert sample(metrics, "smppcore_throttled_total", scope="account", name="demo") == 1
    failed = {"account": "demo", "kind": "mo", "result": "failed"}
    assert sample(metrics, "smppcore_deliveries_total", **failed) == 1
    assert sample(metrics, "smppcore_window_in_flight", connector="sim", bind="0") == 7
    assert sample(metrics, "smppcore_submit_response_seconds_count", connector="sim") == 1
    assert sample(metrics, "smppcore_submit_receipt_seconds_sum", connector="sim") == 1.2
    assert sample(metrics, "smppcore_mt_queue_depth", connector="sim") == 3
    assert sample(metrics, "smppcore_store_seconds_count", operation="enqueue_mt") == 1
    assert sample(metrics, "smppcore_decode_errors_total", side="client") == 1


def test_connector_submit_results_and_pauses() -> None:
    metrics = Metrics()
    sim = metrics.connector("sim")
    sim.submits_ok.inc()
    assert sim.submit_status(0) is sim.submits_ok
    assert sim.submit_status(0x58) is sim.submit_status(0x58)
    sim.submit_status(0x58).inc(2)
    sim.submit_status(0x401).inc()
    sim.submit_status(0x7777).inc()
    sim.submit_unanswered("timeout").inc()
    sim.rate_cuts.inc(3)
    sim.send_rate.set(42.5)
    with pytest.raises(ValueError):
        sim.submit_unanswered("because")

    def submits(status: str) -> float | None:
        return sample(metrics, "smppcore_connector_submits_total", connector="sim", status=status)

    assert submits("ESME_ROK") == 1
    assert submits("ESME_RTHROTTLED") == 2
    assert submits("0x00000401") == 1
    assert submits("other") == 1
    assert submits("timeout") == 1
    assert sample(metrics, "smppcore_connector_rate_cuts_total", connector="sim") == 3
    assert sample(metrics, "smppcore_connector_send_rate", connector="sim") == 42.5


def test_receipt_outcomes_are_stat_words_and_bounded() -> None:
    from smppcore.protocol.enums import MessageState

    metrics = Metrics()
    sim = metrics.connector("sim")
    assert sim.receipt("operator", MessageState.DELIVERED) is sim.receipt(
        "operator", MessageState.DELIVERED
    )
    sim.receipt("gateway", MessageState.UNDELIVERABLE).inc()
    labels = {"connector": "sim", "source": "gateway", "outcome": "UNDELIV"}
    assert sample(metrics, "smppcore_receipts_total", **labels) == 1
    with pytest.raises(ValueError):
        sim.receipt("client", MessageState.DELIVERED)


def test_deliveries_help_lists_every_result() -> None:
    text = Metrics().render().decode()
    (help_line,) = [
        x for x in text.splitlines() if x.startswith("# HELP smppcore_deliveries_total")
    ]
    for result in ("ok", "retry", "rejected", "expired", "unmatched", "duplicate",
                   "unroutable", "failed"):  # fmt: skip
        assert result in help_line, result


def test_pdu_labels_are_names_and_bounded() -> None:
    metrics = Metrics()
    count_pdu = metrics.pdu_counter("client")
    count_pdu("in", 0x00000004, 0)
    count_pdu("in", 0x00000004, 0)
    count_pdu("out", 0x80000004, 0x58)
    count_pdu("in", 0x12345678, 0x0401)
    for junk in range(0x1000, 0x1100):
        count_pdu("in", 0x80000004, junk)
    metrics.pdu_counter("operator")("out", 0x00000004, 0)
    ok = {"side": "client", "direction": "in", "command": "submit_sm", "status": "ESME_ROK"}
    assert sample(metrics, "smppcore_pdus_total", **ok) == 2
    throttled = {"direction": "out", "command": "submit_sm_resp", "status": "ESME_RTHROTTLED"}
    assert sample(metrics, "smppcore_pdus_total", side="client", **throttled) == 1
    vendor = {"direction": "in", "command": "unknown", "status": "0x00000401"}
    assert sample(metrics, "smppcore_pdus_total", side="client", **vendor) == 1
    other = {"direction": "in", "command": "submit_sm_resp", "status": "other"}
    assert sample(metrics, "smppcore_pdus_total", side="client", **other) == 256
    sent = {"direction": "out", "command": "submit_sm", "status": "ESME_ROK"}
    assert sample(metrics, "smppcore_pdus_total", side="operator", **sent) == 1
    assert sample(metrics, "smppcore_pdus_total", side="client", **sent) is None
    assert status_label(0x66) == "ESME_RX_R_APPN"
    with pytest.raises(ValueError):
        metrics.pdu_counter("smsc")


async def _get(port: int, request: bytes) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    return data


async def test_metrics_served_over_loopback() -> None:
    metrics = Metrics()
    metrics.account("demo").accepted.inc(5)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_metrics, "127.0.0.1", 0, metrics.registry)
            reply = await _get(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _, body = reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert b"Content-Type: text/plain; version=" in head
            families = {f.name: f for f in text_string_to_metric_families(body.decode())}
            (accepted,) = [
                s for s in families["smppcore_submits"].samples if s.name.endswith("_total")
            ]
            assert accepted.labels["account"] == "demo" and accepted.value == 5

            missing = await _get(port, b"GET /nope HTTP/1.1\r\n\r\n")
            assert missing.startswith(b"HTTP/1.1 404")
            post = await _get(port, b"POST /metrics HTTP/1.1\r\n\r\n")
            assert post.startswith(b"HTTP/1.1 405")
            garbage = await _get(port, b"\x00\x01\x02\r\n\r\n")
            assert garbage.startswith(b"HTTP/1.1 400")
            nursery.cancel_scope.cancel()


class _BrokenCollector:
    def collect(self) -> list[object]:
        raise RuntimeError("collector bug")

    def describe(self) -> list[object]:
        return []


async def test_broken_collector_gives_500_and_server_survives() -> None:
    metrics = Metrics()
    broken = _BrokenCollector()
    metrics.registry.register(broken)  # type: ignore[arg-type]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_metrics, "127.0.0.1", 0, metrics.registry)
            reply = await _get(port, b"GET /metrics HTTP/1.1\r\n\r\n")
            assert reply.startswith(b"HTTP/1.1 500")
            metrics.registry.unregister(broken)  # type: ignore[arg-type]
            reply = await _get(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
            assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"\r\n\r\n")
            nursery.cancel_scope.cancel()


def test_build_info_process_metrics_and_no_created_series() -> None:
    import platform

    import smppcore

    metrics = Metrics()
    metrics.connector("sim").submits_ok.inc()
    text = metrics.render().decode()
    labels = {"version": smppcore.__version__, "python": platform.python_version()}
    assert sample(metrics, "smppcore_build_info", **labels) == 1
    assert sample(metrics, "process_cpu_seconds_total") is not None
    assert "python_info" in text
    assert "_created" not in text


def test_names_units_and_types_follow_the_prometheus_conventions() -> None:
    """What ``promtool check metrics`` asks (snake_case names with the smppcore_ prefix,
    counters ending _total, base units in the name, help on every family, no reserved label
    names), checked on every family the daemon registers."""
    import re

    metrics = Metrics()
    metrics.connector("sim").submits_ok.inc()
    metrics.account("demo").accepted.inc()
    text = metrics.render().decode()
    families = list(text_string_to_metric_families(text))
    ours = [f for f in families if f.name.startswith("smppcore_")]
    assert len(ours) >= 20
    for family in ours:
        assert re.fullmatch(r"smppcore_[a-z][a-z0-9_]*", family.name), family.name
        assert family.documentation.strip(), f"{family.name} has no help"
        assert not re.search(r"_(count|sum|bucket|total)$", family.name), family.name
        for word in ("milliseconds", "ms", "minutes", "hours", "kilobytes", "megabytes"):
            assert f"_{word}" not in family.name, f"{family.name}: use base units"
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        for sample in family.samples:
            if family.type == "counter":
                assert sample.name == family.name + "_total", sample.name
            for label in sample.labels:
                assert re.fullmatch(r"[a-z][a-z0-9_]*", label) and not label.startswith("__")
