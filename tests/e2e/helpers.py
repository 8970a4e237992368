"""End-to-end helpers: the daemon as a subprocess, an smpplib client, HTTP to the simulator.

* :func:`make_config` writes a TOML derived from ``configs/local.toml`` with free ports,
  faster receipts and optional extras (another account, a connector pointing elsewhere);
  :func:`raise_limits` lifts its throughput limits for load tests.
* :class:`DaemonProcess` runs ``.venv/bin/smppcore run --config ... --data-dir ...`` with
  stdout+stderr appended to one log file (kept across restarts, for the privacy scan), and
  waits for the ``daemon.ready`` log line.
* :class:`Esme` is a synchronous smpplib client (run it with ``trio.to_thread``) that
  records every status instead of raising, and collects deliver_sm PDUs.
* :func:`http` / :func:`scrape` / :func:`metric` talk to the simulator's control port and
  the daemon's ``/metrics``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import attrs
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp
import trio
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
SMPPCORE = Path(sys.executable).with_name("smppcore")
LOCAL_CONFIG = REPO / "configs" / "local.toml"

#: Numbers the demo account owns (27600000000-27600000999) and handsets to write to.
DEMO_SENDER = "27600000001"
HANDSET = "27821234567"


@attrs.frozen
class Ports:
    client: int
    metrics: int
    sim: int
    control: int


def free_ports(n: int = 4) -> list[int]:
    """``n`` distinct ports that were free a moment ago (bound together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def new_ports() -> Ports:
    return Ports(*free_ports(4))


def _sub(text: str, pattern: str, replacement: str) -> str:
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if count != 1:
        raise AssertionError(f"configs/local.toml changed: {pattern!r} matched {count} times")
    return new


OTHER_ACCOUNT = """
[[accounts]]
system_id = "other"
password_hash = "{demo_hash}"
bind_types = ["transmitter", "receiver", "transceiver"]
allowed_ips = ["127.0.0.0/8"]
default_country = "ZA"
source_numbers = ["27600001000-27600001999"]
"""


def _demo_hash() -> str:
    match = re.search(r'^password_hash = "([^"]+)"', LOCAL_CONFIG.read_text(), re.MULTILINE)
    assert match is not None
    return match.group(1)


#: A second account (same password as demo) owning 27600001000-27600001999.
OTHER_ACCOUNT = OTHER_ACCOUNT.replace("{demo_hash}", _demo_hash())


def make_config(
    directory: Path,
    ports: Ports,
    *,
    id_format: str = "decimal",
    receipt_delay: float = 0.2,
    simulator: bool = True,
    connector_port: int | None = None,
    extra: str = "",
    name: str = "e2e.toml",
) -> Path:
    """A config like ``configs/local.toml`` on ``ports``; JSON logs at INFO."""
    text = LOCAL_CONFIG.read_text()
    text = _sub(text, r"^port = 2775$", f"port = {ports.client}")
    text = _sub(text, r"^port = 9775$", f"port = {ports.metrics}")
    text = _sub(text, r"^port = 2776$", f"port = {ports.sim}")
    text = _sub(text, r"^control_port = 2777$", f"control_port = {ports.control}")
    target = ports.sim if connector_port is None else connector_port
    text = _sub(text, r'^hosts = \["127.0.0.1:2776"\]', f'hosts = ["127.0.0.1:{target}"]')
    text = _sub(text, r'^id_format = "decimal"$', f'id_format = "{id_format}"')
    text = _sub(text, r"^receipt_delay = 1.0$", f"receipt_delay = {receipt_delay}")
    text = _sub(text, r'^format = "console"$', 'format = "json"')
    text = _sub(text, r"^reconnect_min = 0.5$", "reconnect_min = 0.2")
    text = _sub(text, r"^reconnect_max = 10$", "reconnect_max = 1")
    if not simulator:
        text = _sub(text, r"^\[simulator\]\nenabled = true$", "[simulator]\nenabled = false")
    path = directory / name
    path.write_text(text + extra)
    return path


def raise_limits(config: Path) -> None:
    """The demo account and the connector at 5000/s instead of 100/s and 200/s."""
    text = config.read_text()
    for old, new in (
        ("throughput = 100\nburst = 100\n", "throughput = 5000\nburst = 5000\n"),
        ("throughput = 200\n", "throughput = 5000\n"),
    ):
        assert text.count(old) == 1, f"configs/local.toml changed: {old!r}"
        text = text.replace(old, new)
    config.write_text(text)


class DaemonProcess:
    """``smppcore run`` as a child process; logs appended to ``log_path``."""

    def __init__(self, config: Path, data_dir: Path, log_path: Path) -> None:
        self.config = config
        self.data_dir = data_dir
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(SMPPCORE), "run", "--config", str(self.config),
                 "--data-dir", str(self.data_dir)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def run_logs(self) -> str:
        """The log lines of the current run only."""
        return self.logs()[self._log_offset :]

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.run_logs().splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    async def wait_ready(self) -> dict[str, Any]:
        """The ``daemon.ready`` event of this run (fails if the process exits first)."""
        assert self.process is not None
        while True:
            for event in self.events():
                if event.get("event") == "daemon.ready":
                    return event
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited {self.process.returncode}:\n{self.logs()}")
            await trio.sleep(0.05)

    def send(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait_exit(self) -> int:
        assert self.process is not None
        while self.process.poll() is None:  # noqa: ASYNC110 - another process; nothing to wait on
            await trio.sleep(0.05)
        return self.process.returncode

    async def wait_event(self, name: str) -> dict[str, Any]:
        """The first log event called ``name`` in this run (polls the log file)."""
        while True:
            for event in self.events():
                if event.get("event") == name:
                    return event
            await trio.sleep(0.05)

    async def stop(self) -> int:
        self.send(signal.SIGTERM)
        return await self.wait_exit()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# --- HTTP ---------------------------------------------------------------------------------


def _http(method: str, port: int, path: str, body: Any = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def http(method: str, port: int, path: str, body: Any = None) -> tuple[int, Any]:
    status, text = await trio.to_thread.run_sync(_http, method, port, path, body)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


async def scrape(port: int) -> str:
    status, text = await trio.to_thread.run_sync(_http, "GET", port, "/metrics")
    assert status == 200
    return text


def metric(text: str, sample_name: str, /, **labels: str) -> float:
    """The sum of samples called ``sample_name`` whose labels include ``labels`` (0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                total += sample.value
    return total


async def wait_metric(port: int, sample_name: str, at_least: float, /, **labels: str) -> float:
    while True:
        value = metric(await scrape(port), sample_name, **labels)
        if value >= at_least:
            return value
        await trio.sleep(0.1)


async def sim_stats(control: int) -> dict[str, Any]:
    status, stats = await http("GET", control, "/stats")
    assert status == 200
    return stats  # type: ignore[no-any-return]


async def wait_sim(control: int, key: str, at_least: int) -> dict[str, Any]:
    while True:
        stats = await sim_stats(control)
        if stats[key] >= at_least:
            return stats
        await trio.sleep(0.1)


# --- an smpplib ESME ----------------------------------------------------------------------


@attrs.frozen
class Submitted:
    status: int
    message_id: str


class Esme:
    """A synchronous smpplib client; every method blocks (use ``trio.to_thread``)."""

    def __init__(self, port: int, system_id: str = "demo", password: str = "demopass") -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.client = smpplib.client.Client(
                "127.0.0.1", port, timeout=1, allow_unknown_opt_params=True
            )
        self.system_id = system_id
        self.password = password
        self.delivered: list[Any] = []
        self._responses: dict[int, Any] = {}
        self.client.set_message_received_handler(self._on_deliver)
        self.client.set_message_sent_handler(self._on_response)
        self.client.set_error_pdu_handler(self._on_response)

    def _on_deliver(self, pdu: Any, **_: Any) -> int:
        self.delivered.append(pdu)
        return 0

    def _on_response(self, pdu: Any, **_: Any) -> None:
        self._responses[pdu.sequence] = pdu

    def bind(self, mode: str = "transceiver") -> None:
        self.client.connect()
        getattr(self.client, f"bind_{mode}")(system_id=self.system_id, password=self.password)

    def bind_status(self, mode: str = "transceiver") -> int:
        """Bind and return the status (0 = bound) instead of raising."""
        self.client.connect()
        try:
            getattr(self.client, f"bind_{mode}")(system_id=self.system_id, password=self.password)
        except smpplib.exceptions.PDUError as exc:
            return int(exc.args[1])
        return 0

    def submit(
        self,
        source: str,
        destination: str,
        text: bytes = b"hello",
        *,
        source_ton: int = 1,
        source_npi: int = 1,
        registered_delivery: int = 0,
        timeout: float = 10.0,
        **extra: Any,
    ) -> Submitted:
        fields: dict[str, Any] = {"short_message": text}
        if len(text) > 254:
            fields = {"short_message": b"", "message_payload": text}
        pdu = self.client.send_message(
            source_addr_ton=source_ton, source_addr_npi=source_npi, source_addr=source,
            dest_addr_ton=1, dest_addr_npi=1, destination_addr=destination,
            registered_delivery=registered_delivery, **fields, **extra,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while pdu.sequence not in self._responses:
            if time.monotonic() > deadline:
                raise TimeoutError("no submit_sm_resp")
            self.client.read_once()
        resp = self._responses.pop(pdu.sequence)
        message_id = resp.message_id if resp.status == 0 else b""
        if isinstance(message_id, bytes):
            message_id = message_id.decode()
        return Submitted(int(resp.status), message_id or "")

    def wait_deliveries(self, n: int, timeout: float = 15.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.delivered) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.delivered)} of {n} deliver_sm")
            self.client.read_once()
        return list(self.delivered)

    def answer_unbind(self, unbind: Any) -> None:
        self.client.send_pdu(
            smpplib.smpp.make_pdu("unbind_resp", client=self.client, sequence=unbind.sequence)
        )

    def close(self) -> None:
        try:
            if self.client.state in (
                smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX,
                smpplib.consts.SMPP_CLIENT_STATE_BOUND_RX,
                smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX,
            ):
                self.client.unbind()
        except Exception:
            pass
        finally:
            self.client.disconnect()


def short_message(pdu: Any) -> str:
    body = pdu.short_message or b""
    if isinstance(body, str):
        return body
    payload = getattr(pdu, "message_payload", None)
    if not body and payload:
        body = payload
    return bytes(body).decode("latin-1")


def text_of(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value) if value is not None else ""
