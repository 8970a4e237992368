"""What ``smppcore run`` builds from its config before it serves, and ``check-config``'s dry
run of the same.

Owns :class:`StartupError`, :class:`Assembly`, :func:`assemble` and :func:`dry_run` (with
:func:`check_startup`, its synchronous form for the CLI).

Before it serves, ``run`` loads the config (:func:`~smppcore.config.load_config`: every key,
the rules that span sections, secrets from the environment, numbers owned by two accounts),
opens the store, then calls :func:`assemble`, which builds, in this order:

* the gateway: accounts (their number rules and the ownership index), router, keywords;
* the return path (each connector's receipt conventions: ``dlr_timezone``, ``id_format``);
* one connector per ``[[connectors]]`` entry: its plugin found by ``type`` and built, which
  is where the plugin checks what is its own (the ``smpp`` plugin: ``options``, the TLS CA
  file);
* the housekeeping loops;
* each listener's TLS context (certificate and key loaded and matched), and the simulator's
  entry point when ``[simulator] enabled``.

Any failure is a :class:`StartupError` naming the component. ``smppcore check-config`` runs
the same two functions: :func:`load_config`, then :func:`assemble` (:func:`dry_run`) over a
scratch SQLite store in a temporary directory (removed afterwards), so a config it
passes is one ``run`` builds. What it does not check is what depends on the machine when
the daemon starts: whether the configured store opens (data dir writable, Redis reachable),
whether the ports are free, whether the operators answer.
"""

from __future__ import annotations

import importlib
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from smppcore.config import Config, StoreConfig
from smppcore.connector_api import Connector, ConnectorContext, load_connector_factory
from smppcore.gateway.context import Gateway, build_gateway
from smppcore.gateway.returnpath import ReturnPath
from smppcore.metrics import Metrics
from smppcore.store.base import Store
from smppcore.store.timed import timed_store
from smppcore.upkeep import Upkeep

__all__ = ["Assembly", "StartupError", "assemble", "check_startup", "dry_run", "reason"]


class StartupError(Exception):
    """A component could not start; ``component`` names it for the log line."""

    def __init__(self, component: str, reason: str) -> None:
        super().__init__(f"{component}: {reason}")
        self.component = component
        self.reason = reason


def reason(exc: BaseException) -> str:
    """A short, human description of why something failed (no tracebacks, no data)."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(reason(e) for e in exc.exceptions)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@attrs.frozen(eq=False)
class Assembly:
    """Everything the daemon runs, built and not yet started."""

    metrics: Metrics
    gateway: Gateway
    return_path: ReturnPath
    connectors: tuple[Connector, ...]
    upkeep: Upkeep
    #: ``serve_simulator`` when ``[simulator] enabled``, else None.
    simulator: Callable[..., Awaitable[Any]] | None


def assemble(config: Config, store: Store) -> Assembly:
    """Build the daemon's parts for ``config`` over ``store`` (see the module docstring);
    :class:`StartupError` names the part that could not be built."""
    metrics = Metrics()
    store = timed_store(store, metrics)  # every store call into smppcore_store_seconds
    try:
        gateway = build_gateway(config, store, metrics, {})
    except Exception as exc:
        raise StartupError("gateway", reason(exc)) from exc
    try:
        return_path = ReturnPath(gateway, node_id=config.daemon.node_id)
    except Exception as exc:
        raise StartupError("return path", reason(exc)) from exc
    connectors = _build_connectors(config, gateway, metrics, store, return_path)
    upkeep = Upkeep(gateway)
    _check_listeners(config)
    simulator = _simulator_entry() if config.simulator.enabled else None
    return Assembly(metrics, gateway, return_path, connectors, upkeep, simulator)


def _build_connectors(
    config: Config, gateway: Gateway, metrics: Metrics, store: Store, sink: ReturnPath
) -> tuple[Connector, ...]:
    context = ConnectorContext(
        store=store,
        sink=sink,
        metrics=metrics,
        retention=config.retention,
        node_id=config.daemon.node_id,
    )
    built: list[Connector] = []
    for cc in config.connectors:
        try:
            factory = load_connector_factory(cc.type)
        except (LookupError, ImportError) as exc:
            raise StartupError(f"connector {cc.name}", f"unknown type {cc.type!r}") from exc
        try:
            connector = factory(cc, context)
        except Exception as exc:
            raise StartupError(f"connector {cc.name}", reason(exc)) from exc
        gateway.connectors[cc.name] = connector
        built.append(connector)
    return tuple(built)


def _check_listeners(config: Config) -> None:
    """Each TLS listener's certificate and key load (``serve_clients`` loads them with the
    same :func:`~smppcore.gateway.server.tls_context` when it starts)."""
    from smppcore.gateway.server import tls_context

    for listener in config.listeners:
        try:
            tls_context(listener)
        except Exception as exc:
            raise StartupError(f"listener {listener.name}", reason(exc)) from exc


def _simulator_entry() -> Callable[..., Awaitable[Any]]:
    try:
        module = importlib.import_module("connectors.simulator")
    except ImportError as exc:
        raise StartupError("simulator", reason(exc)) from exc
    entry: Callable[..., Awaitable[Any]] = module.serve_simulator
    return entry


async def dry_run(config: Config) -> None:
    """Build what ``run`` builds for ``config`` (a loaded one) over a scratch store in a new
    temporary directory, removed afterwards; nothing is started, the configured store and
    data dir are not touched. :class:`StartupError` if a part cannot be built; ``OSError``
    if the scratch store cannot be made."""
    with tempfile.TemporaryDirectory(prefix="smppcore-check-") as scratch:
        await _assemble_over_scratch_store(config, Path(scratch))


def check_startup(config: Config) -> None:
    """:func:`dry_run` under its own ``trio.run``, for synchronous callers (the CLI)."""
    trio.run(dry_run, config)


async def _assemble_over_scratch_store(config: Config, scratch: Path) -> None:
    from smppcore.gateway.privacy import open_configured_store

    store = StoreConfig(path=scratch / "check.sqlite3", hash_secret=secrets.token_bytes(32))
    scratch_config = attrs.evolve(
        config, daemon=attrs.evolve(config.daemon, data_dir=scratch), store=store
    )
    async with open_configured_store(scratch_config) as scratch_store:
        assemble(config, scratch_store)
