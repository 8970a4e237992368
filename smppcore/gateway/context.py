"""The gateway's run-time composition: what every gateway part receives.

Owns: :class:`Gateway` (config, store, metrics, bind registry, connectors, account directory,
router, id generator, consent keywords, clock, bind lock-out, per-account queued counters) and
:func:`build_gateway`, :func:`build_router`, :func:`build_keywords`.

Time: ``clock`` is wall-clock epoch seconds (``time.time``); the store's times, retention
deadlines, token buckets and the bind lock-out all use it, so a test injects one function to
control every timer of the gateway.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import attrs

from smppcore.config.model import AccountConfig, Config, KeywordSet, RouteConfig
from smppcore.connector_api import Connector
from smppcore.gateway.accounts import AccountDirectory, retention_seconds
from smppcore.gateway.binds import BindRegistry
from smppcore.gateway.consent import KeywordMatcher, LocaleKeywords
from smppcore.gateway.ids import MessageIdGenerator
from smppcore.gateway.lockout import BindLockout
from smppcore.gateway.queued import QueuedCounters
from smppcore.gateway.routing import Route, Router, RoutingTable
from smppcore.metrics import Metrics
from smppcore.store.base import Store

__all__ = ["DATA_CLASSES", "Gateway", "build_gateway", "build_keywords", "build_router"]

#: Data classes with their own retention period (``[retention] <class>_hours``).
DATA_CLASSES: Final = ("message", "id_map", "conversation", "delivery")
_RETENTION_FIELDS: Final = {name: f"{name}_hours" for name in DATA_CLASSES}
_OPT_OUT_ALL: Final = frozenset({"STOPALL"})


def _table(routes: Iterable[RouteConfig]) -> RoutingTable:
    prefixes: dict[str, Route] = {}
    countries: dict[str, Route] = {}
    default: Route | None = None
    for rc in routes:
        route = Route(tuple((t.name, float(t.weight)) for t in rc.connectors))
        if rc.prefix is not None:
            prefixes.setdefault(rc.prefix, route)
        elif rc.country is not None:
            countries.setdefault(rc.country.upper(), route)
        elif default is None:
            default = route
    return RoutingTable(prefixes=prefixes, countries=countries, default=default)


def build_router(routes: Iterable[RouteConfig]) -> Router:
    """``[[routes]]`` → a :class:`Router`; routes with ``account`` become that account's
    override table. The first route of a given prefix/country/default wins."""
    routes = list(routes)
    overrides: dict[str, list[RouteConfig]] = {}
    for rc in routes:
        if rc.account is not None:
            overrides.setdefault(rc.account, []).append(rc)
    return Router(
        table=_table(rc for rc in routes if rc.account is None),
        overrides={name: _table(rcs) for name, rcs in overrides.items()},
    )


def _locale(ks: KeywordSet) -> LocaleKeywords:
    words = set(ks.opt_out)
    return LocaleKeywords(
        opt_out=frozenset(words - _OPT_OUT_ALL),
        opt_out_all=frozenset(words & _OPT_OUT_ALL),
        opt_in=frozenset(ks.opt_in),
        help=frozenset(ks.help),
    )


def build_keywords(sets: Mapping[str, KeywordSet]) -> KeywordMatcher:
    """Every locale's keyword set merged into one matcher (STOPALL → opt-out-all)."""
    return KeywordMatcher([_locale(ks) for ks in sets.values()])


@attrs.define(eq=False)
class Gateway:
    """The run-time composition every gateway part receives."""

    config: Config
    store: Store
    metrics: Metrics
    binds: BindRegistry
    connectors: dict[str, Connector]
    directory: AccountDirectory
    router: Router
    ids: MessageIdGenerator
    keywords: KeywordMatcher
    clock: Callable[[], float] = time.time
    lockout: BindLockout = attrs.field(factory=BindLockout)
    queued: QueuedCounters = attrs.field(factory=QueuedCounters)
    rand: Callable[[], float] = random.random

    def reload(self, config: Config) -> None:
        """Apply a new config's accounts, routes and policy without touching binds.

        Everything is built before anything is replaced, so a config that fails half-way
        leaves the running one whole."""
        router = build_router(config.routes)
        keywords = build_keywords(config.policy.keywords)
        directory = self.directory.reload(config, self.clock())
        self.directory, self.router, self.keywords, self.config = (
            directory, router, keywords, config,
        )  # fmt: skip

    def is_up(self, connector: str) -> bool:
        conn = self.connectors.get(connector)
        return conn is not None and conn.is_up()

    def expires_at(self, account: str, data_class: str, now: float) -> float:
        """When a record of ``data_class`` written now for ``account`` may be purged."""
        field = _RETENTION_FIELDS.get(data_class)
        if field is None:
            raise ValueError(f"unknown data class {data_class!r}")
        hours: float = getattr(self.config.retention, field)
        runtime = self.directory.get(account)
        acc: AccountConfig | None = runtime.config if runtime is not None else None
        if acc is None:
            return now + hours * 3600.0
        return now + retention_seconds(hours, acc, self.config)


def build_gateway(
    config: Config,
    store: Store,
    metrics: Metrics,
    connectors: dict[str, Connector],
    *,
    clock: Callable[[], float] = time.time,
) -> Gateway:
    return Gateway(
        config=config,
        store=store,
        metrics=metrics,
        binds=BindRegistry(),
        connectors=connectors,
        directory=AccountDirectory.build(config, metrics, clock()),
        router=build_router(config.routes),
        ids=MessageIdGenerator(),
        keywords=build_keywords(config.policy.keywords),
        clock=clock,
    )
