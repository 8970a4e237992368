"""Delivery to clients: the per-account workers that turn queued items into deliver_sm.

Owns: :func:`serve_deliveries` (one worker per account of the directory, started and stopped
as accounts come and go on reload), :class:`DeliveryPolicy` (the timings) and
:func:`outcome_of` (what a ``deliver_sm_resp`` status means for the item). The item -> PDU
conversion is :func:`smppcore.gateway.deliverables.to_deliver_sm`.

Decisions:

* The queue is durable (``lease_delivery`` / ``ack_delivery`` / ``nack_delivery``); a worker
  leases only as many items as the account's receiving binds have window slots free, sends
  each on its own task (round-robin over the binds; ``SmppConnection.request`` waits for the
  bind's window, so several are in flight per bind), and acks an item only after the client's
  ``deliver_sm_resp``. A crash between send and ack means the item comes back when its lease
  ends: duplicates are possible, losses are not.
* ``deliver_sm_resp`` status: OK → ack; ``ESME_RX_T_APPN`` → retry with backoff;
  ``ESME_RX_P_APPN`` / ``ESME_RX_R_APPN`` → the client refuses it for good: drop, count
  ``rejected``; any other error, a timeout or a lost bind → retry with backoff until the item
  expires. An item past ``expires_at`` is dropped when leased and counted ``expired``.
* With no receiving bind the worker sleeps on :meth:`BindRegistry.wait_for_change`, which
  wakes it when a client binds or when new items are queued (``Gateway.queue_delivery``).
* Metric: ``smppcore_deliveries{account, kind, result}`` with result ``ok``, ``retry``,
  ``rejected``, ``expired``; ``smppcore_queue_depth{queue="delivery"}`` is refreshed per pass.
"""

from __future__ import annotations

import enum
import itertools
from typing import TYPE_CHECKING, Any, Final

import attrs
import structlog
import trio

from smppcore.gateway.deliverables import to_deliver_sm
from smppcore.net.errors import NetError
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.errors import SmppError
from smppcore.store.base import UNROUTABLE_ACCOUNT, DeliveryItem, DeliveryKind

if TYPE_CHECKING:
    from smppcore.gateway.context import Gateway

__all__ = [
    "DeliveryOutcome",
    "DeliveryPolicy",
    "outcome_of",
    "serve_deliveries",
]

log = structlog.get_logger(__name__)

_KIND_LABEL: Final = {DeliveryKind.RECEIPT: "receipt", DeliveryKind.MO: "mo"}


class DeliveryOutcome(enum.Enum):
    OK = "ok"
    RETRY = "retry"
    REJECTED = "rejected"


def outcome_of(status: int) -> DeliveryOutcome:
    """What the client's ``deliver_sm_resp`` status means for the item."""
    if status == CommandStatus.ESME_ROK:
        return DeliveryOutcome.OK
    if status in (CommandStatus.ESME_RX_P_APPN, CommandStatus.ESME_RX_R_APPN):
        return DeliveryOutcome.REJECTED
    return DeliveryOutcome.RETRY  # ESME_RX_T_APPN and every other error


@attrs.frozen
class DeliveryPolicy:
    """Timings of the delivery workers (seconds)."""

    backoff_min: float = 1.0
    backoff_max: float = 300.0
    #: How long a leased item is ours before another worker may take it again.
    lease_seconds: float = 120.0
    #: Longest sleep between queue polls (retries become due while nobody notifies).
    poll_interval: float = 1.0
    #: How often the set of accounts is re-read (after a reload).
    accounts_interval: float = 5.0
    #: Upper bound on items in flight per account, whatever the windows say.
    max_in_flight: int = 1000

    def backoff(self, attempts: int) -> float:
        """Delay before the next try of an item that has been tried ``attempts`` times."""
        exponent = max(0, min(attempts - 1, 30))
        return float(min(self.backoff_max, self.backoff_min * (2.0**exponent)))


