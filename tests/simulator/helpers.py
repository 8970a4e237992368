"""Shared pieces of the simulator tests: a running simulator and a blocking smpplib ESME."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import trio

from connectors.simulator import Simulator, serve_simulator
from smppcore.config import SimulatorConfig

SYSTEM_ID = "sim"
PASSWORD = "simpass"
HANDSET = "447700900123"
SENDER = "447700900999"


@asynccontextmanager
async def running_simulator(**settings: Any) -> AsyncIterator[Simulator]:
    """A simulator on free loopback ports; ``settings`` override SimulatorConfig fields
    (receipts immediate by default) and ``faults``/``seed`` go to the Simulator."""
    options = {
        k: settings.pop(k)
        for k in ("faults", "seed", "accounts", "max_pending_deliveries")
        if k in settings
    }
    options.setdefault("seed", 1234)
    settings.setdefault("receipt_delay", 0.0)
    config = SimulatorConfig(enabled=True, port=0, control_port=0, **settings)
    async with trio.open_nursery() as nursery:
        sim: Simulator = await nursery.start(partial(serve_simulator, config, **options))
        try:
            yield sim
        finally:
            nursery.cancel_scope.cancel()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Esme:
    """smpplib 2.2.4 as a blocking ESME; call its methods via ``trio.to_thread.run_sync``."""

    def __init__(self, port: int, *, timeout: float = 5.0) -> None:
        self.client = smpplib.client.Client(
            "127.0.0.1", port, timeout=timeout, allow_unknown_opt_params=True
        )
        self.responses: list[Any] = []
        self.delivered: list[Any] = []
        self.client.set_message_sent_handler(lambda pdu, **_: self.responses.append(pdu))
        self.client.set_message_received_handler(lambda pdu, **_: self.delivered.append(pdu))
        self.client.set_error_pdu_handler(lambda pdu: None)  # keep reading; tests look

    def bind(
        self, kind: str = "transceiver", system_id: str = SYSTEM_ID, pw: str = PASSWORD
    ) -> None:
        self.client.connect()
        getattr(self.client, f"bind_{kind}")(system_id=system_id, password=pw)

    def submit(
        self, text: str, *, destination: str = HANDSET, registered_delivery: int = 1, **extra: Any
    ) -> None:
        self.client.send_message(
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=SENDER,
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr=destination,
            short_message=text.encode(),
            registered_delivery=registered_delivery,
            **extra,
        )

    def read_until(self, *, responses: int = 0, delivered: int = 0) -> None:
        while len(self.responses) < responses or len(self.delivered) < delivered:
            self.client.read_once(auto_send_enquire_link=False)

    def close(self) -> None:
        try:
            self.client.unbind()
        except (smpplib.exceptions.ConnectionError, OSError):
            pass
        self.client.disconnect()

    @staticmethod
    def receipt_text(pdu: Any) -> str:
        return _text(pdu.short_message)

    @staticmethod
    def field(pdu: Any, name: str) -> str:
        return _text(getattr(pdu, name))


def http(port: int, method: str, path: str, body: Any | None = None) -> tuple[int, Any]:
    """A blocking JSON request to the control interface (run it in a thread)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


STATUS_OK = smpplib.consts.SMPP_ESME_ROK
STATUS_THROTTLED = smpplib.consts.SMPP_ESME_RTHROTTLED
