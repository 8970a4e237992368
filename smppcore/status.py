"""``smppcore status``: ask a running daemon how it is, through its metrics endpoint.

Owns :func:`status_arguments` / :func:`status_command` (wired into ``smppcore.cli``),
:func:`fetch_metrics`, :func:`summarize_metrics` (the parsed view, a :class:`DaemonStatus`)
and :func:`format_status` (the text printed).

The daemon exposes everything needed on ``GET /metrics`` (see :mod:`smppcore.upkeep` for the
queue-depth and connector-state gauges it keeps fresh), so status needs no extra endpoint. It
reads ``smppcore_connector_state``, ``smppcore_connector_binds``, ``smppcore_mt_queue_depth``,
``smppcore_delivery_queue_depth``, ``smppcore_client_binds`` and ``smppcore_submits_total``:
it reads ``[metrics] host/port`` from the same config file, scrapes once and prints connector
health (state, binds up), client binds per account and bind type, queue depths and
submit counters. Exit 0 when the daemon answered, 1 when nothing answers at the metrics
address, 2 for a config error, ``[metrics] enabled = false`` included (status needs it).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import attrs
from prometheus_client.parser import text_string_to_metric_families

from smppcore.config import ConfigError, load_config

__all__ = [
    "ConnectorStatus",
    "DaemonStatus",
    "fetch_metrics",
    "format_status",
    "status_arguments",
    "status_command",
    "summarize_metrics",
]

_TIMEOUT = 5.0


@attrs.frozen
class ConnectorStatus:
    name: str
    state: str
    binds_up: int
    binds_down: int
    mt_queue: int


@attrs.frozen
class AccountStatus:
    name: str
    binds: dict[str, int]
    delivery_queue: int
    accepted: int
    rejected: dict[str, int]


@attrs.frozen
class DaemonStatus:
    connectors: tuple[ConnectorStatus, ...]
    accounts: tuple[AccountStatus, ...]


def fetch_metrics(host: str, port: int, timeout: float = _TIMEOUT) -> str:
    """``GET /metrics``; raises ``OSError`` (``URLError`` included) when unreachable."""
    target = f"[{host}]" if ":" in host else host
    with urllib.request.urlopen(f"http://{target}:{port}/metrics", timeout=timeout) as reply:
        body: bytes = reply.read()
    return body.decode("utf-8")


def _samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def summarize_metrics(text: str) -> DaemonStatus:
    """The status view of one ``/metrics`` scrape."""
    states: dict[str, str] = {}
    binds: dict[str, dict[str, int]] = defaultdict(lambda: {"bound": 0, "down": 0})
    mt_queue: dict[str, int] = {}
    client_binds: dict[str, dict[str, int]] = defaultdict(dict)
    delivery: dict[str, int] = {}
    accepted: dict[str, int] = defaultdict(int)
    rejected: dict[str, dict[str, int]] = defaultdict(dict)
    for name, labels, value in _samples(text):
        if name == "smppcore_connector_state" and value == 1:
            states[labels["connector"]] = labels["state"]
        elif name == "smppcore_connector_binds":
            binds[labels["connector"]][labels["state"]] = int(value)
        elif name == "smppcore_mt_queue_depth":
            mt_queue[labels["connector"]] = int(value)
        elif name == "smppcore_delivery_queue_depth":
            delivery[labels["account"]] = int(value)
        elif name == "smppcore_client_binds":
            client_binds[labels["account"]][labels["bind_type"]] = int(value)
        elif name == "smppcore_submits_total":
            if labels["result"] == "accepted":
                accepted[labels["account"]] += int(value)
            else:
                rejected[labels["account"]][labels["reason"]] = int(value)
    connector_names = sorted(set(states) | set(binds) | set(mt_queue))
    connectors = tuple(
        ConnectorStatus(
            name=n,
            state=states.get(n, "unknown"),
            binds_up=binds[n]["bound"],
            binds_down=binds[n]["down"],
            mt_queue=mt_queue.get(n, 0),
        )
        for n in connector_names
    )
    account_names = sorted(set(client_binds) | set(delivery) | set(accepted) | set(rejected))
    accounts = tuple(
        AccountStatus(
            name=a,
            binds={t: c for t, c in client_binds.get(a, {}).items() if c},
            delivery_queue=delivery.get(a, 0),
            accepted=accepted.get(a, 0),
            rejected={r: c for r, c in rejected.get(a, {}).items() if c},
        )
        for a in account_names
    )
    return DaemonStatus(connectors=connectors, accounts=accounts)


def format_status(where: str, status: DaemonStatus) -> str:
    lines = [f"smppcore at {where}: running"]
    lines.append("connectors:" if status.connectors else "connectors: none")
    for c in status.connectors:
        total = c.binds_up + c.binds_down
        lines.append(f"  {c.name}: {c.state}, binds {c.binds_up}/{total} up, mt queue {c.mt_queue}")
    lines.append("accounts:" if status.accounts else "accounts: none")
    for a in status.accounts:
        bound = ", ".join(f"{n} {t}" for t, n in sorted(a.binds.items())) or "not bound"
        rejected = sum(a.rejected.values())
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(a.rejected.items()))
        lines.append(
            f"  {a.name}: {bound}; delivery queue {a.delivery_queue}; "
            f"submits accepted {a.accepted}, rejected {rejected}"
            + (f" ({reasons})" if reasons else "")
        )
    return "\n".join(lines)


def status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, required=True, metavar="FILE", help="the daemon's TOML config"
    )
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument(
        "--timeout", type=float, default=_TIMEOUT, help="seconds to wait for the daemon"
    )


def status_command(args: argparse.Namespace) -> int:
    """Print the running daemon's status; 0 if it answered, 1 if not, 2 for a bad config
    (metrics disabled included: status has nothing to read then)."""
    try:
        config = load_config(args.config, data_dir=args.data_dir)
    except ConfigError as exc:
        print(f"smppcore: {exc}", file=sys.stderr)
        return 2
    if not config.metrics.enabled:
        print(
            f"smppcore: status reads the daemon's /metrics endpoint, which {config.source}"
            " disables: set [metrics] enabled = true (and restart the daemon) to use it",
            file=sys.stderr,
        )
        return 2
    where = f"{config.metrics.host}:{config.metrics.port}"
    try:
        text = fetch_metrics(config.metrics.host, config.metrics.port, args.timeout)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        print(
            f"smppcore: no daemon answering at http://{where}/metrics ({reason}); is it"
            f" running with [metrics] from {config.source}?",
            file=sys.stderr,
        )
        return 1
    print(format_status(where, summarize_metrics(text)))
    return 0
