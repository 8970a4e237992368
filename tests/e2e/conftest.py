"""Fixtures for the end-to-end tests: a daemon subprocess shared by a module.

``shared_daemon`` starts one daemon (built-in simulator, decimal ids) per test module that
asks for it and stops it at the end; a test may stop/kill and restart it (``restart``), the
next test gets it running again. The startup wait is bounded (sync fixture: a deadline loop).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from .helpers import DaemonProcess, Ports, make_config, new_ports

STARTUP_LIMIT = 30.0


@attrs.define
class Running:
    daemon: DaemonProcess
    ports: Ports
    config: Path
    data_dir: Path

    def ensure_running(self) -> None:
        process = self.daemon.process
        if process is None or process.poll() is not None:
            self.daemon.start()
            wait_ready_blocking(self.daemon)


def wait_ready_blocking(daemon: DaemonProcess) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT
    while time.monotonic() < deadline:
        if any(e.get("event") == "daemon.ready" for e in daemon.events()):
            return
        assert daemon.process is not None
        if daemon.process.poll() is not None:
            raise AssertionError(f"daemon exited early:\n{daemon.logs()}")
        time.sleep(0.05)
    daemon.kill()
    raise AssertionError(f"daemon not ready in {STARTUP_LIMIT}s:\n{daemon.logs()}")


@pytest.fixture(scope="module")
def shared_daemon(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """One daemon per module; a module's ``DAEMON_EXTRA`` string is appended to its config."""
    base = tmp_path_factory.mktemp("daemon")
    ports = new_ports()
    config = make_config(base, ports, extra=getattr(request.module, "DAEMON_EXTRA", ""))
    data_dir = base / "data"
    daemon = DaemonProcess(config, data_dir, base / "daemon.log")
    running = Running(daemon, ports, config, data_dir)
    running.ensure_running()
    try:
        yield running
    finally:
        process = daemon.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except Exception:
                daemon.kill()


@pytest.fixture
def daemon(shared_daemon: Running) -> Running:
    shared_daemon.ensure_running()
    return shared_daemon
