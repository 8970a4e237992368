"""Prometheus metrics: every metric of the daemon, on a registry made fresh per daemon.

Owns :class:`Metrics` (the metric families), the pre-bound per-name helpers
:class:`AccountMetrics` and :class:`ConnectorMetrics`, and :func:`serve_metrics` (a small trio
HTTP server for ``GET /metrics``).

Besides the gateway's own families the registry has ``smppcore_build_info{version, python}``
(always 1), the ``process_*`` and ``python_info`` series of prometheus_client, and no
``*_created`` series.

Labels name accounts, connectors, commands, statuses, reasons, sides and directions - never
phone numbers or message text. Status labels are bounded: a status the spec names keeps its
name, a vendor status (0x400-0x4FF) its hex form, anything else becomes ``"other"``, so a peer
sending random statuses cannot blow up the series count. A label naming an account is
``account`` and one naming a connector ``connector``; the one exception left is
``smppcore_throttled_total{scope, name}``, whose ``name`` is either, as ``scope`` says.

Traffic:

* ``smppcore_pdus_total{side, direction, command, status}``: every PDU that decoded (``in``)
  and every PDU sent (``out``), on both sides: ``side="client"`` is our SMPP server towards
  clients, ``side="operator"`` the connectors towards SMSCs. Counted by the session itself
  (:data:`~smppcore.protocol.session.PduHook`), so binds, enquire_links, unbinds, nacks and
  the automatic answers are in; bytes that did not decode go to
  ``smppcore_decode_errors_total{side}`` instead. The hook is :meth:`Metrics.pdu_counter`.
* ``smppcore_mt_queue_depth{connector}`` (MT messages waiting to be submitted) and
  ``smppcore_delivery_queue_depth{account}`` (receipts and MO waiting for the client), sampled
  by :mod:`smppcore.upkeep` (``helper.mt_queue`` / ``helper.delivery_queue``).
* ``smppcore_store_seconds{operation}``: every store call, by :class:`~smppcore.store.base.Store`
  method name (:func:`smppcore.store.timed.timed_store`; ``metrics.store_op(name)``).

Receipt outcomes, the delivery ratio per route:

* ``smppcore_receipts_total{connector, source, outcome}``: ``outcome`` is the receipt ``stat``
  word (DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, SKIPPED, UNKNOWN, ACCEPTD, ENROUTE,
  SCHEDLD: a fixed set). ``source="operator"``: counted once per message its operator's
  receipt made final (the finaliser; a long message once, with its aggregate state, when its
  last segment's receipt came; duplicates not again), and once per intermediate (non-final:
  ENROUTE, ACCEPTD, UNKNOWN, SCHEDLD) receipt of a message not final yet.
  ``source="gateway"``: once per message we made final before any receipt (expired, rejected
  or undeliverable as the connector decided). Delivery ratio of a route:
  ``DELIVRD / sum over the final outcomes`` of one connector.
  ``helper.receipt(source, state).inc()``.

Connector metrics for the operator connector (pre-bound on :class:`ConnectorMetrics`):

* ``smppcore_connector_submits_total{connector, status}``: one per upstream ``submit_sm_resp``
  (or per submit that got none), ``status`` bounded like ``smppcore_pdus_total``
  (``ESME_ROK``, ``ESME_RTHROTTLED``, ``0x00000401``, ``other``) plus the fixed words
  ``"timeout"`` and ``"lost"`` for a submit without a response. Use
  ``helper.submits_ok.inc()`` for ESME_ROK, ``helper.submit_status(status).inc()`` for any
  status and ``helper.submit_unanswered("timeout"|"lost").inc()`` otherwise.
* ``smppcore_connector_rate_cuts_total{connector}``: each time the connector cut its send
  rate because the operator throttled (``helper.rate_cuts.inc()``), and
  ``smppcore_connector_send_rate{connector}``: the send rate it allows itself now (submits/s,
  at most its ``throughput``; ``helper.send_rate.set(rate)``).

The graceful stop of the client listeners (:mod:`smppcore.net.drain`) counts, once per
connection as it closes (:meth:`Metrics.count_drained`):

* ``smppcore_drain_requests_total{result}``: ``answered`` (read before the drain began,
  answered during it), ``refused`` (arrived during it, answered ``ESME_RTHROTTLED`` at once),
  ``unanswered`` (read before it, without an answer when the connection closed);
* ``smppcore_drain_connections_total{result}``: ``unbound`` (the unbind handshake
  completed), ``closed`` (closed without it) or ``cut`` (the drain's deadline came first).

Hot path: ``metrics.account("demo")`` and ``metrics.connector("sim")`` return cached helper
objects whose counters are already ``.labels(...)``-bound; keep the helper and call
``helper.accepted.inc()``. The hook :meth:`Metrics.pdu_counter` returns for one side caches
its children by ``(direction, command_id, status)``; :func:`~smppcore.store.timed.timed_store`
binds one histogram child per store operation, once.
"""

