"""Handset replies injected over the HTTP control interface, and the interface itself."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import structlog
import structlog.testing
import trio

from smppcore.protocol.segment import parse_udh

from .helpers import HANDSET, PASSWORD, SENDER, Esme, http, running_simulator

LONG = "Reply " + "abcdefghij" * 40  # 406 GSM characters: 3 parts


@pytest.fixture
def default_structlog() -> Iterator[None]:
    """structlog's defaults for one test: another test may have configured a level filter
    (``configure_logging(..., "warning")``) that drops the info lines before
    ``capture_logs`` sees them. The previous configuration is restored afterwards."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)


async def test_injected_mo_arrives() -> None:
    with trio.fail_after(20):
        async with running_simulator() as sim:
            esme = Esme(sim.port)
            await trio.to_thread.run_sync(esme.bind, "receiver")
            status, body = await trio.to_thread.run_sync(
                http,
                sim.control_port,
                "POST",
                "/mo",
                {"from": HANDSET, "to": SENDER, "text": "STOP"},
            )
            assert (status, body) == (202, {"parts": 1, "queued": True})
            await trio.to_thread.run_sync(lambda: esme.read_until(delivered=1))
            pdu = esme.delivered[0]
            assert pdu.esm_class == 0
            assert Esme.field(pdu, "source_addr") == HANDSET
            assert Esme.field(pdu, "destination_addr") == SENDER
            assert pdu.short_message == b"STOP"
            await sim.wait_for_replies(1)
            status, stats = await trio.to_thread.run_sync(http, sim.control_port, "GET", "/stats")
            assert status == 200 and stats["replies_sent"] == 1
            assert stats["binds"] == {"receiver": 1}
            await trio.to_thread.run_sync(esme.close)


async def test_long_mo_is_segmented_with_udh() -> None:
    with trio.fail_after(20):
        async with running_simulator() as sim:
            esme = Esme(sim.port)
            await trio.to_thread.run_sync(esme.bind, "transceiver")
            assert sim.inject_mo(HANDSET, SENDER, LONG) == 3
            await trio.to_thread.run_sync(lambda: esme.read_until(delivered=3))
            parts = []
            for pdu in esme.delivered:
                assert pdu.esm_class & 0x40
                concat, payload = parse_udh(pdu.short_message)
                assert concat is not None and concat.total == 3
                parts.append((concat.reference, concat.seq, payload))
            assert len({ref for ref, _, _ in parts}) == 1
            assert b"".join(p for _, _, p in sorted(parts)).decode() == LONG
            await trio.to_thread.run_sync(esme.close)


async def test_mo_waits_for_a_receiver() -> None:
    with trio.fail_after(20):
        async with running_simulator() as sim:
            sim.inject_mo(HANDSET, SENDER, "first")
            sim.inject_mo(HANDSET, SENDER, "second")
            assert sim.stats().deliveries_pending == 2
            tx = Esme(sim.port)
            await trio.to_thread.run_sync(tx.bind, "transmitter")
            assert sim.stats().deliveries_pending == 2  # a transmitter cannot take them
            rx = Esme(sim.port)
            await trio.to_thread.run_sync(rx.bind, "receiver")
            await trio.to_thread.run_sync(lambda: rx.read_until(delivered=2))
            assert sorted(p.short_message for p in rx.delivered) == [b"first", b"second"]
            await sim.wait_for_replies(2)
            assert sim.stats().deliveries_pending == 0
            await trio.to_thread.run_sync(tx.close)
            await trio.to_thread.run_sync(rx.close)


async def test_mo_queue_is_bounded() -> None:
    with trio.fail_after(20):
        async with running_simulator(max_pending_deliveries=2) as sim:
            for text in ("a", "b"):
                status, _ = await trio.to_thread.run_sync(
                    http,
                    sim.control_port,
                    "POST",
                    "/mo",
                    {"from": HANDSET, "to": SENDER, "text": text},
                )
                assert status == 202
            status, body = await trio.to_thread.run_sync(
                http, sim.control_port, "POST", "/mo", {"from": HANDSET, "to": SENDER, "text": "c"}
            )
            assert status == 503 and "full" in body["error"]
            stats = sim.stats()
            assert stats.deliveries_pending == 2 and stats.deliveries_discarded == 1


