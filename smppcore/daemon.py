"""The daemon's composition root: what runs, in which order, and how it stops.

Owns :func:`run_daemon` (``smppcore run``). One root task opens the store, builds every part
from the config (:func:`smppcore.startup.assemble`, which ``smppcore check-config`` runs
too), and then starts three nested stages, each a nursery started after the one before is
ready::

    store (SQLite or Redis; closed last, which flushes queued writes)
      infra:      signal watcher, metrics server, purge loop, status sampler, simulator
        operators:  the return path (ONE object, also every connector's sink: client
                    delivery, pending receipts, reply reassembly; it first frees what this
                    node held before a crash), then one task per [[connectors]] entry (the
                    simulator is up first, so a connector pointing at it binds at once)
          clients:    one listener per [[listeners]] entry

When every stage is up the daemon logs one INFO line ``ready`` with the listening ports.

Signals (:func:`trio.open_signal_receiver`):

* SIGTERM / SIGINT - graceful drain, innermost stage first: listeners close and client
  sessions unbind, then operator binds unbind, then the infra stops and the store is closed
  (writes flushed). Each session's final unbind is bounded by its own timeout and the whole
  drain by :data:`DRAIN_TIMEOUT`; a second signal cuts it short. Exit code 0.
* SIGHUP - re-read the same file and apply accounts, routes and policy
  (:meth:`Gateway.reload`) without touching binds. A bad file is logged and the running
  config kept; changes to sections that need a restart are logged as such.

Startup failures (a port taken, the store not opening, an unknown connector type, a
connector's options refused by its plugin) are one ``startup failed`` ERROR line naming the
component and exit code 1.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import attrs
import trio

from smppcore.config import Config, ConfigError, load_config
from smppcore.gateway.context import Gateway
from smppcore.logs import get_logger
from smppcore.metrics import serve_metrics
from smppcore.net.server import listener_port
from smppcore.startup import StartupError, assemble
from smppcore.startup import reason as _reason
from smppcore.store.base import Store

__all__ = ["DRAIN_TIMEOUT", "EXIT_FAILED", "EXIT_OK", "StartupError", "run_daemon"]

log = get_logger(__name__)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
#: Upper bound on a graceful drain (seconds), after which whatever remains is cancelled.
DRAIN_TIMEOUT: Final = 15.0
#: Sections a SIGHUP cannot apply (their objects are built once at startup).
_RESTART_SECTIONS: Final = ("daemon", "listeners", "metrics", "store", "connectors", "simulator")


def _find_startup_error(exc: BaseException) -> StartupError | None:
    if isinstance(exc, StartupError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find_startup_error(inner)
            if found is not None:
                return found
    return None


async def _start(
    nursery: trio.Nursery, component: str, fn: Callable[..., Awaitable[Any]], *args: Any
) -> Any:
    """``nursery.start(fn, *args)``, turning any failure before ``started`` into a
    :class:`StartupError` naming ``component``."""
    try:
        return await nursery.start(fn, *args)
    except trio.Cancelled:
        raise
    except BaseException as exc:
        if isinstance(exc, BaseExceptionGroup) and exc.subgroup(trio.Cancelled) is not None:
            raise
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise StartupError(component, _reason(exc)) from exc


# --- the store ----------------------------------------------------------------------------


@asynccontextmanager
async def open_store(config: Config) -> AsyncIterator[Store]:
    """The configured store (:func:`smppcore.gateway.privacy.open_configured_store`, which the
    data commands use too); a failure to open it becomes ``StartupError("store", ...)``.
    Errors raised by the body pass through unchanged."""
    from smppcore.gateway.privacy import open_configured_store

    opened = False
    try:
        async with open_configured_store(config) as store:
            opened = True
            yield store
    except Exception as exc:
        if opened or isinstance(exc, StartupError):
            raise
        raise StartupError("store", _reason(exc)) from exc


# --- the daemon ---------------------------------------------------------------------------


@attrs.define(eq=False)
class _Ports:
    clients: list[int] = attrs.field(factory=list)
    metrics: int | None = None
    simulator: int | None = None
    simulator_control: int | None = None


@attrs.define(eq=False)
class Daemon:
    """One run of the daemon. Use :func:`run_daemon`."""

    config: Config
    ports: _Ports = attrs.field(factory=_Ports)
    ready: bool = False
    _stop: trio.Event = attrs.field(factory=trio.Event)
    _all: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    _gateway: Gateway | None = None

    async def run(self) -> int:
        try:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
                async with open_store(self.config) as store:
                    await self._serve(store, sigs)
        except BaseException as exc:
            startup = _find_startup_error(exc)
            if startup is None:
                raise
            log.error("startup failed", component=startup.component, reason=startup.reason)
            return EXIT_FAILED
        log.info("stopped")
        return EXIT_OK

    async def _serve(self, store: Store, signals: AsyncIterator[int]) -> None:
        config = self.config
        parts = assemble(config, store)
        metrics, gateway, return_path = parts.metrics, parts.gateway, parts.return_path
        connectors, upkeep = parts.connectors, parts.upkeep
        self._gateway = gateway
        with self._all:
            async with trio.open_nursery() as infra:
                infra.start_soon(self._watch_signals, signals)
                if config.metrics.enabled:
                    self.ports.metrics = await _start(
                        infra,
                        "metrics",
                        serve_metrics,
                        config.metrics.host,
                        config.metrics.port,
                        metrics.registry,
                    )
                infra.start_soon(upkeep.run_purge)
                infra.start_soon(upkeep.run_sampler)
                if parts.simulator is not None:
                    await self._start_simulator(infra, parts.simulator)
                async with trio.open_nursery() as operators:
                    await _start(operators, "return path", return_path.run)
                    for connector in connectors:
                        await _start(operators, f"connector {connector.name}", connector.run)
                    async with trio.open_nursery() as clients:
                        await self._start_clients(clients, gateway)
                        self.ready = True
                        log.info(
                            "ready",
                            clients=self.ports.clients,
                            metrics=self.ports.metrics,
                            simulator=self.ports.simulator,
                            simulator_control=self.ports.simulator_control,
                            connectors=[c.name for c in connectors],
                            accounts=len(config.accounts),
                        )
                        await self._stop.wait()
                        log.info("draining", stage="clients")
                        clients.cancel_scope.cancel()
                    log.info("draining", stage="operators")
                    operators.cancel_scope.cancel()
                infra.cancel_scope.cancel()

    async def _start_simulator(
        self, nursery: trio.Nursery, serve_simulator: Callable[..., Awaitable[Any]]
    ) -> None:
        sim = await _start(nursery, "simulator", serve_simulator, self.config.simulator)
        self.ports.simulator = int(sim.port)
        self.ports.simulator_control = int(sim.control_port)

    async def _start_clients(self, nursery: trio.Nursery, gateway: Gateway) -> None:
        from smppcore.gateway.server import serve_clients

        for listener in self.config.listeners:
            started = await _start(
                nursery, f"listener {listener.name}", serve_clients, gateway, listener
            )
            self.ports.clients.append(_port_of(started, listener.port))

    async def _watch_signals(self, signals: AsyncIterator[int]) -> None:
        async for signum in signals:
            if signum == signal.SIGHUP:
                await self._reload()
            elif self._stop.is_set() or not self.ready:
                log.warning("stopping now", signal=signal.Signals(signum).name)
                self._all.cancel()
            else:
                log.info("stopping", signal=signal.Signals(signum).name)
                self._stop.set()
                self._all.deadline = trio.current_time() + DRAIN_TIMEOUT

    async def _reload(self) -> None:
        gateway = self._gateway
        if gateway is None:
            return
        old = gateway.config
        try:
            new = await trio.to_thread.run_sync(
                lambda: load_config(old.source, data_dir=old.daemon.data_dir)
            )
            needs_restart = _changed_sections(old, new)
            # Keep what the running objects were built from; apply the rest.
            new = attrs.evolve(new, **{name: getattr(old, name) for name in needs_restart})
            gateway.reload(new)
        except ConfigError as exc:
            log.error("reload failed, keeping the running config", reason=str(exc))
            return
        except Exception as exc:
            log.error("reload failed, keeping the running config", reason=_reason(exc))
            return
        self.config = new
        if needs_restart:
            log.warning("reload: these sections need a restart", sections=needs_restart)
        log.info("reloaded", accounts=len(new.accounts), routes=len(new.routes))


def _changed_sections(old: Config, new: Config) -> list[str]:
    return [name for name in _RESTART_SECTIONS if getattr(old, name) != getattr(new, name)]


def _port_of(started: Any, configured: int) -> int:
    """The port a ``serve_*`` reported through ``task_status`` (an int, or listeners)."""
    if isinstance(started, int):
        return started
    if isinstance(started, list | tuple) and started:
        return listener_port(started)
    return configured


async def run_daemon(config: Config) -> int:
    """Run the gateway described by ``config`` until SIGTERM/SIGINT; the exit code."""
    return await Daemon(config).run()
