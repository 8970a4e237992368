"""Delivery to clients: receipts and replies pushed to rx/trx binds, backed by the durable queue.

Owns :class:`ClientDelivery` (one per daemon, part of the return path), :class:`DeliveryPolicy`
(its timings and bounds) and :func:`outcome_of` (what a ``deliver_sm_resp`` status means).

How an item travels:

* **Push.** Before a receipt or reply is written, its producer asks :meth:`ClientDelivery.claim`
  whether the account can take it here and now: it has a receiving bind on this daemon, this
  daemon holds no older items of it in the queue, and fewer than ``max_pushed`` of its items
  are in memory. If so, the item is written already leased to this node (``lease_owner``), and
  once the write returned (the item is durable) :meth:`ClientDelivery.settle` hands it to the
  account's sender, which sends it from memory as soon as a bind has window free. No store
  read, no poll.
* **Queue.** Otherwise the item is written free; settling it marks the account's *backlog*
  and wakes its sender, which leases (oldest first, as many as the binds have window free)
  until the queue holds nothing ready. This serves clients that were offline, retries,
  restarts and items another daemon queued. While the account has binds here, its sender also
  looks at the queue every ``poll_interval`` seconds when idle (other daemons' items; nothing
  on the hot path waits for it).
* **Outcome** (the client's ``deliver_sm_resp``): OK → acked; ``ESME_RX_P_APPN`` /
  ``ESME_RX_R_APPN`` → the client refuses it for good: acked, counted ``rejected``;
  ``ESME_RX_T_APPN``, any other error or a timeout → freed for a retry after a backoff
  (``nack_delivery``), until the item expires; a bind that went away (the client did not
  answer at all) → freed at once, for the next bind. An item past ``expires_at`` is dropped
  and counted ``expired``. Acks are batched: one store request carries every ack that arrived
  while the previous one was being written. An ack lost in a crash means the item is sent
  again (a duplicate), never lost.
* **Leases and restarts.** Leases carry this daemon's node id. When it stops it flushes its
  acks and frees (``release_deliveries``) what it still holds; when it starts it first frees
  what its previous run held (a crash), so nothing waits for a lease to run out. When an
  account's last bind goes, the items in memory are freed for whoever can deliver them; so
  is an item claimed for pushing whose write failed or was cancelled (it may have been
  written, leased to this node: freeing one that is not there does nothing).

Metric: ``smppcore_deliveries_total{account, kind, result}`` with result ``ok``, ``retry``,
``rejected``, ``expired``.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import attrs
import structlog
import trio
from prometheus_client import Counter

from smppcore.gateway.binds import ClientBind
from smppcore.gateway.deliverables import to_deliver_sm
from smppcore.net.errors import ConnectionLost, NetError, SessionClosed
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.pdu import DeliverSm, Pdu
from smppcore.store.base import DeliveryItem, DeliveryKind

if TYPE_CHECKING:
    from smppcore.gateway.context import Gateway

__all__ = [
    "ClientDelivery",
    "DeliveryOutcome",
    "DeliveryPolicy",
    "Lease",
    "Outgoing",
    "outcome_of",
]

log = structlog.get_logger(__name__)

_KIND_LABEL: Final = {DeliveryKind.RECEIPT: "receipt", DeliveryKind.MO: "mo"}
#: Bound on the final flush of acks and release of leases when the daemon stops.
_STOP_TIMEOUT: Final = 5.0


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
    """Timings and bounds of client delivery (seconds, items)."""

    backoff_min: float = 1.0
    backoff_max: float = 300.0
    #: How long a leased item is this daemon's before another may take it again.
    lease_seconds: float = 120.0
    #: How often an idle sender with binds looks at the queue (items other daemons queued).
    poll_interval: float = 1.0
    #: How often the set of accounts is re-read (after a reload).
    accounts_interval: float = 5.0
    #: Upper bound on items in flight per account, whatever the windows say.
    max_in_flight: int = 1000
    #: Upper bound on an account's items held in memory for pushing (in flight included);
    #: beyond it items are queued free and leased when there is room.
    max_pushed: int = 2000

    def backoff(self, attempts: int) -> float:
        """Delay before the next try of an item that has been tried ``attempts`` times."""
        exponent = max(0, min(attempts - 1, 30))
        return float(min(self.backoff_max, self.backoff_min * (2.0**exponent)))


@attrs.frozen
class Lease:
    """What :meth:`ClientDelivery.claim` gives an item to be pushed: write it leased so."""

    owner: str
    until: float


@attrs.frozen
class Outgoing:
    """An item and, when its producer has it at hand, the deliver_sm it becomes."""

    item: DeliveryItem
    pdu: DeliverSm | None = None

    def deliver_sm(self) -> DeliverSm:
        return self.pdu if self.pdu is not None else to_deliver_sm(self.item)


class _Acks:
    """Acks of delivered items, written in batches by one task (see the module docstring)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._ids: list[str] = []
        self._more = trio.Event()

    def add(self, item_id: str) -> None:
        self._ids.append(item_id)
        self._more.set()

    async def flush(self) -> None:
        ids, self._ids = self._ids, []
        if not ids:
            return
        try:
            await self._gateway.store.ack_deliveries(ids)
        except Exception as exc:  # they come back when their lease ends: duplicates only
            log.error("delivery.ack_failed", items=len(ids), error=type(exc).__name__)

    async def run(self) -> None:
        while True:
            await self._more.wait()
            self._more = trio.Event()
            await self.flush()