from __future__ import annotations

import platform
from collections.abc import Callable

import attrs
import prometheus_client
import trio
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from smppcore import __version__
from smppcore.net.drain import DrainedConnection
from smppcore.protocol.enums import CommandId, CommandStatus, MessageState
from smppcore.protocol.receipt import stat_text

# A counter's ``*_created`` series (its start time) nearly doubles the series count and no
# dashboard of ours reads it: off, for the whole process (prometheus_client's switch is global).
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

__all__ = [
    "DELIVERY_RESULTS",
    "PDU_SIDES",
    "RECEIPT_SOURCES",
    "AccountMetrics",
    "ConnectorMetrics",
    "Metrics",
    "serve_metrics",
]

_RESPONSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_RECEIPT_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600)
_STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)
_BIND_TYPES = ("transmitter", "receiver", "transceiver")
_UNANSWERED = ("timeout", "lost")
_DRAIN_REQUESTS = ("answered", "refused", "unanswered")
_DRAIN_CONNECTIONS = ("unbound", "closed", "cut")
#: Every ``result`` label value of ``smppcore_deliveries_total``.
DELIVERY_RESULTS = (
    "ok", "retry", "rejected", "expired", "unmatched", "duplicate", "unroutable", "failed",
)  # fmt: skip

#: Every ``side`` label value of ``smppcore_pdus_total``.
PDU_SIDES = ("client", "operator")
#: Every ``source`` label value of ``smppcore_receipts_total``.
RECEIPT_SOURCES = ("operator", "gateway")

_COMMAND_NAMES = {int(c): c.name.lower() for c in CommandId}
_STATUS_NAMES = {int(s): s.name for s in CommandStatus}


def command_label(command_id: int) -> str:
    return _COMMAND_NAMES.get(command_id, "unknown")


def status_label(status: int) -> str:
    name = _STATUS_NAMES.get(status)
    if name is not None:
        return name
    if 0x400 <= status <= 0x4FF:
        return f"0x{status:08X}"
    return "other"


class AccountMetrics:
    """Counters and gauges of one client account, bound once."""

    def __init__(self, metrics: Metrics, account: str) -> None:
        self._metrics = metrics
        self.account = account
        self.accepted = metrics.submits.labels(account, "accepted", "")
        self.throttled = metrics.throttled.labels("account", account)
        self.delivery_queue = metrics.delivery_queue_depth.labels(account)
        self.binds = {t: metrics.client_binds.labels(account, t) for t in _BIND_TYPES}
        self.receipts_delivered = metrics.deliveries.labels(account, "receipt", "ok")
        self.mo_delivered = metrics.deliveries.labels(account, "mo", "ok")
        self._rejected: dict[str, Counter] = {}
        self._delivery_failed: dict[str, Counter] = {}

    def rejected(self, reason: str) -> Counter:
        """The bound counter for one rejection reason (a short fixed word, e.g.
        ``"source_not_owned"``, ``"suppressed"``, ``"throttled"``, ``"queue_full"``)."""
        child = self._rejected.get(reason)
        if child is None:
            child = self._rejected[reason] = self._metrics.submits.labels(
                self.account, "rejected", reason
            )
        return child

    def delivery_failed(self, kind: str) -> Counter:
        child = self._delivery_failed.get(kind)
        if child is None:
            child = self._delivery_failed[kind] = self._metrics.deliveries.labels(
                self.account, kind, "failed"
            )
        return child


