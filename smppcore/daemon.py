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

When every stage is up the daemon logs one INFO line ``daemon.ready`` with the version and the
listening ports.

Signals (:func:`trio.open_signal_receiver`):

* SIGTERM / SIGINT - graceful drain, innermost stage first:

  1. clients (:mod:`smppcore.net.drain`, bounded by ``[daemon] drain_timeout``, default
     10 s): the listeners close (a new connection is refused); every client connection
     stops taking requests (each one arriving from then on is answered ``ESME_RTHROTTLED``
     at once, enquire_link still served); every request already read is answered (a submit
     made durable with its message id, a rejected one with its status); then each session
     unbinds (waiting for unbind_resp, never past the bound) and closes. A connection still
     answering at the bound is cut: requests it had not started are refused, a store write
     still under way stays unanswered (outcome unknown, see
     :func:`smppcore.gateway.server.handle_client`), and it gets :data:`_CUT_GRACE` to flush
     and close. One ``daemon.clients_drained`` INFO line gives the counts; the metrics are
     ``smppcore_drain_requests_total`` and ``smppcore_drain_connections_total``;
  2. operators: only now are the connectors stopped (until then they keep forwarding what
     was accepted; the durable queue keeps the rest), their binds unbind;
  3. the infra stops and the store is closed (queued writes flushed).

  The stages after the clients get :data:`STOP_AFTER_DRAIN` more, so the whole stop is
  bounded by ``drain_timeout + _CUT_GRACE + STOP_AFTER_DRAIN`` (17.5 s by default); a second
  signal cuts it short. Exit code 0.
* SIGHUP - re-read the same file and apply accounts, routes and policy
  (:meth:`Gateway.reload`) without touching binds. A bad file is logged and the running
  config kept; changes to sections that need a restart are logged as such.

Startup failures (a port taken, the store not opening, an unknown connector type, a
connector's options refused by its plugin) are one ``daemon.startup_failed`` ERROR line naming the
component and exit code 1.
"""

from __future__ import annotations

import functools
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import attrs
import trio

from smppcore import __version__
from smppcore.config import Config, ConfigError, load_config
from smppcore.gateway.context import Gateway
from smppcore.logs import get_logger
from smppcore.metrics import serve_metrics
from smppcore.net.drain import ServerDrain
from smppcore.net.server import listener_port
from smppcore.startup import StartupError, assemble
from smppcore.startup import reason as _reason
from smppcore.store.base import Store

__all__ = ["EXIT_FAILED", "EXIT_OK", "STOP_AFTER_DRAIN", "StartupError", "run_daemon"]

log = get_logger(__name__)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
#: Seconds the stages after the clients' drain get (operator binds unbind, the infra stops)
#: before whatever remains is cancelled.
STOP_AFTER_DRAIN: Final = 5.0
#: Seconds a client connection cut at the drain's deadline gets to flush its last answers
#: and close (its final flush is bounded by 2 s) before the client stage is cancelled.
_CUT_GRACE: Final = 2.5
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
            log.error("daemon.startup_failed", component=startup.component, reason=startup.reason)
            return EXIT_FAILED
        log.info("daemon.stopped")
        return EXIT_OK

    async def _serve(self, store: Store, signals: AsyncIterator[int]) -> None:
        config = self.config
        parts = assemble(config, store)
        metrics, gateway, return_path = parts.metrics, parts.gateway, parts.return_path
        connectors, upkeep = parts.connectors, parts.upkeep
        self._gateway = gateway
        drain = ServerDrain(on_drained=metrics.count_drained)
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
                        await self._start_clients(clients, gateway, drain)
                        self.ready = True
                        log.info(
                            "daemon.ready",
                            version=__version__,
                            clients=self.ports.clients,
                            metrics=self.ports.metrics,
                            simulator=self.ports.simulator,
                            simulator_control=self.ports.simulator_control,
                            connectors=[c.name for c in connectors],
                            accounts=len(config.accounts),
                        )
                        await self._stop.wait()
                        log.info("daemon.draining", stage="clients")
                        deadline = trio.current_time() + config.daemon.drain_timeout
                        drain.begin(deadline)
                        # Each serve_clients returns once its connections have drained.
                        clients.cancel_scope.deadline = deadline + _CUT_GRACE
                    _log_drained(drain)
                    log.info("daemon.draining", stage="operators")
                    operators.cancel_scope.cancel()
                infra.cancel_scope.cancel()

    async def _start_simulator(
        self, nursery: trio.Nursery, serve_simulator: Callable[..., Awaitable[Any]]
    ) -> None:
        sim = await _start(nursery, "simulator", serve_simulator, self.config.simulator)
        self.ports.simulator = int(sim.port)
        self.ports.simulator_control = int(sim.control_port)

    async def _start_clients(
        self, nursery: trio.Nursery, gateway: Gateway, drain: ServerDrain
    ) -> None:
        from smppcore.gateway.server import serve_clients

        serve = functools.partial(serve_clients, drain=drain)
        for listener in self.config.listeners:
            started = await _start(nursery, f"listener {listener.name}", serve, gateway, listener)
            self.ports.clients.append(_port_of(started, listener.port))

    async def _watch_signals(self, signals: AsyncIterator[int]) -> None:
        async for signum in signals:
            if signum == signal.SIGHUP:
                await self._reload()
            elif self._stop.is_set() or not self.ready:
                log.warning("daemon.stopping_now", signal=signal.Signals(signum).name)
                self._all.cancel()
            else:
                log.info("daemon.stopping", signal=signal.Signals(signum).name)
                self._stop.set()
                bound = self.config.daemon.drain_timeout + _CUT_GRACE + STOP_AFTER_DRAIN
                self._all.deadline = trio.current_time() + bound

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
            log.error("daemon.reload_failed", reason=str(exc))
            return
        except Exception as exc:
            log.error("daemon.reload_failed", reason=_reason(exc))
            return
        self.config = new
        if needs_restart:
            log.warning("daemon.reload_needs_restart", sections=needs_restart)
        log.info("daemon.reloaded", accounts=len(new.accounts), routes=len(new.routes))


def _log_drained(drain: ServerDrain) -> None:
    """The one INFO line of the clients' drain (counts only)."""
    stats = drain.statistics()
    log.info(
        "daemon.clients_drained",
        connections=stats.connections,
        unbound=stats.unbound,
        closed=stats.closed,
        cut=stats.cut,
        answered=stats.answered,
        refused=stats.refused,
        unanswered=stats.unanswered,
    )


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