async def test_control_rejects_bad_requests() -> None:
    with trio.fail_after(20):
        async with running_simulator() as sim:
            port = sim.control_port

            def call(method: str, path: str, body: object = None) -> int:
                return http(port, method, path, body)[0]

            assert await trio.to_thread.run_sync(call, "POST", "/mo", {"from": HANDSET}) == 400
            assert await trio.to_thread.run_sync(call, "POST", "/mo", ["x"]) == 400
            assert await trio.to_thread.run_sync(call, "GET", "/mo") == 405
            assert await trio.to_thread.run_sync(call, "POST", "/stats", {}) == 405
            assert await trio.to_thread.run_sync(call, "GET", "/nothing") == 404

            def raw(data: bytes) -> bytes:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(data)
                    sock.shutdown(socket.SHUT_WR)
                    return sock.recv(4096)

            reply = await trio.to_thread.run_sync(raw, b"garbage\r\n\r\n")
            assert reply.startswith(b"HTTP/1.1 400 ")
            reply = await trio.to_thread.run_sync(
                raw, b"POST /mo HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"
            )
            assert reply.startswith(b"HTTP/1.1 413 ")
            reply = await trio.to_thread.run_sync(
                raw, b"POST /mo HTTP/1.1\r\nContent-Length: 5\r\n\r\n{bad}"
            )
            assert reply.startswith(b"HTTP/1.1 400 ")
            assert sim.stats().deliveries_pending == 0


async def test_no_numbers_or_text_in_logs(default_structlog: None) -> None:
    with trio.fail_after(20), structlog.testing.capture_logs() as logs:
        async with running_simulator() as sim:
            esme = Esme(sim.port)

            def run() -> None:
                esme.bind()
                esme.submit("secret body")
                esme.read_until(responses=1, delivered=1)

            await trio.to_thread.run_sync(run)
            sim.inject_mo(HANDSET, SENDER, "secret reply")
            await trio.to_thread.run_sync(lambda: esme.read_until(delivered=2))
            await trio.to_thread.run_sync(esme.close)
    assert logs, "the simulator logs binds and MO injections"
    text = repr(logs)
    for secret in (HANDSET, SENDER, "secret", PASSWORD):
        assert secret not in text


async def test_messages_endpoint_returns_what_a_destination_received(
    default_structlog: None,
) -> None:
    udh = b"\x05\x00\x03\x2a\x02\x01"
    with trio.fail_after(20), structlog.testing.capture_logs() as logs:
        async with running_simulator() as sim:
            esme = Esme(sim.port)
            before = trio.current_time()

            def run() -> None:
                esme.bind()
                esme.submit("first")
                esme.client.send_message(
                    source_addr_ton=1, source_addr_npi=1, source_addr=SENDER,
                    dest_addr_ton=1, dest_addr_npi=1, destination_addr=HANDSET,
                    esm_class=0x40, short_message=udh + b"part one", registered_delivery=0,
                )  # fmt: skip
                esme.read_until(responses=2)

            await trio.to_thread.run_sync(run)
            port = sim.control_port
            status, body = await trio.to_thread.run_sync(
                http, port, "GET", f"/messages?to={HANDSET}"
            )
            assert status == 200 and body["to"] == HANDSET
            first, second = body["messages"]
            assert (first["text"], first["concat"]) == ("first", None)
            assert bytes.fromhex(first["body_hex"]) == b"first"
            assert second["concat"] == {"reference": 0x2A, "total": 2, "seq": 1, "ref_bits": 8}
            assert second["text"] == "part one"
            # received_at: the simulator's monotonic trio clock, in arrival order
            stamps = [m.received_at for m in sim.messages(HANDSET)]
            assert [first["received_at"], second["received_at"]] == stamps
            assert before <= stamps[0] <= stamps[1] <= trio.current_time()

            assert await trio.to_thread.run_sync(http, port, "GET", "/messages?to=999") == (
                200, {"to": "999", "messages": []},
            )  # fmt: skip
            plus = await trio.to_thread.run_sync(http, port, "GET", "/messages?to=+999")
            assert plus[1]["to"] == "+999"  # an unencoded "+" is not read as a space
            for path in ("/messages", "/messages?to=", "/messages?to=1&to=2"):
                assert (await trio.to_thread.run_sync(http, port, "GET", path))[0] == 400
            assert (await trio.to_thread.run_sync(http, port, "POST", "/messages?to=1"))[0] == 405
            await trio.to_thread.run_sync(esme.close)
    assert logs, "the simulator logs the bind"
    text = repr(logs)
    for secret in (HANDSET, "first", "part one"):
        assert secret not in text
