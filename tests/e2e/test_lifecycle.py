"""Issue 5: the daemon as a process — ready line, binds in /metrics and ``status``, a full
run whose logs hold no MSISDN and no message text, SIGHUP reload, SIGTERM, startup errors.

The tests of this module share one daemon (``daemon`` fixture) and run in file order: the
last one stops it with SIGTERM and scans everything it logged.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import trio

from .conftest import Running
from .helpers import (
    DEMO_SENDER,
    OTHER_ACCOUNT,
    SMPPCORE,
    DaemonProcess,
    Esme,
    http,
    make_config,
    metric,
    new_ports,
    scrape,
    short_message,
    text_of,
    wait_metric,
)

pytestmark = pytest.mark.slow

#: Numbers and texts used by the full run; none may appear in the logs.
FULL_RUN_HANDSET = "27829876543"
MT_TEXT = b"Your parcel code is tangerine"
MO_TEXT = "Thanks, see you at the orange door"


def status_of(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SMPPCORE), "status", "--config", str(config)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


async def test_ready_line_names_the_listening_ports(daemon: Running) -> None:
    ready = next(e for e in daemon.daemon.events() if e.get("event") == "daemon.ready")
    assert ready["clients"] == [daemon.ports.client]
    assert ready["metrics"] == daemon.ports.metrics
    assert ready["simulator"] == daemon.ports.sim
    assert ready["level"] == "info"


async def test_a_bind_shows_in_metrics_and_status(daemon: Running) -> None:
    esme = Esme(daemon.ports.client)
    with trio.fail_after(30):
        try:
            await trio.to_thread.run_sync(esme.bind)
            await wait_metric(
                daemon.ports.metrics, "smppcore_client_binds", 1,
                account="demo", bind_type="transceiver",
            )  # fmt: skip
            # The connector is bound to the built-in simulator.
            await wait_metric(
                daemon.ports.metrics, "smppcore_connector_state", 1, connector="sim", state="up"
            )
            result = await trio.to_thread.run_sync(status_of, daemon.config)
        finally:
            await trio.to_thread.run_sync(esme.close)
    assert result.returncode == 0, result.stderr
    assert "sim: up, binds 1/1 up" in result.stdout
    assert "demo: 1 transceiver" in result.stdout


async def test_status_without_a_daemon_exits_1(tmp_path: Path) -> None:
    config = make_config(tmp_path, new_ports())
    with trio.fail_after(30):
        result = await trio.to_thread.run_sync(status_of, config)
    assert result.returncode == 1
    assert "no daemon answering" in result.stderr


async def test_full_run_submit_receipt_and_reply(daemon: Running) -> None:
    """Binds, a submit with a receipt, a handset reply: the material for the log scan."""
    esme = Esme(daemon.ports.client)
    with trio.fail_after(30):
        try:
            await trio.to_thread.run_sync(esme.bind)
            sent = await trio.to_thread.run_sync(
                lambda: esme.submit(DEMO_SENDER, FULL_RUN_HANDSET, MT_TEXT, registered_delivery=1)
            )
            assert sent.status == 0
            status, _ = await http(
                "POST", daemon.ports.control, "/mo",
                {"from": FULL_RUN_HANDSET, "to": DEMO_SENDER, "text": MO_TEXT},
            )  # fmt: skip
            assert status == 202
            delivered = await trio.to_thread.run_sync(esme.wait_deliveries, 2)
        finally:
            await trio.to_thread.run_sync(esme.close)
    receipts = [p for p in delivered if int(p.esm_class) & 0x04]
    replies = [p for p in delivered if not int(p.esm_class) & 0x04]
    assert len(receipts) == 1 and len(replies) == 1
    assert sent.message_id in short_message(receipts[0])
    assert short_message(replies[0]) == MO_TEXT
    assert text_of(replies[0].source_addr) == FULL_RUN_HANDSET


async def test_sighup_reloads_accounts_without_dropping_binds(daemon: Running) -> None:
    original = daemon.config.read_text()
    demo = Esme(daemon.ports.client)
    other = Esme(daemon.ports.client, system_id="other")
    with trio.fail_after(30):
        try:
            await trio.to_thread.run_sync(demo.bind)
            # Unknown account before the reload.
            assert await trio.to_thread.run_sync(other.bind_status) != 0
            await trio.to_thread.run_sync(other.close)
            other = Esme(daemon.ports.client, system_id="other")
            daemon.config.write_text(original + OTHER_ACCOUNT)
            daemon.daemon.send(signal.SIGHUP)
            await daemon.daemon.wait_event("daemon.reloaded")
            assert await trio.to_thread.run_sync(other.bind_status) == 0
            # The bind made before the reload still works.
            sent = await trio.to_thread.run_sync(lambda: demo.submit(DEMO_SENDER, "27821110000"))
            assert sent.status == 0
            # A broken file is refused and the running config kept.
            daemon.config.write_text(original + "\n[[accounts]]\nsystem_id = 3\n")
            daemon.daemon.send(signal.SIGHUP)
            await daemon.daemon.wait_event("daemon.reload_failed")
            sent = await trio.to_thread.run_sync(lambda: demo.submit(DEMO_SENDER, "27821110001"))
            assert sent.status == 0
            assert daemon.daemon.process is not None and daemon.daemon.process.poll() is None
        finally:
            daemon.config.write_text(original)
            await trio.to_thread.run_sync(demo.close)
            await trio.to_thread.run_sync(other.close)


async def test_sigterm_drains_exits_0_and_logs_hold_no_personal_data(daemon: Running) -> None:
    esme = Esme(daemon.ports.client)
    with trio.fail_after(30):
        await trio.to_thread.run_sync(esme.bind)
        text = await scrape(daemon.ports.metrics)
        assert metric(text, "smppcore_client_binds", account="demo") >= 1
        daemon.daemon.send(signal.SIGTERM)
        # The drain unbinds the client (and waits, bounded, for our unbind_resp).
        unbind = await trio.to_thread.run_sync(esme.client.read_pdu)
        assert unbind.command == "unbind"
        await trio.to_thread.run_sync(esme.answer_unbind, unbind)
        code = await daemon.daemon.wait_exit()
        await trio.to_thread.run_sync(esme.client.disconnect)
    assert code == 0
    events = [e.get("event") for e in daemon.daemon.events()]
    assert "daemon.stopping" in events and "daemon.stopped" in events
    logs = daemon.daemon.logs()
    for number in (FULL_RUN_HANDSET, DEMO_SENDER, "27821110000", "27821110001"):
        assert number not in logs
        assert number[2:] not in logs  # no national form either
    assert not re.search(r"(?<!\d)\d{10,15}(?!\d)", logs.replace(str(daemon.ports.client), ""))
    for text_piece in (MT_TEXT.decode(), MO_TEXT, "tangerine", "orange door"):
        assert text_piece not in logs
    assert "demopass" not in logs


async def test_a_taken_port_is_a_clear_error_and_exit_1(tmp_path: Path) -> None:
    ports = new_ports()
    config = make_config(tmp_path, ports)
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", ports.client))
    blocker.listen()
    daemon = DaemonProcess(config, tmp_path / "data", tmp_path / "daemon.log")
    try:
        with trio.fail_after(30):
            daemon.start()
            code = await daemon.wait_exit()
    finally:
        blocker.close()
        daemon.kill()
    assert code == 1
    failed = [e for e in daemon.events() if e.get("event") == "daemon.startup_failed"]
    assert len(failed) == 1
    assert failed[0]["level"] == "error"
    assert failed[0]["component"] == "listener local"
    assert "in use" in failed[0]["reason"].lower()
    assert "Traceback" not in daemon.logs()


async def test_a_store_that_cannot_open_is_a_clear_error_and_exit_1(tmp_path: Path) -> None:
    config = make_config(tmp_path, new_ports())
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("a file where the data dir should be")
    daemon = DaemonProcess(config, not_a_dir, tmp_path / "daemon.log")
    try:
        with trio.fail_after(30):
            daemon.start()
            code = await daemon.wait_exit()
    finally:
        daemon.kill()
    assert code == 1
    failed = [e for e in daemon.events() if e.get("event") == "daemon.startup_failed"]
    assert [f["component"] for f in failed] == ["store"]


async def test_an_unknown_connector_type_is_a_clear_error(tmp_path: Path) -> None:
    config = make_config(tmp_path, new_ports())
    config.write_text(config.read_text().replace('type = "smpp"', 'type = "pigeon"'))
    daemon = DaemonProcess(config, tmp_path / "data", tmp_path / "daemon.log")
    try:
        with trio.fail_after(30):
            daemon.start()
            code = await daemon.wait_exit()
    finally:
        daemon.kill()
    assert code == 1
    (failed,) = [e for e in daemon.events() if e.get("event") == "daemon.startup_failed"]
    assert failed["component"] == "connector sim"
    assert "pigeon" in failed["reason"]
