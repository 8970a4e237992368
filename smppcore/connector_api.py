"""The seam between the gateway and the plugins that reach operators.

A connector plugin (``connectors/``) is found by its ``type`` name from the config through the
``smppcore.connectors`` entry-point group, so ``smppcore`` never imports ``connectors``
statically. The daemon builds one connector per ``[[connectors]]`` entry with a
:class:`ConnectorContext` and runs it in its root nursery.

What flows across the seam:

* gateway → connector: messages in the store's MT queue for the connector's name, and
  :meth:`Connector.wake` after each enqueue so the worker does not wait for its next poll;
* connector → gateway: every ``deliver_sm``/``data_sm`` the operator sends, handed in
  batches to :meth:`DeliverSink.operator_deliver` (which returns only once the batch is
  durable; the connector answers the operator with the statuses it returns), and every
  message that became final without a receipt from the operator (:meth:`DeliverSink.mt_final`,
  the only way a connector ends a message).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol

import attrs
import trio

from smppcore.store.base import IdMapEntry, MtMessage, MtState, Store

ENTRY_POINT_GROUP = "smppcore.connectors"

#: Connector types that ship with smppcore, used when entry points are not installed
#: (e.g. running from a source tree without ``pip install -e``).
BUILTIN_CONNECTORS: dict[str, str] = {
    "smpp": "connectors.smpp_operator:create_connector",
}


class DeliverSink(Protocol):
    """The gateway's return path, as a connector sees it."""

    async def operator_deliver(self, connector: str, pdus: Sequence[Any]) -> list[int]:
        """Handle ``DeliverSm``/``DataSm`` PDUs received from the operator (a batch, in the
        order received): make them durable, then return one ``command_status`` per PDU for
        its response (``ESME_ROK`` only once durable)."""
        ...

    async def mt_final(self, message: MtMessage, state: MtState, error_code: int) -> None:
        """A message became final without an operator receipt (permanent failure, expiry):
        record the final state together with the client's receipt if one was asked for."""
        ...

    def submitted(self, message: MtMessage, id_maps: Sequence[IdMapEntry]) -> None:
        """Every segment of ``message`` was accepted (the maps of all but the last are durable,
        the last one's is on its way with the message's ack): its receipts will follow. A
        hint (the sink may keep the maps in memory to match those receipts faster); the store
        stays the reference."""
        ...


@attrs.frozen
class ConnectorHealth:
    """What ``smppcore status`` and the metrics show about one connector."""

    name: str
    #: "up"; "throttled" (all binds up, sending below its throughput because the operator
    #: throttled); "degraded" (some binds down); "down" (none up)
    state: str
    binds_up: int
    binds_total: int
    send_rate: float = 0.0  # submits/s the connector allows itself now; 0 = not reported
    backoff_until: float = 0.0
    in_flight: int = 0


class Connector(Protocol):
    name: str

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Bind, work the queue and take deliveries until cancelled."""
        ...

    def is_up(self) -> bool:
        """True while at least one bind can submit (routing fails over when False)."""
        ...

    def wake(self) -> None:
        """New messages were queued for this connector."""
        ...

    def health(self) -> ConnectorHealth: ...


@attrs.frozen
class ConnectorContext:
    store: Store
    sink: DeliverSink
    metrics: Any  # smppcore.metrics.Metrics
    retention: Any  # the [retention] config section
    node_id: str = "local"


ConnectorFactory = Callable[[Any, ConnectorContext], Connector]


def load_connector_factory(type_name: str) -> ConnectorFactory:
    """Find the factory for a connector ``type`` (entry points first, then built-ins)."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == type_name:
            factory: ConnectorFactory = ep.load()
            return factory
    target = BUILTIN_CONNECTORS.get(type_name)
    if target is None:
        raise LookupError(f"no connector plugin named {type_name!r}")
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory
