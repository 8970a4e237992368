"""Routing: longest prefix, country, default, account overrides, weights, failover."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from smppcore.gateway.rejection import Rejection
from smppcore.gateway.routing import CONNECTORS_DOWN, NO_ROUTE, Route, Router, RoutingTable

TABLE = RoutingTable(
    prefixes={"27": Route.of("za-any"), "2782": Route.of("vodacom"), "27821": Route.of("voda-1")},
    countries={"GB": Route.of("uk"), "ZA": Route.of("za-country")},
    default=Route.of("fallback"),
)


def up(_: str) -> bool:
    return True


def rand() -> float:
    return 0.5


@pytest.mark.parametrize(
    ("e164", "region", "expected"),
    [
        ("27821234567", "ZA", "voda-1"),
        ("27831234567", "ZA", "za-any"),
        ("27829999999", "ZA", "vodacom"),
        ("447400123456", "GB", "uk"),
        ("14155552671", "US", "fallback"),
    ],
)
def test_longest_prefix_then_country_then_default(e164: str, region: str, expected: str) -> None:
    assert Router(TABLE).route("acc", e164, region, up, rand) == expected


def test_no_route() -> None:
    router = Router(RoutingTable(prefixes={"27": Route.of("za")}))
    assert router.route("acc", "14155552671", "US", up, rand) == NO_ROUTE
    assert Rejection(0x0B, "no_route") == NO_ROUTE


def test_account_override_takes_precedence() -> None:
    router = Router(TABLE, overrides={"vip": RoutingTable(countries={"ZA": Route.of("premium")})})
    assert router.route("vip", "27821234567", "ZA", up, rand) == "premium"
    assert router.route("other", "27821234567", "ZA", up, rand) == "voda-1"


def test_failover_within_route_then_to_less_specific() -> None:
    table = RoutingTable(
        prefixes={"2782": Route((("a", 1), ("b", 1)))}, countries={"ZA": Route.of("c")}
    )
    router = Router(table)
    down: set[str] = set()

    def is_up(name: str) -> bool:
        return name not in down

    assert router.route("x", "27821234567", "ZA", is_up, lambda: 0.0) == "a"
    down.add("a")
    assert router.route("x", "27821234567", "ZA", is_up, lambda: 0.0) == "b"
    down.add("b")
    assert router.route("x", "27821234567", "ZA", is_up, lambda: 0.0) == "c"
    down.add("c")
    assert router.route("x", "27821234567", "ZA", is_up, lambda: 0.0) == CONNECTORS_DOWN
    assert router.primary("x", "27821234567", "ZA", lambda: 0.0) == "a"


def test_weighted_balance_is_deterministic_and_proportional() -> None:
    route = Route((("a", 3), ("b", 1)))
    rng1, rng2 = random.Random(42), random.Random(42)
    picks1 = [route.pick(up, rng1.random) for _ in range(4000)]
    picks2 = [route.pick(up, rng2.random) for _ in range(4000)]
    assert picks1 == picks2
    counts = Counter(picks1)
    assert 2700 < counts["a"] < 3300 and counts["a"] + counts["b"] == 4000
    # Edges of [0, 1): the first and last connector.
    assert route.pick(up, lambda: 0.0) == "a"
    assert route.pick(up, lambda: 0.7499) == "a"
    assert route.pick(up, lambda: 0.75) == "b"
    assert route.pick(up, lambda: 0.9999999999) == "b"


@pytest.mark.parametrize("bad", [(), (("a", 0),), (("a", -1),)])
def test_bad_routes(bad: tuple[tuple[str, float], ...]) -> None:
    with pytest.raises(ValueError):
        Route(bad)


def test_bad_prefix() -> None:
    with pytest.raises(ValueError):
        RoutingTable(prefixes={"+27": Route.of("x")})
