"""Choose the connector for a destination: prefix, country, default; weights; failover.

Owns: :class:`Route` (weighted connectors), :class:`RoutingTable` (longest-prefix match on
E.164 digits, then the destination's region code, then a default) and :class:`Router`
(per-account tables take precedence over the global one). Pure: liveness is an injected
``is_up(connector) -> bool`` and randomness an injected ``rand() -> float`` in [0, 1).

Selection: candidate routes are, in order, the account table's prefix match, country match
and default, then the same in the global table. The first candidate with at least one
connector up wins; inside it, a connector is drawn among the *up* connectors in proportion
to their weights. So a route whose connectors are all down fails over to the next less
specific route.

Results: no candidate at all → ``Rejection(NO_ROUTE_STATUS=ESME_RINVDSTADR, "no_route")``
(permanent: this destination is not served for the account). Candidates exist but every
connector is down → ``Rejection(ESME_RSYSERR, "connectors_down")``: transient, which the
reference's retry classification treats as "retry later"; a caller that prefers to queue
durably and wait can instead use :meth:`Router.primary` to pick the preferred connector
regardless of liveness.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

import attrs

from smppcore.gateway.rejection import ESME_RSYSERR, NO_ROUTE_STATUS, Rejection

__all__ = [
    "CONNECTORS_DOWN",
    "NO_ROUTE",
    "Route",
    "Router",
    "RoutingTable",
]

NO_ROUTE: Final = Rejection(NO_ROUTE_STATUS, "no_route")
CONNECTORS_DOWN: Final = Rejection(ESME_RSYSERR, "connectors_down")


_Weighted = tuple[tuple[str, float], ...]


def _to_weighted(value: Iterable[tuple[str, float]]) -> _Weighted:
    return tuple((str(n), float(w)) for n, w in value)


def _check_weights(
    instance: Route, attribute: attrs.Attribute[_Weighted], value: _Weighted
) -> None:
    if not value:
        raise ValueError("a route needs at least one connector")
    if any(w <= 0 for _, w in value):
        raise ValueError("connector weights must be positive")


@attrs.frozen(slots=True)
class Route:
    """Connectors with positive weights, e.g. ``Route((("mtn-a", 3), ("mtn-b", 1)))``."""

    connectors: _Weighted = attrs.field(converter=_to_weighted, validator=_check_weights)

    @classmethod
    def of(cls, *names: str) -> Route:
        """Equal weights."""
        return cls(tuple((n, 1.0) for n in names))

    def pick(self, is_up: Callable[[str], bool], rand: Callable[[], float]) -> str | None:
        """A weighted draw among connectors that are up, or None if all are down."""
        up = [(n, w) for n, w in self.connectors if is_up(n)]
        if not up:
            return None
        if len(up) == 1:
            return up[0][0]
        target = rand() * sum(w for _, w in up)
        for name, weight in up:
            target -= weight
            if target < 0:
                return name
        return up[-1][0]  # float rounding at the top end


@attrs.frozen(slots=True)
class RoutingTable:
    """Prefix routes (E.164 digits), country routes (ISO region) and an optional default."""

    prefixes: Mapping[str, Route] = attrs.field(factory=dict)
    countries: Mapping[str, Route] = attrs.field(factory=dict)
    default: Route | None = None
    _lengths: tuple[int, ...] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        for p in self.prefixes:
            if not (p.isascii() and p.isdigit()):
                raise ValueError(f"route prefix {p!r} must be digits")
        lengths = tuple(sorted({len(p) for p in self.prefixes}, reverse=True))
        object.__setattr__(self, "_lengths", lengths)

    def candidates(self, e164: str, region: str) -> Iterable[Route]:
        """Longest prefix match, then country, then default (each at most once)."""
        for n in self._lengths:
            if n <= len(e164):
                route = self.prefixes.get(e164[:n])
                if route is not None:
                    yield route
                    break
        route = self.countries.get(region)
        if route is not None:
            yield route
        if self.default is not None:
            yield self.default


@attrs.frozen(slots=True)
class Router:
    """The global table plus per-account overrides (which are consulted first)."""

    table: RoutingTable = attrs.field(factory=RoutingTable)
    overrides: Mapping[str, RoutingTable] = attrs.field(factory=dict)

    def _candidates(self, account: str, e164: str, region: str) -> Iterable[Route]:
        override = self.overrides.get(account)
        if override is not None:
            yield from override.candidates(e164, region)
        yield from self.table.candidates(e164, region)

    def route(
        self,
        account: str,
        e164: str,
        region: str,
        is_up: Callable[[str], bool],
        rand: Callable[[], float],
    ) -> str | Rejection:
        """The connector to queue for, or ``NO_ROUTE`` / ``CONNECTORS_DOWN``."""
        found = False
        for route in self._candidates(account, e164, region):
            found = True
            name = route.pick(is_up, rand)
            if name is not None:
                return name
        return CONNECTORS_DOWN if found else NO_ROUTE

    def primary(
        self, account: str, e164: str, region: str, rand: Callable[[], float]
    ) -> str | Rejection:
        """The most specific route's weighted choice, ignoring liveness."""
        return self.route(account, e164, region, lambda _: True, rand)