class _AccountWorker:
    """Delivers one account's queue over its receiving binds."""

    def __init__(self, gateway: Gateway, account: str, policy: DeliveryPolicy) -> None:
        self.gateway = gateway
        self.account = account
        self.policy = policy
        self.in_flight = 0
        self._slot_freed = trio.Event()
        self._rr = itertools.count()

    def _capacity(self, binds: list[Any]) -> int:
        total = 0
        for bind in binds:
            window = getattr(getattr(bind.connection, "config", None), "window", 1)
            total += max(1, int(window))
        return min(total, self.policy.max_in_flight)

    def _count(self, item: DeliveryItem, result: str) -> None:
        self.gateway.metrics.deliveries.labels(
            self.account, _KIND_LABEL.get(item.kind, "other"), result
        ).inc()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            while self.gateway.directory.get(self.account) is not None:
                try:
                    await self._pass(nursery)
                except Exception as exc:  # the store failed: the items stay queued; retry
                    log.error(
                        "delivery.pass_failed", account=self.account, error=type(exc).__name__
                    )
                    await trio.sleep(self.policy.poll_interval)
            nursery.cancel_scope.cancel()

    async def _pass(self, nursery: trio.Nursery) -> None:
        """Lease what the free window slots allow and start sending it."""
        gateway = self.gateway
        binds = gateway.binds.receivers(self.account)
        if not binds:
            await gateway.binds.wait_for_change(self.account, self.policy.poll_interval)
            return
        free = self._capacity(binds) - self.in_flight
        if free <= 0:
            self._slot_freed = trio.Event()
            with trio.move_on_after(self.policy.poll_interval):
                await self._slot_freed.wait()
            return
        now = gateway.clock()
        items = await gateway.store.lease_delivery(
            self.account, free, self.policy.lease_seconds, now
        )
        if not items:
            await gateway.binds.wait_for_change(self.account, self.policy.poll_interval)
            return
        for item in items:
            if item.expires_at and item.expires_at <= now:
                await gateway.store.ack_delivery(item.id)
                self._count(item, "expired")
                continue
            bind = binds[next(self._rr) % len(binds)]
            self.in_flight += 1
            nursery.start_soon(self._send, item, bind.connection)

    async def _send(self, item: DeliveryItem, connection: Any) -> None:
        try:
            try:
                response = await connection.request(to_deliver_sm(item))
                status = int(response.command_status)
            except (NetError, SmppError) as exc:
                log.info("delivery.send_failed", account=self.account, error=type(exc).__name__)
                status = -1
            except Exception as exc:  # a bug or a broken stored item: contain it to this item
                log.error("delivery.send_crashed", account=self.account, error=type(exc).__name__)
                status = -1  # retried with backoff until the item expires
            outcome = outcome_of(status) if status >= 0 else DeliveryOutcome.RETRY
            try:
                await self._settle(item, outcome)
            except Exception as exc:  # the lease ends and the item comes back: a duplicate
                log.error("delivery.settle_failed", account=self.account, error=type(exc).__name__)
        finally:
            self.in_flight -= 1
            self._slot_freed.set()

    async def _settle(self, item: DeliveryItem, outcome: DeliveryOutcome) -> None:
        store = self.gateway.store
        if outcome is DeliveryOutcome.OK:
            await store.ack_delivery(item.id)
            self._count(item, "ok")
            return
        if outcome is DeliveryOutcome.REJECTED:
            await store.ack_delivery(item.id)
            self._count(item, "rejected")
            return
        retry_at = self.gateway.clock() + self.policy.backoff(item.attempts)
        if item.expires_at and retry_at >= item.expires_at:
            await store.ack_delivery(item.id)
            self._count(item, "expired")
            return
        await store.nack_delivery(item.id, retry_at)
        self._count(item, "retry")


def _reserved(account: str) -> bool:
    return account == UNROUTABLE_ACCOUNT or account.startswith("__")


async def serve_deliveries(
    gateway: Gateway,
    *,
    policy: DeliveryPolicy | None = None,
    return_path: bool = True,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a delivery worker per account until cancelled (new accounts after a reload get one
    within ``policy.accounts_interval``; a removed account's worker ends). With
    ``return_path`` (the default) it also runs the gateway's ``ReturnPath.run`` (pending
    receipts, reply reassembly time-outs, recovery of stored reply parts)."""
    policy = policy or DeliveryPolicy()
    running: dict[str, _AccountWorker] = {}

    async def run_worker(worker: _AccountWorker) -> None:
        try:
            await worker.run()
        finally:
            running.pop(worker.account, None)

    def start_new(nursery: trio.Nursery) -> None:
        for runtime in gateway.directory:
            name = runtime.system_id
            if name not in running and not _reserved(name):
                worker = running[name] = _AccountWorker(gateway, name, policy)
                nursery.start_soon(run_worker, worker)

    async with trio.open_nursery() as nursery:
        if return_path:
            from smppcore.gateway.returnpath import ReturnPath

            await nursery.start(ReturnPath(gateway).run)
        start_new(nursery)
        task_status.started()
        while True:
            await trio.sleep(policy.accounts_interval)
            start_new(nursery)
