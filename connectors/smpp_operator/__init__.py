"""The SMPP operator connector: binds to an operator's SMSCs and works the MT queue.

Owns :func:`create_connector` (the ``smpp`` connector type, see
:mod:`smppcore.connector_api`) and :class:`SmppOperatorConnector`, the composition of

* :mod:`.pool` - N binds (transceivers, or transmitter + receiver pairs) with host failover,
  reconnect backoff, enquire_link, response timeouts and TLS;
* :mod:`.throttle` - one token bucket for all binds, its rate adapted to the operator's
  ``ESME_RTHROTTLED`` / ``ESME_RMSGQFUL`` answers (AIMD under the contract rate);
* :mod:`.worker` - leasing, segmenting, submitting, id maps, ack/nack/final, per-destination
  order;
* :mod:`.intake` - deliver_sm / data_sm from the operator into the gateway's sink;
* :mod:`.outbind` - with ``outbind_listen``: SMSC-initiated sessions, bound as receivers;
* :mod:`.classify`, :mod:`.segments`, :mod:`.options`, :mod:`.health`.

Options (``[connectors.options]``) are listed in :class:`.options.OperatorOptions`.
"""

from __future__ import annotations

import os
import random
from typing import Any

import trio

from smppcore.config.model import ConnectorConfig
from smppcore.connector_api import ConnectorContext, ConnectorHealth
from smppcore.metrics import Metrics
from smppcore.net.client import Backoff
from smppcore.protocol.pdu import BindReceiver
from smppcore.protocol.session_events import SessionConfig

from .classify import Classifier
from .health import connector_health
from .intake import Intake
from .options import OperatorOptions, parse_options
from .outbind import OutbindListener
from .pool import BindPool, bind_pdus, make_ssl_context
from .throttle import Throttle
from .worker import QueueWorker, WorkerStats

__all__ = ["SmppOperatorConnector", "create_connector"]

_DEFAULT_ID_MAP_HOURS = 24.0


def _secret(name: str, value: str | None, env_name: str | None, what: str) -> str:
    if value is not None:
        return value
    if env_name is None:
        raise ValueError(f"connector {name}: no {what} configured")
    found = os.environ.get(env_name)
    if found is None:
        raise ValueError(f"connector {name}: ${env_name} is not set")
    return found


class SmppOperatorConnector:
    """One operator connector. Build it inside trio (its clocks are trio's)."""

    def __init__(self, config: ConnectorConfig, ctx: ConnectorContext) -> None:
        self.name = config.name
        self.config = config
        self.options: OperatorOptions = parse_options(config.options)
        rng = random.Random(self.options.rng_seed)
        metrics: Metrics = ctx.metrics if ctx.metrics is not None else Metrics()
        self._metrics = metrics.connector(config.name)
        decode_errors = metrics.decode_errors.labels("operator")
        count_pdu = metrics.pdu_counter("operator")
        self.intake = Intake(
            config.name, ctx.sink, window=self.options.intake_window or config.window
        )
        session = SessionConfig(
            window=config.window,
            response_timeout=config.response_timeout,
            enquire_link_interval=config.enquire_link_interval,
        )
        credentials = bind_pdus(
            config.system_id,
            _secret(config.name, config.password, config.password_env, "password"),
            config.system_type,
        )
        self.pool = BindPool(
            config.name,
            config.hosts,
            credentials,
            binds=config.binds,
            bind_mode=config.bind_mode,
            session_config=session,
            ssl_context=make_ssl_context(
                config.tls,
                config.tls_verify,
                str(config.tls_ca_file) if config.tls_ca_file is not None else None,
            ),
            backoff=Backoff(initial=config.reconnect_min, maximum=config.reconnect_max),
            connect_timeout=self.options.connect_timeout,
            intake=self.intake,
            on_change=self._binds_changed,
            rng=rng,
            on_bad_pdu=lambda _event: decode_errors.inc(),
            on_pdu=count_pdu,
        )
        self.throttle = Throttle(
            config.name,
            config.throughput,
            config.effective_burst,
            interval=self.options.throttle_window,
            max_window=5 * self.options.throttle_window,
        )
        id_map_hours = getattr(ctx.retention, "id_map_hours", _DEFAULT_ID_MAP_HOURS)
        self.worker = QueueWorker(
            config.name,
            ctx,
            self.pool,
            self.throttle,
            Classifier(config.transient_statuses),
            self.options,
            self._metrics,
            window=config.window,
            id_map_seconds=float(id_map_hours) * 3600.0,
            rng=rng,
        )
        self.outbind: OutbindListener | None = None
        if config.outbind_listen is not None:
            receiver = credentials["receiver"]
            assert isinstance(receiver, BindReceiver)
            self.outbind = OutbindListener(
                config.name,
                config.outbind_listen,
                password=_secret(
                    config.name, config.outbind_password, config.outbind_password_env,
                    "outbind_password",
                ),
                system_id=config.outbind_system_id,
                bind_pdu=receiver,
                session_config=session,
                intake=self.intake,
                on_pdu=count_pdu,
            )  # fmt: skip
        self._binds_changed()

    @property
    def stats(self) -> WorkerStats:
        return self.worker.stats

    def _binds_changed(self) -> None:
        up = self.pool.binds_up()
        self._metrics.binds_up.set(up)
        self._metrics.binds_down.set(len(self.pool.submit_slots) - up)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.pool.run)
            if self.outbind is not None:
                await nursery.start(self.outbind.serve)
            nursery.start_soon(self.worker.run)
            task_status.started()

    def is_up(self) -> bool:
        return self.pool.any_up()

    def wake(self) -> None:
        self.worker.wake()

    def health(self) -> ConnectorHealth:
        return connector_health(self.name, self.pool, self.throttle, self.worker.in_flight)


def create_connector(config: Any, ctx: ConnectorContext) -> SmppOperatorConnector:
    """The ``smpp`` connector type's factory (entry point ``smppcore.connectors``)."""
    if not isinstance(config, ConnectorConfig):
        raise TypeError("the smpp connector needs a ConnectorConfig")
    return SmppOperatorConnector(config, ctx)