class _Account:
    """One account's sender: items in memory, the binds' windows, the queue's backlog."""

    def __init__(self, owner: ClientDelivery, name: str) -> None:
        self.owner = owner
        self.name = name
        self.ready: deque[Outgoing] = deque()  # leased to this node, waiting for a window
        self.in_flight = 0
        self.reserved = 0  # claimed, not yet settled
        #: The queue may hold items of this account that are ready (or due at ``next_due``).
        self.backlog = True
        self.generation = 0  # counts settles of free items (see _lease)
        self.next_due = math.inf
        self._per_bind: dict[int, int] = {}
        self._counters: dict[tuple[DeliveryKind, str], Counter] = {}
        self._retries: list[DeliveryItem] = []  # answered "not now": nacked by the sender
        #: Ids of items to free for the queue path at once: claimed for pushing but their
        #: write may or may not have happened (freeing one that is not there is a no-op), or
        #: in flight on a bind that went away.
        self.unsure: list[str] = []
        self._changed = trio.Event()

    @property
    def held(self) -> int:
        return len(self.ready) + self.in_flight + self.reserved

    def poke(self) -> None:
        self._changed.set()

    def _binds(self) -> list[ClientBind]:
        return self.owner.gateway.binds.receivers(self.name)

    def can_push(self) -> bool:
        return not self.backlog and self.held < self.owner.policy.max_pushed and bool(self._binds())

    def _count(self, item: DeliveryItem, result: str) -> None:
        key = (item.kind, result)
        counter = self._counters.get(key)
        if counter is None:  # bound once per (kind, result): labels() is not free
            counter = self._counters[key] = self.owner.gateway.metrics.deliveries.labels(
                self.name, _KIND_LABEL.get(item.kind, "other"), result
            )
        counter.inc()

    # --- the sender --------------------------------------------------------------------------
    async def run(self) -> None:
        gateway = self.owner.gateway
        while gateway.directory.get(self.name) is not None:
            try:
                await self._step()
            except Exception as exc:  # the store failed: the items stay queued; retry
                log.error("delivery.pass_failed", account=self.name, error=type(exc).__name__)
                await self._wait(self.owner.policy.poll_interval)
        await self._free_ready()

    async def _wait(self, timeout: float) -> None:
        self._changed = trio.Event()
        with trio.move_on_after(max(0.0, timeout)):
            await self._changed.wait()

    async def _step(self) -> None:
        policy = self.owner.policy
        if self._retries:
            await self._retry_later()
        if self.unsure:
            await self._free_unsure()
        binds = self._binds()
        if not binds:
            await self._free_ready()
            # Woken when a client binds (BindRegistry.notify); the timeout re-checks that the
            # account still exists after a reload.
            await self.owner.gateway.binds.wait_for_change(self.name, policy.accounts_interval)
            return
        free = min(self._capacity(binds), policy.max_in_flight) - self.in_flight
        now = self.owner.gateway.clock()
        if free > 0:
            if self.ready:
                if self._send_ready(binds, free, now):
                    return
            elif (self.backlog or self.next_due <= now) and await self._lease(free, now):
                return
        wait = policy.poll_interval
        if self.next_due < math.inf:
            wait = min(wait, self.next_due - now)
        await self._wait(wait)
        if not self._changed.is_set() and free > 0:  # the poll: another daemon's items
            self.backlog = True

    def _capacity(self, binds: list[ClientBind]) -> int:
        return sum(max(1, bind.connection.config.window) for bind in binds)

    async def _lease(self, free: int, now: float) -> bool:
        """Lease up to ``free`` items into memory; False when the queue had nothing ready."""
        owner = self.owner
        generation = self.generation
        if self.next_due <= now:
            self.next_due = math.inf
        items = await owner.gateway.store.lease_delivery(
            self.name, free, owner.policy.lease_seconds, now, owner.node_id
        )
        if len(items) < free and self.generation == generation:
            self.backlog = False  # nothing ready left (a settle since would have said so)
        self.ready.extend(Outgoing(item) for item in items)
        return bool(items)

    def _send_ready(self, binds: list[ClientBind], free: int, now: float) -> bool:
        """Send up to ``free`` items from memory, each on the bind with the most room; False
        when no bind took one (their windows are full, or they are closing)."""
        sent = False
        open_binds = list(binds)
        while free > 0 and self.ready and open_binds:
            out = self.ready[0]
            item = out.item
            if item.expires_at and item.expires_at <= now:
                self.ready.popleft()
                self.owner.acks.add(item.id)
                self._count(item, "expired")
                continue
            bind = min(open_binds, key=lambda b: self._per_bind.get(b.id, 0))
            try:
                pdu = out.deliver_sm()
                taken = bind.connection.send_request(
                    pdu, lambda r, e, out=out, bind=bind: self._answered(out, bind, r, e)
                )
            except Exception as exc:  # a broken stored item: retried until it expires
                log.error("delivery.send_crashed", account=self.name, error=type(exc).__name__)
                self.ready.popleft()
                self._retries.append(item)
                continue
            if not taken:  # this bind's window is full or it is closing: try the others
                open_binds.remove(bind)
                continue
            self.ready.popleft()
            self._per_bind[bind.id] = self._per_bind.get(bind.id, 0) + 1
            self.in_flight += 1
            free -= 1
            sent = True
        return sent

    def _answered(
        self, out: Outgoing, bind: ClientBind, response: Pdu | None, error: NetError | None
    ) -> None:
        """The client answered one item (or its bind failed it): runs on the bind's reader."""
        self.in_flight -= 1
        left = self._per_bind.get(bind.id, 1) - 1
        if left > 0:
            self._per_bind[bind.id] = left
        else:
            self._per_bind.pop(bind.id, None)
        item = out.item
        if response is None:
            log.info("delivery.send_failed", account=self.name, error=type(error).__name__)
            if isinstance(error, ConnectionLost | SessionClosed):
                # The bind went, the client did not refuse: free for its next bind now.
                self.unsure.append(item.id)
                self._count(item, "retry")
                self.poke()
                return
            outcome = DeliveryOutcome.RETRY
        else:
            outcome = outcome_of(int(response.command_status))
        if outcome is DeliveryOutcome.RETRY:
            self._retries.append(item)
        else:
            self.owner.acks.add(item.id)
            self._count(item, "ok" if outcome is DeliveryOutcome.OK else "rejected")
        self.poke()

    async def _retry_later(self) -> None:
        """Give the items the client did not take back to the queue, each to be tried again
        after its backoff (or dropped once past its expiry)."""
        policy, store = self.owner.policy, self.owner.gateway.store
        retries, self._retries = self._retries, []
        for item in retries:
            retry_at = self.owner.gateway.clock() + policy.backoff(max(1, item.attempts))
            if item.expires_at and retry_at >= item.expires_at:
                self.owner.acks.add(item.id)
                self._count(item, "expired")
                continue
            try:
                await store.nack_delivery(item.id, retry_at)
            except Exception as exc:  # the lease ends and the item comes back: a duplicate
                log.error("delivery.settle_failed", account=self.name, error=type(exc).__name__)
                continue
            self.next_due = min(self.next_due, retry_at)
            self._count(item, "retry")

    async def _free_unsure(self) -> None:
        store, now = self.owner.gateway.store, self.owner.gateway.clock()
        unsure, self.unsure = self.unsure, []
        for item_id in unsure:
            await store.nack_delivery(item_id, now)
        self.backlog = True
        self.generation += 1

    async def _free_ready(self) -> None:
        """Give the items held in memory back to the queue (the binds went away)."""
        if self.ready:
            self.unsure.extend(out.item.id for out in self.ready)
            self.ready.clear()
            await self._free_unsure()


