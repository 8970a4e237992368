"""The built-in SMSC simulator: a real SMPP server on our own stack.

Used by ``smppcore simulate`` (:func:`run_simulator`), by the daemon when ``[simulator]
enabled`` (``await nursery.start(serve_simulator, settings)``), by the tests and by the
benchmarks.  See :mod:`.smsc` for the behaviour, :mod:`.control` for the HTTP interface
and :mod:`.faults` for fault injection.
"""

from __future__ import annotations

import signal
from typing import Any

import structlog
import trio

from smppcore.config import SimulatorConfig

from .faults import FaultError, Faults, PartError
from .smsc import QueueFull, Simulator
from .stats import ReceivedMessage, SimulatorStats

__all__ = [
    "FaultError",
    "Faults",
    "PartError",
    "QueueFull",
    "ReceivedMessage",
    "Simulator",
    "SimulatorStats",
    "run_simulator",
    "serve_simulator",
]

log = structlog.get_logger(__name__)


async def serve_simulator(
    settings: SimulatorConfig,
    *,
    task_status: trio.TaskStatus[Simulator] = trio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    """Run a :class:`Simulator` for ``settings`` until cancelled.

    ``task_status.started`` receives the simulator once its SMPP and control ports are
    bound (``sim.port``, ``sim.control_port``: the real ports, also when configured as 0).
    ``options`` go to :class:`Simulator` (``faults``, ``accounts``, ``seed``, ...).
    """
    await Simulator(settings, **options).serve(task_status=task_status)


async def run_simulator(settings: SimulatorConfig) -> None:
    """Run the simulator standalone until SIGINT or SIGTERM (``smppcore simulate``)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            sim: Simulator = await nursery.start(serve_simulator, settings)
            log.info(
                "simulator.listening",
                host=settings.host,
                port=sim.port,
                control_port=sim.control_port,
            )
            async for signum in signals:
                log.info("simulator.stopping", signal=signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