class ConnectorMetrics:
    """Counters, gauges and histograms of one operator connector, bound once."""

    def __init__(self, metrics: Metrics, connector: str) -> None:
        self._metrics = metrics
        self.connector = connector
        self.submit_response_seconds = metrics.submit_response_seconds.labels(connector)
        self.submit_receipt_seconds = metrics.submit_receipt_seconds.labels(connector)
        self.throttled = metrics.throttled.labels("connector", connector)
        self.mt_queue = metrics.mt_queue_depth.labels(connector)
        self.binds_up = metrics.connector_binds.labels(connector, "bound")
        self.binds_down = metrics.connector_binds.labels(connector, "down")
        self.submits_ok = metrics.connector_submits.labels(connector, status_label(0))
        self.rate_cuts = metrics.connector_rate_cuts.labels(connector)
        self.send_rate = metrics.connector_send_rate.labels(connector)
        self._window: dict[str, Gauge] = {}
        self._submit_status: dict[int, Counter] = {0: self.submits_ok}
        self._unanswered: dict[str, Counter] = {}
        self._receipts: dict[tuple[str, int], Counter] = {}

    def receipt(self, source: str, state: MessageState) -> Counter:
        """The bound receipt-outcome counter of one ``source`` (``"operator"``: its receipt
        said so; ``"gateway"``: we ended the message before any receipt) and state (the
        ``outcome`` label is the state's receipt ``stat`` word: DELIVRD, UNDELIV, ...)."""
        key = (source, state)
        child = self._receipts.get(key)
        if child is None:
            if source not in RECEIPT_SOURCES:
                raise ValueError(f"source must be one of {RECEIPT_SOURCES}")
            child = self._receipts[key] = self._metrics.receipts.labels(
                self.connector, source, stat_text(state)
            )
        return child

    def submit_status(self, status: int) -> Counter:
        """The bound submit-result counter of one ``submit_sm_resp`` command_status."""
        child = self._submit_status.get(status)
        if child is None:
            child = self._submit_status[status] = self._metrics.connector_submits.labels(
                self.connector, status_label(status)
            )
        return child

    def submit_unanswered(self, why: str) -> Counter:
        """The bound submit-result counter of a submit without a response: ``why`` is
        ``"timeout"`` or ``"lost"`` (the bind went down first)."""
        if why not in _UNANSWERED:
            raise ValueError(f"why must be one of {_UNANSWERED}")
        child = self._unanswered.get(why)
        if child is None:
            child = self._unanswered[why] = self._metrics.connector_submits.labels(
                self.connector, why
            )
        return child

    def window(self, bind: str) -> Gauge:
        """In-flight requests of one bind (``bind`` is a small index or name, e.g. ``"0"``)."""
        child = self._window.get(bind)
        if child is None:
            child = self._window[bind] = self._metrics.window_in_flight.labels(self.connector, bind)
        return child