class ClientDelivery:
    """Receipts and replies to clients' receiving binds (see the module docstring)."""

    def __init__(self, gateway: Gateway, policy: DeliveryPolicy, node_id: str) -> None:
        self.gateway = gateway
        self.policy = policy
        self.node_id = node_id
        self.acks = _Acks(gateway)
        self._accounts: dict[str, _Account] = {}
        self.reclaimed = 0  # items the previous run of this node held, freed at start

    def _account(self, name: str) -> _Account:
        account = self._accounts.get(name)
        if account is None:
            account = self._accounts[name] = _Account(self, name)
        return account

    # --- producers ---------------------------------------------------------------------------
    def claim(self, account: str, now: float) -> Lease | None:
        """A lease for an item of ``account`` that this daemon will push once it is durable
        (None: write it free). Every claim must be followed by :meth:`settle` of its item."""
        state = self._accounts.get(account)
        if state is None or not state.can_push():
            return None
        state.reserved += 1
        return Lease(self.node_id, now + self.policy.lease_seconds)

    def settle(self, out: Outgoing, *, queued: bool | None) -> None:
        """``out.item`` was written (``queued`` True), or its write dropped it (False), or it
        is not known whether the write took place (None: it failed or was cancelled; the item
        may be in the queue, leased to this node: the sender frees it for the queue path)."""
        item = out.item
        state = self._account(item.account)
        if item.lease_owner == self.node_id and state.reserved > 0:
            state.reserved -= 1
            if queued:
                state.ready.append(out)
            elif queued is None:
                state.unsure.append(item.id)
        elif queued is not False:
            state.backlog = True
            state.generation += 1
        state.poke()

    async def queue(self, outs: Sequence[Outgoing], *, done_parts: Sequence[str] = ()) -> None:
        """Write ``outs`` (items built with :meth:`claim`'s leases) and settle them."""
        written: bool | None = None
        try:
            await self.gateway.store.enqueue_delivery([o.item for o in outs], done_parts=done_parts)
            written = True
        finally:
            for out in outs:
                self.settle(out, queued=written)

    # --- running -----------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Free what this node's previous run held, then run a sender per account until
        cancelled; on the way out flush the acks and free what is still held."""
        self.reclaimed = await self.gateway.store.release_deliveries(self.node_id)
        if self.reclaimed:
            log.info("delivery.reclaimed", items=self.reclaimed)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.acks.run)
                running: set[str] = set()
                self._start_senders(nursery, running)
                task_status.started()
                while True:
                    await trio.sleep(self.policy.accounts_interval)
                    self._start_senders(nursery, running)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(_STOP_TIMEOUT):
                await self.acks.flush()
                try:
                    await self.gateway.store.release_deliveries(self.node_id)
                except Exception as exc:  # the store is gone: the next start frees them
                    log.warning("delivery.release_failed", error=type(exc).__name__)

    def _start_senders(self, nursery: trio.Nursery, running: set[str]) -> None:
        for runtime in self.gateway.directory:
            name = runtime.system_id
            if name not in running:
                running.add(name)
                nursery.start_soon(self._run_sender, self._account(name), running)

    async def _run_sender(self, account: _Account, running: set[str]) -> None:
        try:
            await account.run()
        finally:
            running.discard(account.name)
