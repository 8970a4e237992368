"""The bind pool of one operator connector: N binds kept up against a list of SMSC hosts.

Owns :class:`BindSlot` (one bind: its connection while bound, its in-flight count and its
backoff) and :class:`BindPool`, which runs one maintenance task per slot:

* hosts are tried in order; a refused connection, a failed TLS handshake or a refused bind
  moves on to the next host at once; when every host failed, the slot waits an exponential
  backoff with jitter (``reconnect_min`` .. ``reconnect_max``) and starts again at the first;
* after a bound session ends (peer closed, enquire_link unanswered, ...) the slot waits one
  short backoff and starts again at the first host (the preferred one);
* ``bind_mode = "transceiver"`` makes every slot one transceiver; ``"tx_rx"`` makes every
  slot a transmitter plus a receiver, each maintained on its own;
* every bound connection runs the intake handler (deliver_sm / data_sm from the operator).

The per-bind window is the session's window (``SessionConfig.window``): a request waits for
a slot, so no bind ever has more than ``window`` submits outstanding. enquire_link and
response timeouts are the session's timers: an unanswered enquire_link ends the session.
A bind whose SMSC sent nothing at all for a whole response timeout while a submit waited is
closed by the worker (it is frozen, not just slow); either way the slot reconnects.
``pick(alive_since=, bound_since=)`` offers only binds heard from since the loss (or bound
since the lost submit went out): where the worker resends a submit whose answer never came,
so a resend never goes to a bind as silent as the one that lost it. ``probe`` asks idle
binds for that sign of life with an enquire_link.
"""

from __future__ import annotations

import math
import random
import ssl
from collections.abc import Awaitable, Callable, Sequence

import attrs
import structlog
import trio

from smppcore.config.values import HostPort
from smppcore.net.client import Backoff, bind, connect_smpp
from smppcore.net.connection import BadPduHook, PduHook, SmppConnection, open_smpp_connection
from smppcore.net.errors import NetError
from smppcore.protocol.pdu import BindReceiver, BindTransceiver, BindTransmitter, EnquireLink, Pdu
from smppcore.protocol.session_events import SessionConfig
from smppcore.protocol.states import Role

__all__ = ["BindPool", "BindSlot"]

log = structlog.get_logger(__name__)

Intake = Callable[[SmppConnection], Awaitable[None]]
_BIND_PDUS: dict[str, type[BindTransceiver | BindTransmitter | BindReceiver]] = {
    "transceiver": BindTransceiver,
    "transmitter": BindTransmitter,
    "receiver": BindReceiver,
}


@attrs.define(eq=False)
class BindSlot:
    """One bind of the pool. ``conn`` is set while bound."""

    index: int
    kind: str  # "transceiver" | "transmitter" | "receiver"
    conn: SmppConnection | None = None
    in_flight: int = 0
    backoff_until: float = 0.0  # trio clock
    host_index: int = -1
    binds: int = 0
    bound_at: float = 0.0  # trio clock, when ``conn`` was bound
    probed_at: float = -math.inf  # trio clock, the last liveness enquire_link (see probe)
    #: The bind's name in metrics and logs: its index, plus t/r for a tx_rx pair's half.
    label: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.label = (
            f"{self.index}" if self.kind == "transceiver" else f"{self.index}{self.kind[0]}"
        )

    @property
    def can_submit(self) -> bool:
        return self.kind != "receiver"

    @property
    def is_bound(self) -> bool:
        return self.conn is not None and not self.conn.is_closed


