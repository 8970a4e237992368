"""Issue 8 through the real daemon: receipts carry our id whatever the SMSC's id format, a
client offline across a daemon crash still gets its receipt and reply, STOP/START from a
handset, and ``smppcore export`` / ``smppcore erase`` against the daemon's store.

Most tests share one daemon (built-in simulator, decimal ids); the id-format test starts
one daemon per format.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio

from .conftest import Running
from .helpers import (
    DEMO_SENDER,
    SMPPCORE,
    DaemonProcess,
    Esme,
    http,
    make_config,
    new_ports,
    short_message,
    sim_stats,
    text_of,
)

pytestmark = pytest.mark.slow

RECEIPTED_MESSAGE_ID = "receipted_message_id"


def is_receipt(pdu: Any) -> bool:
    return bool(int(pdu.esm_class) & 0x04)


def receipt_id(pdu: Any) -> str:
    """Our id as the receipt carries it: the TLV if present, else the text's ``id:``."""
    tlv = getattr(pdu, RECEIPTED_MESSAGE_ID, None)
    if tlv:
        return text_of(tlv).rstrip("\x00")
    text = short_message(pdu)
    return text.split("id:", 1)[1].split(" ", 1)[0]


async def mo(control: int, source: str, destination: str, text: str) -> None:
    status, body = await http(
        "POST", control, "/mo", {"from": source, "to": destination, "text": text}
    )
    assert status == 202, body


@pytest.mark.parametrize("id_format", ["decimal", "hex", "uuid"])
async def test_the_receipt_carries_our_id_whatever_the_smsc_id_format(
    tmp_path: Path, id_format: str
) -> None:
    ports = new_ports()
    config = make_config(tmp_path, ports, id_format=id_format)
    daemon = DaemonProcess(config, tmp_path / "data", tmp_path / "daemon.log")
    esme = Esme(ports.client)
    with trio.fail_after(60):
        try:
            daemon.start()
            await daemon.wait_ready()
            await trio.to_thread.run_sync(esme.bind)
            sent = await trio.to_thread.run_sync(
                lambda: esme.submit(DEMO_SENDER, "27825550001", registered_delivery=1)
            )
            assert sent.status == 0
            (receipt,) = await trio.to_thread.run_sync(esme.wait_deliveries, 1)
        finally:
            await trio.to_thread.run_sync(esme.close)
            await daemon.stop()
    assert is_receipt(receipt)
    assert receipt_id(receipt) == sent.message_id
    assert f"id:{sent.message_id}" in short_message(receipt)
    assert "stat:DELIVRD" in short_message(receipt)


async def test_an_offline_client_gets_receipt_and_reply_after_a_daemon_crash(
    daemon: Running,
) -> None:
    handset = "27825550002"
    tx = Esme(daemon.ports.client)
    with trio.fail_after(60):
        before = await sim_stats(daemon.ports.control)
        try:
            await trio.to_thread.run_sync(lambda: tx.bind("transmitter"))
            sent = await trio.to_thread.run_sync(
                lambda: tx.submit(DEMO_SENDER, handset, b"are you coming?", registered_delivery=1)
            )
            assert sent.status == 0
        finally:
            await trio.to_thread.run_sync(tx.close)
        await mo(daemon.ports.control, handset, DEMO_SENDER, "yes, at eight")
        # The SMSC counts a receipt or reply once the daemon answered deliver_sm_resp OK,
        # which it does only after the item is durable.
        while True:
            stats = await sim_stats(daemon.ports.control)
            if (
                stats["receipts_total"] > before["receipts_total"]
                and stats["replies_sent"] > before["replies_sent"]
            ):
                break
            await trio.sleep(0.05)
        daemon.daemon.kill()
        daemon.daemon.start()
        await daemon.daemon.wait_ready()
        rx = Esme(daemon.ports.client)
        try:
            await trio.to_thread.run_sync(lambda: rx.bind("receiver"))
            delivered = await trio.to_thread.run_sync(rx.wait_deliveries, 2)
        finally:
            await trio.to_thread.run_sync(rx.close)
    (receipt,) = [p for p in delivered if is_receipt(p)]
    (reply,) = [p for p in delivered if not is_receipt(p)]
    assert receipt_id(receipt) == sent.message_id
    assert short_message(reply) == "yes, at eight"
    assert text_of(reply.source_addr) == handset
    assert text_of(reply.destination_addr) == DEMO_SENDER


async def test_stop_blocks_the_next_submit_and_start_lifts_it(daemon: Running) -> None:
    handset = "27825550003"
    esme = Esme(daemon.ports.client)
    with trio.fail_after(60):
        try:
            await trio.to_thread.run_sync(esme.bind)
            first = await trio.to_thread.run_sync(lambda: esme.submit(DEMO_SENDER, handset))
            assert first.status == 0
            await mo(daemon.ports.control, handset, DEMO_SENDER, "stop ")
            (stop,) = await trio.to_thread.run_sync(esme.wait_deliveries, 1)
            blocked = await trio.to_thread.run_sync(lambda: esme.submit(DEMO_SENDER, handset))
            other_sender = await trio.to_thread.run_sync(
                lambda: esme.submit("27600000002", handset)
            )
            await mo(daemon.ports.control, handset, DEMO_SENDER, "START")
            await trio.to_thread.run_sync(esme.wait_deliveries, 2)
            lifted = await trio.to_thread.run_sync(lambda: esme.submit(DEMO_SENDER, handset))
        finally:
            await trio.to_thread.run_sync(esme.close)
    assert short_message(stop) == "stop "  # the client gets the reply itself
    assert blocked.status == 0x401  # [policy] suppressed_status in configs/local.toml
    assert other_sender.status == 0  # the opt-out is per sender number
    assert short_message(esme.delivered[1]) == "START"
    assert lifted.status == 0


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SMPPCORE), *args], capture_output=True, text=True, timeout=60)


async def test_export_lists_every_record_and_erase_leaves_no_trace(daemon: Running) -> None:
    from smppcore.cli import COMMANDS

    if "erase" not in COMMANDS or "export" not in COMMANDS:
        pytest.fail("smppcore erase/export are not wired into the CLI yet")
    handset = "27825550004"
    esme = Esme(daemon.ports.client)
    with trio.fail_after(90):
        try:
            await trio.to_thread.run_sync(esme.bind)
            sent = await trio.to_thread.run_sync(
                lambda: esme.submit(DEMO_SENDER, handset, b"your code", registered_delivery=1)
            )
            assert sent.status == 0
            await mo(daemon.ports.control, handset, DEMO_SENDER, "thanks")
            await trio.to_thread.run_sync(esme.wait_deliveries, 2)
        finally:
            await trio.to_thread.run_sync(esme.close)
        where = ("--config", str(daemon.config), "--data-dir", str(daemon.data_dir))
        exported = await trio.to_thread.run_sync(lambda: cli("export", *where, handset))
        assert exported.returncode == 0, exported.stderr
        records = json.loads(exported.stdout)
        assert sent.message_id in exported.stdout
        assert any(records.values())
        erased = await trio.to_thread.run_sync(lambda: cli("erase", *where, handset))
        assert erased.returncode == 0, erased.stderr
        assert await daemon.daemon.stop() == 0  # closes the store: WAL checkpointed
    needles = [handset.encode(), handset[2:].encode(), ("0" + handset[2:]).encode()]
    for file in daemon.data_dir.rglob("*"):
        if file.is_file():
            raw = file.read_bytes()
            for needle in needles:
                assert needle not in raw, f"{needle!r} found in {file.name}"
