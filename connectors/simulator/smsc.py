"""The SMSC behaviour of the simulator: binds, submits, receipts, MO and faults.

Owns: :class:`Simulator`, the ``serve_smpp`` handler plus its Python API (``stats()``,
``messages()``, ``wait_for_*``, ``inject_mo()``, ``faults``, ``set_faults()``,
``configure()``, ``outbind()``) and ``serve()``, which runs the SMPP listener, the HTTP
control interface and the delivery workers.  Each session's requests are answered in
arrival order unless a response delay is injected, in which case each answer waits in its
own task so the ESME's window fills the way it would against a slow SMSC.  How a submit is
answered under the fault switches is :mod:`.answers`' decision; the ``freeze`` fault works
through :mod:`.freeze`'s streams.  ``outbind()`` plays the SMSC side of an outbind
(reference §2.2.1, §4.1.7): connect to the ESME, send outbind, serve the bind that comes
back like any accepted connection.  Nothing personal is logged: no addresses, no text.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final

import attrs
import structlog
import trio

from smppcore.config import SimulatorConfig
from smppcore.net.client import connect_smpp
from smppcore.net.connection import SmppConnection, open_smpp_connection
from smppcore.net.errors import NetError
from smppcore.net.server import listener_port, serve_smpp_listeners
from smppcore.protocol.enums import CommandStatus, status_name
from smppcore.protocol.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DataSmResp,
    Outbind,
    Pdu,
    QuerySm,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
)
from smppcore.protocol.session_events import SessionConfig
from smppcore.protocol.states import Role

from .answers import DROP, SubmitJudge
from .delivery import Deliverer, Delivery
from .faults import Faults
from .freeze import FreezableListener, FreezableStream, FreezeGate
from .ids import IdFormat, MessageIds
from .outbound import (
    STAT_STATES,
    Outcomes,
    ReceiptForm,
    build_mo,
    build_receipt,
    wants_receipt,
)
from .stats import ReceivedMessage, Recorder, SimulatorStats
from .submits import SUBMIT_NAMES, AnySubmit, SubmitContent, accepted, read_submit

__all__ = ["QueueFull", "Simulator"]

log = structlog.get_logger(__name__)

SMSC_SYSTEM_ID: Final = "smppsim"
_BIND_TYPES: Final[Mapping[type[Pdu], str]] = {
    BindTransmitter: "transmitter",
    BindReceiver: "receiver",
    BindTransceiver: "transceiver",
}
_STAT_WORD: Final = {state: word for word, state in STAT_STATES.items()}


class QueueFull(RuntimeError):
    """The delivery queue is full; the MO was not accepted."""


@attrs.define
class _Session:
    id: int
    system_id: str | None = None
    answered: int = 0
    dropped: int = 0
    aborted: bool = False  #: the disconnect fault fired; answer nothing more


class Simulator:
    """An SMSC for the demo, the tests and the benchmarks.

    ``accounts`` maps system_id to password; by default the one account of ``settings``.
    ``seed`` makes outcome draws and fault shares reproducible; ``delivery_workers`` (how many
    deliver_sm may be outstanding at once) overrides ``settings.delivery_window``.
    """

    def __init__(
        self,
        settings: SimulatorConfig,
        *,
        faults: Faults | None = None,
        accounts: Mapping[str, str] | None = None,
        seed: int | None = None,
        max_pending_deliveries: int = 100_000,
        delivery_workers: int | None = None,
        session_config: SessionConfig | None = None,
    ) -> None:
        self.settings = settings
        self._freeze = FreezeGate()
        self.faults = faults or Faults()
        self._rng = random.Random(seed)
        self._judge = SubmitJudge(self._rng)
        self._ids = MessageIds(settings.id_format, rng=self._rng)
        self._outcomes = Outcomes(settings.outcomes, self._rng)
        self.receipt_delay = settings.receipt_delay
        self.receipt_form: ReceiptForm = settings.receipt_form
        self._accounts = dict(accounts) if accounts else {settings.system_id: settings.password}
        self._recorder = Recorder()
        self._deliverer = Deliverer(
            self._recorder,
            max_pending=max_pending_deliveries,
            workers=delivery_workers or settings.delivery_window,
            gate=self._freeze,
        )
        self._session_config = session_config or SessionConfig(
            window=settings.delivery_window, response_timeout=10.0, max_inbound_pending=1000
        )
        self._session_ids = itertools.count(1)
        self._bound: set[int] = set()
        self._mo_ref = itertools.count(self._rng.randrange(256))
        #: The real SMPP and control ports once :meth:`serve` has started (0 before).
        self.port = 0
        self.control_port = 0

    # ------------------------------------------------------------------ Python API
    @property
    def faults(self) -> Faults:
        """The current fault switches; assign a new :class:`Faults` (or call
        :meth:`set_faults`) to change them."""
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._faults = faults
        self._freeze.set(faults.freeze)

    def configure(
        self,
        *,
        receipt_delay: float | None = None,
        outcomes: Mapping[str, float] | None = None,
        receipt_form: ReceiptForm | None = None,
        id_format: IdFormat | None = None,
    ) -> None:
        """Change receipt behaviour at run time (applies to the next submit)."""
        if receipt_delay is not None:
            if receipt_delay < 0:
                raise ValueError("receipt_delay must not be negative")
            self.receipt_delay = receipt_delay
        if outcomes is not None:
            unknown = set(outcomes) - set(STAT_STATES)
            if unknown:
                raise ValueError(f"unknown outcomes: {sorted(unknown)}")
            self._outcomes = Outcomes(outcomes, self._rng)
        if receipt_form is not None:
            if receipt_form not in ("text", "tlv", "both"):
                raise ValueError(f"unknown receipt form {receipt_form!r}")
            self.receipt_form = receipt_form
        if id_format is not None:
            self._ids = MessageIds(id_format, rng=self._rng)

    def set_faults(self, **changes: Any) -> Faults:
        """Change some fault switches (checked, see :mod:`.faults`); returns the new settings.
        ``sim.set_faults(error_statuses={0x08: 0.2, 0x45: 0.1}, rate_limit=50)``."""
        self.faults = self.faults.updated(changes)
        log.info("simulator.faults", **self.faults.as_dict())
        return self.faults

    def stats(self) -> SimulatorStats:
        return self._recorder.snapshot(
            sessions_bound=len(self._bound), deliveries_pending=self._deliverer.pending
        )

    def messages(self, destination: str) -> tuple[ReceivedMessage, ...]:
        """The messages (segments) received for ``destination``, oldest first (bounded)."""
        return self._recorder.messages(destination)

    def destinations(self) -> tuple[str, ...]:
        return self._recorder.destinations()

    async def wait_for_submits(self, n: int, *, accepted_only: bool = False) -> None:
        """Wait until ``n`` submits were received (or answered ESME_ROK with
        ``accepted_only``) since start."""
        rec = self._recorder
        if accepted_only:
            await rec.wait_until(lambda: rec.submits.get("ESME_ROK", 0) >= n)
        else:
            await rec.wait_until(lambda: rec.submits_received >= n)

    async def wait_for_receipts(self, n: int) -> None:
        rec = self._recorder
        await rec.wait_until(lambda: sum(rec.receipts_sent.values()) >= n)

    async def wait_for_replies(self, n: int) -> None:
        rec = self._recorder
        await rec.wait_until(lambda: rec.replies_sent >= n)

    async def wait_for_binds(self, n: int) -> None:
        rec = self._recorder
        await rec.wait_until(lambda: sum(rec.binds.values()) >= n)

    def inject_mo(
        self,
        source_addr: str,
        destination_addr: str,
        text: str,
        *,
        system_id: str | None = None,
        source_ton: int = 1,
        source_npi: int = 1,
        dest_ton: int = 1,
        dest_npi: int = 1,
    ) -> int:
        """Queue a handset reply from ``source_addr`` to ``destination_addr``; it goes to a
        bound receiver of ``system_id`` (any account when None) as soon as there is one.
        Returns the number of parts; raises :class:`QueueFull` when it cannot be queued."""
        pdus = build_mo(
            source_addr,
            destination_addr,
            text,
            reference=next(self._mo_ref),
            source_ton=source_ton,
            source_npi=source_npi,
            dest_ton=dest_ton,
            dest_npi=dest_npi,
        )
        if self._deliverer.pending + len(pdus) > self._deliverer.max_pending:
            self._recorder.deliveries_discarded += 1
            raise QueueFull("the delivery queue is full")
        for pdu in pdus:
            self._deliverer.schedule(Delivery(pdu=pdu, kind="mo", system_id=system_id), 0.0)
        log.info("simulator.mo_queued", parts=len(pdus))
        return len(pdus)

    # ------------------------------------------------------------------ serving
    async def serve(
        self, *, task_status: trio.TaskStatus[Simulator] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the SMPP listener, the control interface and the delivery workers until
        cancelled; ``task_status.started(self)`` once both ports are bound."""
        from .control import serve_control

        host = self.settings.host
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._deliverer.run)
            tcp = await trio.open_tcp_listeners(self.settings.port, host=host)
            self.port = listener_port(tcp)
            listeners = [FreezableListener(listener, self._freeze) for listener in tcp]
            await nursery.start(
                partial(serve_smpp_listeners, self, listeners, config=self._session_config)
            )
            self.control_port = await nursery.start(
                serve_control, self, host, self.settings.control_port
            )
            log.info("simulator.started", port=self.port, control_port=self.control_port)
            task_status.started(self)

    async def outbind(
        self,
        host: str,
        port: int,
        system_id: str,
        password: str = "",
        *,
        connect_timeout: float = 10.0,
    ) -> None:
        """Connect to an ESME listening on ``host:port``, send it ``outbind`` with
        ``system_id`` and ``password``, then serve that connection like an accepted one (the
        ESME binds as receiver or transceiver with one of our accounts and gets its receipts
        and MO over it) until the session ends.

        Raises :class:`~smppcore.net.errors.ConnectionLost` if the connection cannot be
        made; the end of the session afterwards (unbind, ESME gone) returns normally.
        Deliveries need :meth:`serve` running (its delivery workers).  Run it as a task:
        ``nursery.start_soon(sim.outbind, "127.0.0.1", esme_port, "esme", "secret")``.
        """
        stream = await connect_smpp(host, port, connect_timeout=connect_timeout)
        frozen = FreezableStream(stream, self._freeze)
        async with open_smpp_connection(frozen, Role.SMSC, self._session_config) as conn:
            try:
                await conn.send(Outbind(system_id=system_id, password=password))
            except NetError:
                return
            log.info("simulator.outbind_sent", system_id=system_id)
            await self(conn)

    async def __call__(self, conn: SmppConnection) -> None:
        """The ``serve_smpp`` handler: one call per connection (also an outbind's)."""
        session = _Session(next(self._session_ids))
        try:
            async with trio.open_nursery() as nursery:
                async for request in conn:
                    if session.aborted:
                        break
                    outstanding = conn.statistics().inbound_pending - session.dropped
                    self._recorder.note_outstanding(session.id, outstanding)
                    await self._handle(conn, session, request, nursery)
        except NetError:
            pass
        finally:
            self._bound.discard(session.id)
            if session.system_id is not None:
                self._deliverer.remove_receiver(session.system_id, conn)

    async def _handle(
        self, conn: SmppConnection, session: _Session, request: Pdu, nursery: trio.Nursery
    ) -> None:
        kind = type(request)
        if self._freeze.frozen:
            await self._ignore(conn, request)
            return
        bind_type = _BIND_TYPES.get(kind)
        if bind_type is not None:
            await self._bind(conn, session, request, bind_type)
        elif kind in SUBMIT_NAMES:
            await self._submit(conn, session, request, nursery)
        elif kind.response_class is not None:
            if isinstance(request, QuerySm):
                response = request.response(message_id=request.message_id)
            else:
                response = request.response()
            await self._respond(conn, session, response)

    async def _ignore(self, conn: SmppConnection, request: Pdu) -> None:
        """A request read while frozen: not acted on.  It is answered ESME_RSYSERR all the
        same, an answer the frozen stream discards: it settles the request in the session's
        books (an unanswered bind would make every later bind on the session "already
        bound"), and should it be written after the thaw it still tells the truth."""
        if type(request) in SUBMIT_NAMES:
            self._recorder.submits_received += 1
            self._recorder.submits_frozen += 1
            self._recorder.changed()
        if type(request).response_class is not None:
            await conn.respond(request, request.response(CommandStatus.ESME_RSYSERR))

    async def _bind(
        self, conn: SmppConnection, session: _Session, request: Pdu, bind_type: str
    ) -> None:
        assert isinstance(request, BindTransmitter | BindReceiver | BindTransceiver)
        password = self._accounts.get(request.system_id)
        if self.faults.refuse_binds or password is None or password != request.password:
            self._recorder.bind_failures += 1
            self._recorder.changed()
            log.info("simulator.bind_refused", system_id=request.system_id, bind_type=bind_type)
            await conn.respond(request, request.response(CommandStatus.ESME_RBINDFAIL))
            return
        await conn.respond(request, request.response(system_id=SMSC_SYSTEM_ID))
        session.system_id = request.system_id
        self._bound.add(session.id)
        self._recorder.binds[bind_type] += 1
        self._recorder.changed()
        log.info("simulator.bound", system_id=request.system_id, bind_type=bind_type)
        if bind_type != "transmitter":
            self._deliverer.add_receiver(request.system_id, conn)

    async def _submit(
        self, conn: SmppConnection, session: _Session, request: Pdu, nursery: trio.Nursery
    ) -> None:
        assert isinstance(request, SubmitSm | DataSm | SubmitMulti)
        received_at = trio.current_time()
        rec = self._recorder
        rec.submits_received += 1
        faults = self.faults
        content = read_submit(request)
        status = self._judge.judge(faults, content.concat, received_at)
        if status == DROP:
            rec.submits_dropped += 1
            session.dropped += 1
            rec.changed()
            return
        if status != CommandStatus.ESME_ROK:
            response = request.response(status)
        else:
            message_id = self._ids.next_id()
            self._accept(request, content, message_id, session.system_id or "", received_at)
            response = request.response(message_id=message_id)
            if faults.lose_answer_share > 0 and self._rng.random() < faults.lose_answer_share:
                rec.answers_lost += 1
                session.dropped += 1
                rec.changed()
                return
        if faults.response_delay > 0:
            nursery.start_soon(self._respond_later, conn, session, response, faults.response_delay)
        else:
            rec.changed()
            await self._respond(conn, session, response)

    async def _respond_later(
        self, conn: SmppConnection, session: _Session, response: Pdu, delay: float
    ) -> None:
        await trio.sleep(delay)
        try:
            await self._respond(conn, session, response)
        except NetError:
            pass

    async def _respond(self, conn: SmppConnection, session: _Session, response: Pdu) -> None:
        if session.aborted:
            return
        await conn.send(response)
        if self._freeze.frozen:  # the frozen stream discards it: not an answer
            return
        if isinstance(response, SubmitSmResp | DataSmResp | SubmitMultiResp):
            self._recorder.submits[status_name(response.command_status)] += 1
            self._recorder.changed()
        session.answered += 1
        limit = self.faults.disconnect_after
        if limit and session.answered >= limit and not session.aborted:
            self._recorder.disconnects_injected += 1
            self._recorder.changed()
            log.info("simulator.disconnect_injected", session=session.id)
            session.aborted = True
            _abort(conn)

    # ------------------------------------------------------------------ receipts
    def _accept(
        self,
        request: AnySubmit,
        content: SubmitContent,
        message_id: str,
        system_id: str,
        received_at: float,
    ) -> None:
        """Record the message and schedule its receipts (one per destination)."""
        now = datetime.now(UTC)
        for received, submitted in accepted(
            request,
            content,
            message_id=message_id,
            system_id=system_id,
            received_at=received_at,
            submitted_at=now,
        ):
            self._recorder.record_message(received)
            state = self._outcomes.draw()
            if not wants_receipt(request.registered_delivery, state):
                continue
            delay = self.receipt_delay
            pdu = build_receipt(
                submitted, state, form=self.receipt_form, done_at=now + timedelta(seconds=delay)
            )
            delivery = Delivery(
                pdu=pdu, kind="receipt", system_id=system_id, stat=_STAT_WORD[state]
            )
            self._deliverer.schedule(delivery, delay)


def _abort(conn: SmppConnection) -> None:
    """Drop the transport without an unbind (the disconnect fault)."""
    conn.abort("simulator fault: disconnect")