class BindPool:
    """Keeps the binds of one connector up; see the module docstring."""

    def __init__(
        self,
        name: str,
        hosts: Sequence[HostPort],
        bind_pdus: dict[str, Pdu],
        *,
        binds: int,
        bind_mode: str,
        session_config: SessionConfig,
        ssl_context: ssl.SSLContext | None,
        backoff: Backoff,
        connect_timeout: float,
        intake: Intake,
        on_change: Callable[[], None],
        rng: random.Random,
        on_bad_pdu: BadPduHook | None = None,
        on_pdu: PduHook | None = None,
    ) -> None:
        self.name = name
        self._hosts = tuple(hosts)
        self._bind_pdus = bind_pdus
        self._session_config = session_config
        self._ssl_context = ssl_context
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._intake = intake
        self._on_change = on_change
        self._rng = rng
        self._on_bad_pdu = on_bad_pdu
        self._on_pdu = on_pdu
        kinds = ("transceiver",) if bind_mode == "transceiver" else ("transmitter", "receiver")
        self.slots = [BindSlot(i, kind) for i in range(binds) for kind in kinds]
        self.submit_slots = [s for s in self.slots if s.can_submit]
        self._changed = trio.Event()

    # ------------------------------------------------------------------ queries
    def bound_submit_slots(self) -> list[BindSlot]:
        return [s for s in self.submit_slots if s.is_bound]

    def binds_up(self) -> int:
        return sum(1 for s in self.submit_slots if s.is_bound)

    def any_up(self) -> bool:
        return any(s.is_bound for s in self.submit_slots)

    def pick(
        self, alive_since: float = -math.inf, bound_since: float = -math.inf
    ) -> BindSlot | None:
        """The bound submit slot with the fewest submits in flight; with ``alive_since``,
        only one heard from its SMSC at or after that time, or bound at or after
        ``bound_since`` (its bind answer is a sign of life too)."""
        best: BindSlot | None = None
        for slot in self.submit_slots:
            conn = slot.conn
            if conn is None or conn.is_closed:
                continue
            if alive_since > conn.last_received and bound_since > slot.bound_at:
                continue
            if best is None or slot.in_flight < best.in_flight:
                best = slot
        return best

    def probe(self, since: float) -> None:
        """Send an enquire_link on every bound submit slot not heard from since ``since``
        (once per ``since``): an idle bind that answers becomes pickable, and one that does
        not answers nothing and the session ends it at its response timeout."""
        for slot in self.submit_slots:
            conn = slot.conn
            if conn is None or conn.is_closed or conn.last_received >= since:
                continue
            if slot.probed_at >= since:
                continue
            slot.probed_at = trio.current_time()
            conn.send_request(EnquireLink(), _ignore_response)

    async def wait_change(self) -> None:
        """Wait until some bind comes up or goes down."""
        await self._changed.wait()

    async def wait_up(self) -> None:
        while not self.any_up():
            await self.wait_change()

    def backoff_until(self) -> float:
        return max((s.backoff_until for s in self.slots), default=0.0)

    # ------------------------------------------------------------------ running
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for slot in self.slots:
                nursery.start_soon(self._maintain, slot)
            task_status.started()

    def _signal(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
        self._on_change()

    async def _maintain(self, slot: BindSlot) -> None:
        attempt = 0
        while True:
            was_bound = False
            for host_index, host in enumerate(self._hosts):
                before = slot.binds
                try:
                    await self._session(slot, host_index, host)
                except NetError as exc:
                    if slot.binds == before:
                        log.warning("connector.bind_failed", connector=self.name,
                                    bind=slot.label, host=host_index,
                                    error=type(exc).__name__)  # fmt: skip
                        continue
                was_bound = True
                break
            if was_bound:
                attempt = 0
            delay = self._backoff.delay(attempt, self._rng)
            attempt += 1
            slot.backoff_until = trio.current_time() + delay
            await trio.sleep(delay)
            slot.backoff_until = 0.0

    async def _session(self, slot: BindSlot, host_index: int, host: HostPort) -> None:
        """One connection to one host: connect, bind, serve until it ends. Raises
        :class:`NetError` when connecting or binding failed (``slot.binds`` tells apart)."""
        stream = await connect_smpp(
            host.host, host.port, ssl_context=self._ssl_context,
            connect_timeout=self._connect_timeout,
        )  # fmt: skip
        async with open_smpp_connection(
            stream,
            Role.ESME,
            self._session_config,
            on_bad_pdu=self._on_bad_pdu,
            on_pdu=self._on_pdu,
        ) as conn:
            await bind(
                conn, self._bind_pdus[slot.kind], timeout=self._session_config.response_timeout
            )
            slot.conn, slot.host_index = conn, host_index
            slot.bound_at = trio.current_time()
            slot.binds += 1
            log.info("connector.bound", connector=self.name, bind=slot.label, host=host_index)
            self._signal()
            try:
                # Every kind runs the intake: a transmitter should get no deliver_sm, but
                # whatever arrives is answered rather than left to pile up.
                await serve_intake(conn, self._intake, self._session_config.response_timeout)
            finally:
                slot.conn = None
                self._signal()
            reason = conn.end_reason.name if conn.end_reason else ""
            log.warning("connector.bind_lost", connector=self.name, bind=slot.label,
                        host=host_index, reason=reason)  # fmt: skip


async def serve_intake(conn: SmppConnection, intake: Intake, grace: float) -> None:
    """Run ``intake`` on a bound ``conn`` until the connection closes. The intake then ends
    by itself once the deliveries it was making durable are (cancelling them would leave
    the sink unsure what it stored); bounded by ``grace`` seconds, so a stuck sink cannot
    keep a bind from reconnecting."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(intake, conn)
        await conn.wait_closed()
        nursery.cancel_scope.deadline = trio.current_time() + grace


def _ignore_response(_response: Pdu | None, _error: NetError | None) -> None:
    """A probe's answer matters only as a sign of life (the session notes it)."""


def bind_pdus(system_id: str, password: str, system_type: str) -> dict[str, Pdu]:
    """The three bind requests for one set of credentials (the password stays in memory only)."""
    return {
        kind: cls(system_id=system_id, password=password, system_type=system_type)
        for kind, cls in _BIND_PDUS.items()
    }


def make_ssl_context(tls: bool, verify: bool, ca_file: str | None) -> ssl.SSLContext | None:
    """A client TLS context: verified against the system CAs (or ``ca_file``) unless
    ``verify`` is False (the explicit opt-out for self-signed operators)."""
    if not tls:
        return None
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