@attrs.define(eq=False)
class Metrics:
    """All metric families of one daemon, on ``registry`` (fresh by default)."""

    registry: CollectorRegistry = attrs.field(factory=lambda: CollectorRegistry(auto_describe=True))
    pdus: Counter = attrs.field(init=False)
    submits: Counter = attrs.field(init=False)
    client_binds: Gauge = attrs.field(init=False)
    connector_binds: Gauge = attrs.field(init=False)
    window_in_flight: Gauge = attrs.field(init=False)
    mt_queue_depth: Gauge = attrs.field(init=False)
    delivery_queue_depth: Gauge = attrs.field(init=False)
    submit_response_seconds: Histogram = attrs.field(init=False)
    submit_receipt_seconds: Histogram = attrs.field(init=False)
    store_seconds: Histogram = attrs.field(init=False)
    decode_errors: Counter = attrs.field(init=False)
    throttled: Counter = attrs.field(init=False)
    deliveries: Counter = attrs.field(init=False)
    connector_submits: Counter = attrs.field(init=False)
    connector_rate_cuts: Counter = attrs.field(init=False)
    connector_send_rate: Gauge = attrs.field(init=False)
    receipts: Counter = attrs.field(init=False)
    drain_requests: Counter = attrs.field(init=False)
    drain_connections: Counter = attrs.field(init=False)
    _pdu_children: dict[str, dict[tuple[str, int, int], Counter]] = attrs.field(
        init=False, factory=dict
    )
    _accounts: dict[str, AccountMetrics] = attrs.field(init=False, factory=dict)
    _connectors: dict[str, ConnectorMetrics] = attrs.field(init=False, factory=dict)
    _store_ops: dict[str, Histogram] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        r = self.registry
        self.pdus = Counter(
            "smppcore_pdus",
            "Every PDU sent and received, by side (client: our SMPP server; operator: the "
            "connectors), direction (in|out), command and status.",
            ["side", "direction", "command", "status"], registry=r,
        )  # fmt: skip
        self.submits = Counter(
            "smppcore_submits", "Client submits accepted or rejected, by account and reason.",
            ["account", "result", "reason"], registry=r,
        )  # fmt: skip
        self.client_binds = Gauge(
            "smppcore_client_binds", "Client binds currently open, by account and bind type.",
            ["account", "bind_type"], registry=r,
        )  # fmt: skip
        self.connector_binds = Gauge(
            "smppcore_connector_binds", "Operator binds by connector and state.",
            ["connector", "state"], registry=r,
        )  # fmt: skip
        self.window_in_flight = Gauge(
            "smppcore_window_in_flight", "Requests awaiting a response, by connector and bind.",
            ["connector", "bind"], registry=r,
        )  # fmt: skip
        self.mt_queue_depth = Gauge(
            "smppcore_mt_queue_depth", "MT messages waiting to be submitted, by connector.",
            ["connector"], registry=r,
        )  # fmt: skip
        self.delivery_queue_depth = Gauge(
            "smppcore_delivery_queue_depth",
            "Receipts and MO messages waiting to be delivered to clients, by account.",
            ["account"], registry=r,
        )  # fmt: skip
        self.submit_response_seconds = Histogram(
            "smppcore_submit_response_seconds", "Upstream submit_sm to submit_sm_resp.",
            ["connector"], buckets=_RESPONSE_BUCKETS, registry=r,
        )  # fmt: skip
        self.submit_receipt_seconds = Histogram(
            "smppcore_submit_receipt_seconds", "Upstream submit_sm to its delivery receipt.",
            ["connector"], buckets=_RECEIPT_BUCKETS, registry=r,
        )  # fmt: skip
        self.store_seconds = Histogram(
            "smppcore_store_seconds", "Store call latency by operation.",
            ["operation"], buckets=_STORE_BUCKETS, registry=r,
        )  # fmt: skip
        self.decode_errors = Counter(
            "smppcore_decode_errors", "Malformed PDUs received, by side (client|operator).",
            ["side"], registry=r,
        )  # fmt: skip
        self.throttled = Counter(
            "smppcore_throttled", "Requests refused or delayed by a rate limit.",
            ["scope", "name"], registry=r,
        )  # fmt: skip
        self.deliveries = Counter(
            "smppcore_deliveries",
            "deliver_sm to clients, by account, kind (receipt|mo) and result ("
            + ", ".join(DELIVERY_RESULTS) + ").",
            ["account", "kind", "result"], registry=r,
        )  # fmt: skip
        self.connector_submits = Counter(
            "smppcore_connector_submits",
            "Upstream submit_sm results by connector and status (submit_sm_resp status name, "
            "or timeout|lost when none came).",
            ["connector", "status"], registry=r,
        )  # fmt: skip
        self.connector_rate_cuts = Counter(
            "smppcore_connector_rate_cuts",
            "Times a connector cut its send rate because the operator throttled.",
            ["connector"], registry=r,
        )  # fmt: skip
        self.connector_send_rate = Gauge(
            "smppcore_connector_send_rate",
            "Submits per second a connector allows itself now (adapted, at most its throughput).",
            ["connector"], registry=r,
        )  # fmt: skip
        self.receipts = Counter(
            "smppcore_receipts",
            "Outcomes of MT messages, by connector, source (operator: its receipt; gateway: "
            "ended before any receipt) and outcome (the receipt stat word: DELIVRD, UNDELIV, "
            "EXPIRED, REJECTD, DELETED, SKIPPED once per message made final; ENROUTE, ACCEPTD, "
            "UNKNOWN, SCHEDLD per intermediate operator receipt).",
            ["connector", "source", "outcome"], registry=r,
        )  # fmt: skip
        self.drain_requests = Counter(
            "smppcore_drain_requests",
            "Client requests during a drain (SIGTERM): answered (read before it), refused "
            "(arrived during it, ESME_RTHROTTLED), unanswered (left when the connection closed).",
            ["result"], registry=r,
        )  # fmt: skip
        self.drain_connections = Counter(
            "smppcore_drain_connections",
            "Client connections a drain closed: unbound (handshake done), closed (without "
            "it), cut (its deadline came first).",
            ["result"], registry=r,
        )  # fmt: skip
        for result in _DRAIN_REQUESTS:
            self.drain_requests.labels(result)
        for result in _DRAIN_CONNECTIONS:
            self.drain_connections.labels(result)
        build_info = Gauge(
            "smppcore_build_info", "Always 1; the labels say which smppcore and Python run.",
            ["version", "python"], registry=r,
        )  # fmt: skip
        build_info.labels(__version__, platform.python_version()).set(1)
        # process_* (CPU, memory, open files) and python_info, as every Python exporter has.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)

    def count_drained(self, drained: DrainedConnection) -> None:
        """One client connection's drain (a :data:`~smppcore.net.drain.DrainHook`)."""
        self.drain_requests.labels("answered").inc(drained.answered)
        self.drain_requests.labels("refused").inc(drained.refused)
        self.drain_requests.labels("unanswered").inc(drained.unanswered)
        self.drain_connections.labels(drained.result).inc()

    def account(self, name: str) -> AccountMetrics:
        helper = self._accounts.get(name)
        if helper is None:
            helper = self._accounts[name] = AccountMetrics(self, name)
        return helper

    def connector(self, name: str) -> ConnectorMetrics:
        helper = self._connectors.get(name)
        if helper is None:
            helper = self._connectors[name] = ConnectorMetrics(self, name)
        return helper

    def pdu_counter(self, side: str) -> Callable[[str, int, int], None]:
        """The :data:`~smppcore.protocol.session.PduHook` that counts every PDU of one
        ``side`` (``"client"``: our SMPP server towards clients; ``"operator"``: the
        connectors towards SMSCs) in ``smppcore_pdus_total``; its children are cached by
        ``(direction, command_id, status)``, so a PDU costs one dict look-up and an ``inc``."""
        if side not in PDU_SIDES:
            raise ValueError(f"side must be one of {PDU_SIDES}")
        children = self._pdu_children.setdefault(side, {})
        pdus = self.pdus

        def count_pdu(direction: str, command_id: int, status: int) -> None:
            key = (direction, command_id, status)
            child = children.get(key)
            if child is None:
                child = children[key] = pdus.labels(
                    side, direction, command_label(command_id), status_label(status)
                )
            child.inc()

        return count_pdu

    def store_op(self, operation: str) -> Histogram:
        """The bound store-latency histogram of one operation (e.g. ``"enqueue_mt"``)."""
        child = self._store_ops.get(operation)
        if child is None:
            child = self._store_ops[operation] = self.store_seconds.labels(operation)
        return child

    def render(self) -> bytes:
        """The text exposition of the registry."""
        return generate_latest(self.registry)


# --- HTTP -------------------------------------------------------------------------------

_MAX_REQUEST_HEAD = 8192
_REQUEST_TIMEOUT = 10.0
_MAX_CONCURRENT = 16


def _response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _handle(stream: trio.abc.Stream, registry: CollectorRegistry) -> None:
    try:
        head = b""
        with trio.move_on_after(_REQUEST_TIMEOUT):
            while b"\r\n\r\n" not in head and len(head) < _MAX_REQUEST_HEAD:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                head += chunk
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            reply = _response("400 Bad Request", b"bad request\n")
        elif parts[0] not in ("GET", "HEAD"):
            reply = _response("405 Method Not Allowed", b"only GET\n")
        elif parts[1].split("?", 1)[0] not in ("/metrics", "/"):
            reply = _response("404 Not Found", b"try /metrics\n")
        else:
            try:
                body = generate_latest(registry)
            except Exception:  # a broken custom collector must not take the daemon down
                body = b""
                reply = _response("500 Internal Server Error", b"collector failed\n")
            else:
                reply = _response("200 OK", body, CONTENT_TYPE_LATEST)
            if parts[0] == "HEAD" and body:
                reply = reply[: len(reply) - len(body)]
        with trio.move_on_after(_REQUEST_TIMEOUT):
            await stream.send_all(reply)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


async def serve_metrics(
    host: str,
    port: int,
    registry: CollectorRegistry,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``GET /metrics`` on ``host:port`` until cancelled. Reports the bound port through
    ``task_status`` (use ``port=0`` in tests). At most 16 requests are handled at once; a
    connection beyond that is closed at once (a scraper retries at its next interval)."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound_port = int(listeners[0].socket.getsockname()[1])
    limiter = trio.CapacityLimiter(_MAX_CONCURRENT)

    async def handler(stream: trio.SocketStream) -> None:
        try:
            limiter.acquire_nowait()
        except trio.WouldBlock:
            await trio.aclose_forcefully(stream)
            return
        try:
            await _handle(stream, registry)
        finally:
            limiter.release()

    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(trio.serve_listeners, handler, [listener])
        task_status.started(bound_port)
