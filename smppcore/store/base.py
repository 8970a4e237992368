"""The storage contract: records and the ``Store`` protocol.

Everything the gateway must not lose, and everything that must be shared between daemons,
goes through this interface. Two implementations follow it: SQLite (embedded, default) and
Redis (several daemons, one state). The contract test suite in ``tests/store/`` runs against
both.

Conventions every implementation keeps:

* Times are wall-clock epoch seconds (``float``). Methods that depend on time take ``now``
  explicitly so tests control it.
* A method returns only after its effect is durable (SQLite: committed, possibly in a group
  commit with other writers; Redis: acknowledged by the server).
* Suppression entries hold no clear MSISDN: the implementation stores a keyed hash
  (HMAC-SHA256 with the secret it was opened with) of both the scope and the recipient.
* ``erase(msisdn)`` removes every record that mentions the number in any form, except the
  hashed suppression entry, and appends an audit record.
* ``expires_at`` on a record is when the purge may delete it; the caller computes it from the
  retention policy (per data class, per account).
* The return path has records of its own kinds, each with its own methods: an MT message
  becomes final only through :meth:`Store.finalise_mt` (with the receipt its client gets, in
  the same transaction), receipts waiting for their id map are :class:`PendingReceipt`, parts
  of long replies waiting for the rest are :class:`ReplyPart`, and only what a client is to
  receive is a :class:`DeliveryItem`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs


class MtState(enum.IntEnum):
    """Lifecycle of a client-submitted message, as the gateway reports it.

    The numeric values of the final states equal SMPP ``message_state`` values (§8.1) so that
    ``query_sm_resp`` can carry them directly; QUEUED/LEASED are internal states reported as
    ENROUTE (1). A message in a final state (:attr:`is_final`) never changes state again.
    """

    SCHEDULED = 0
    ENROUTE = 1  # submitted upstream, waiting for a receipt
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4  # cancelled by the client
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8
    SKIPPED = 9
    QUEUED = 100  # waiting in the MT queue
    LEASED = 101  # taken by a connector worker, not yet acknowledged

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATES

    @property
    def wire_state(self) -> int:
        """The ``message_state`` value to put on the wire."""
        if self in (MtState.QUEUED, MtState.LEASED):
            return int(MtState.ENROUTE)
        return int(self)


_FINAL_STATES = frozenset(
    {
        MtState.DELIVERED,
        MtState.EXPIRED,
        MtState.DELETED,
        MtState.UNDELIVERABLE,
        MtState.ACCEPTED,
        MtState.REJECTED,
        MtState.SKIPPED,
    }
)


@attrs.frozen
class MtMessage:
    """One message accepted from a client, queued for one connector."""

    id: str  # our message id (returned in submit_sm_resp), unique, <= 64 chars
    account: str
    connector: str
    source_addr: str
    destination_addr: str
    source_addr_ton: int = 1
    source_addr_npi: int = 1
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    service_type: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority: int = 0  # 0..3, higher leaves first
    registered_delivery: int = 0
    data_coding: int = 0
    payload: bytes = b""  # the whole user data (no UDH); segmentation happens upstream-side
    tlvs: bytes = b""  # encoded extra TLVs to forward unchanged
    submitted_at: float = 0.0
    not_before: float = 0.0  # schedule_delivery_time, or the retry time after a nack
    validity_until: float = 0.0  # 0 = no validity limit of its own
    expires_at: float = 0.0  # retention: the record may be purged after this
    attempts: int = 0  # submits to the operator that failed (transient status, no answer)
    state: MtState = MtState.QUEUED
    lease_until: float = 0.0
    final_at: float = 0.0
    error_code: int = 0  # last upstream/command status for query_sm_resp and failure receipts
    segment_states: Mapping[int, int] = attrs.field(factory=dict)  # segment -> MtState value
    #: Leading parts of a long message the operator accepted (their id maps are stored): a
    #: retry sends only the parts after these.
    parts_accepted: int = 0


@attrs.frozen
class MtChanges:
    """What ``replace_sm`` may change on a message that is still queued."""

    payload: bytes | None = None
    data_coding: int | None = None
    registered_delivery: int | None = None
    not_before: float | None = None
    validity_until: float | None = None


@attrs.frozen
class MtAck:
    """A leased message the operator accepted (every segment), with the id maps to write."""

    message_id: str
    id_maps: Sequence[IdMapEntry] = ()


@attrs.frozen
class IdMapEntry:
    """``(connector, upstream id) -> our id``: how a receipt finds its message."""

    connector: str
    upstream_id: str  # normalised by the caller (see smppcore.protocol receipt helpers)
    message_id: str  # ours
    account: str
    segment: int = 1
    total_segments: int = 1
    expires_at: float = 0.0


@attrs.frozen
class Conversation:
    """The last account that wrote from ``sender`` to ``recipient``: where a reply goes."""

    sender: str
    recipient: str
    account: str
    updated_at: float = 0.0
    expires_at: float = 0.0


@attrs.frozen
class Suppression:
    """An opt-out. ``scope_hash``/``recipient_hash`` are keyed hashes, never clear numbers."""

    scope_hash: str
    recipient_hash: str
    keyword: str
    created_at: float


@attrs.frozen
class ReceiptMatch:
    """What an operator receipt's upstream id maps to: the map entry and our message."""

    entry: IdMapEntry
    message: MtMessage


@attrs.frozen
class SegmentStates:
    """The segment states of a message after one segment's receipt was recorded."""

    states: Mapping[int, int]  # segment -> MtState value, every segment known so far
    #: The segment already had a final state: this receipt repeats one already counted.
    repeated: bool = False


@attrs.frozen
class PendingReceipt:
    """An operator receipt whose upstream id had no id map yet (the receipt overtook the
    ``submit_sm_resp`` handling), or never found one (``unmatched``).

    Holds what the client's receipt is built from and nothing personal: no addresses and no
    receipt text (whose ``text:`` field quotes the message)."""

    id: str  # derived from (connector, upstream id, state): a repeated receipt is one record
    connector: str
    upstream_id: str  # as the operator sent it; looked up by its id variants
    state: int  # the SMPP message_state it reports
    err: str = "000"
    done_at: float = 0.0  # the receipt's "done date" (epoch seconds), 0 when it had none
    network_error_code: bytes = b""  # the network_error_code TLV value, empty when absent
    received_at: float = 0.0
    next_try_at: float = 0.0  # when the look-up is tried again
    attempts: int = 0
    expires_at: float = 0.0
    unmatched: bool = False  # given up: kept (for inspection) until expires_at, not retried


@attrs.frozen
class ReplyPart:
    """One part of a long handset reply, kept until the whole reply is there (or times out).

    ``message_key`` names the reply the part belongs to (same handset, our number, reference
    and part count); ``seq`` is the part's place in it. The fields are the deliver_sm as the
    operator sent it."""

    message_key: str
    seq: int
    connector: str
    source_addr: str
    destination_addr: str
    source_addr_ton: int = 1
    source_addr_npi: int = 1
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    esm_class: int = 0
    protocol_id: int = 0
    data_coding: int = 0
    short_message: bytes = b""
    tlvs: bytes = b""
    received_at: float = 0.0
    expires_at: float = 0.0


class DeliveryKind(enum.IntEnum):
    RECEIPT = 1
    MO = 2


@attrs.frozen
class DeliveryItem:
    """A deliver_sm waiting for a client's rx/trx bind (a receipt or a handset reply).

    An item is free (``lease_owner`` empty) or leased to the daemon whose node id
    ``lease_owner`` holds, until ``lease_until``; :meth:`Store.enqueue_delivery` takes an item
    that is already leased (to deliver it from memory at once) as well as a free one."""

    id: str
    account: str
    kind: DeliveryKind
    source_addr: str
    destination_addr: str
    source_addr_ton: int = 1
    source_addr_npi: int = 1
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    esm_class: int = 0
    protocol_id: int = 0
    data_coding: int = 0
    short_message: bytes = b""
    tlvs: bytes = b""  # encoded TLVs (receipted_message_id, message_state, ...)
    message_id: str = ""  # a receipt: our id of the message it reports on; a reply: empty
    created_at: float = 0.0
    not_before: float = 0.0
    expires_at: float = 0.0
    attempts: int = 0
    lease_until: float = 0.0
    lease_owner: str = ""  # node id of the daemon holding the lease, empty when free


class FinalResult(enum.IntEnum):
    """What :meth:`Store.finalise_mt` did with one message."""

    FINALISED = 0  # it became final now; its receipt (if any) is queued
    ALREADY_FINAL = 1  # it was final before: nothing changed, the receipt was not queued
    MISSING = 2  # no such message (never stored, erased or purged)


@attrs.frozen
class MtFinal:
    """One MT message becoming final, with the receipt its client gets for it (if any)."""

    message_id: str
    state: MtState  # a final state
    at: float
    error_code: int = 0  # 0 keeps the code already recorded (a nack's, typically)
    receipt: DeliveryItem | None = None

    def __attrs_post_init__(self) -> None:
        if not self.state.is_final:
            raise ValueError(f"{self.state.name} is not a final state")


@attrs.frozen
class AuditEvent:
    """An append-only record of a consent change or an erasure. No clear MSISDN."""

    at: float
    action: str  # "optout", "optin", "erase", ...
    subject_hash: str  # keyed hash of the MSISDN concerned
    scope_hash: str = ""  # keyed hash of the sender number, or the account name
    detail: str = ""  # keyword, counts, source of the change; never message text


class StoreClosedError(RuntimeError):
    """The store was used after it was closed (or its writer/flusher tasks have ended)."""


#: Account name under which replies nobody owns are kept for an operator to inspect.
UNROUTABLE_ACCOUNT = "__unroutable__"


class Store(Protocol):
    """Durable state of the gateway. All methods are trio-friendly coroutines."""

    # --- MT queue (per connector) ---------------------------------------------------------
    async def enqueue_mt(
        self, messages: Sequence[MtMessage], conversations: Sequence[Conversation] = ()
    ) -> None:
        """Make ``messages`` durable. Returns only when they survive a crash.

        ``conversations`` (usually one per message: sender, recipient → account) are written
        in the same request, so a submit pays one store round trip, not two (SQLite: the same
        transaction; Redis: the same pipeline)."""

    async def enqueue_mt_unless_suppressed(
        self,
        messages: Sequence[MtMessage],
        scopes: Sequence[Sequence[str]],
        conversations: Sequence[Conversation] = (),
    ) -> list[bool]:
        """The consent check and the durable enqueue of a submit in ONE store request.

        For each ``messages[i]``: if its ``destination_addr`` opted out of any of
        ``scopes[i]`` (as :meth:`is_suppressed` says), it is NOT enqueued and the result's
        ``[i]`` is True; otherwise it is enqueued (durable on return, like
        :meth:`enqueue_mt`) together with ``conversations[i]`` (``conversations`` is empty or
        one per message) and ``[i]`` is False. SQLite checks and inserts in the same
        transaction, so an opt-out committed before it can never be missed; Redis checks in
        one batched round trip, then enqueues in another (the check-then-enqueue of
        separate calls)."""
        ...

    async def lease_mt(
        self, connector: str, limit: int, lease_seconds: float, now: float
    ) -> list[MtMessage]:
        """Take up to ``limit`` ready messages of ``connector`` (QUEUED with ``not_before <= now``,
        or LEASED with an expired lease), highest priority first, then oldest first. They are
        LEASED until ``now + lease_seconds``. A lease is not an attempt: ``attempts`` is
        left alone (see :meth:`nack_mt`)."""

    async def ack_mt(self, acks: Sequence[MtAck]) -> None:
        """The worker submitted these leased messages: each is ENROUTE, waiting for its
        receipt (its text is kept: a receipt or a query may still need the message; it goes
        when the message becomes final, see :meth:`finalise_mt`). A message no longer LEASED
        is left alone.

        Each ack's ``id_maps`` (the last segment's map, typically) are durable no later than
        the ack: written in the same transaction (SQLite) or acknowledged before the acks are
        sent (Redis), so an acked message never lacks its maps."""

    async def nack_mt(
        self, message_id: str, retry_at: float, error_code: int, *, attempted: bool = True
    ) -> None:
        """Give a leased message back to the queue, to be retried at ``retry_at``.
        ``attempted``: it was submitted and the submit failed (``attempts`` + 1); False for
        one given back unsent (it waited behind a failed message to the same number)."""

    async def accept_part(self, entry: IdMapEntry) -> None:
        """Part ``entry.segment`` of the leased message ``entry.message_id`` was accepted by
        the operator: its id map is stored and the message's ``parts_accepted`` becomes
        ``entry.segment``, together (one transaction on SQLite, one script on Redis), so a
        retry never sends an accepted part again and its receipt still finds the message.
        A message no longer LEASED gets the map only."""

    async def get_mt(self, message_id: str) -> MtMessage | None: ...

    async def finalise_mt(self, finals: Sequence[MtFinal]) -> list[FinalResult]:
        """The one way an MT message becomes final (receipts, failures, expiry).

        For each entry, in ONE transaction with the others (SQLite) or one atomic script per
        entry (Redis): a message not yet final takes the state (payload cleared, lease
        dropped, ``final_at`` set, ``error_code`` set unless 0) AND its ``receipt`` item, if
        any, is queued (as :meth:`enqueue_delivery` would, leased or free as the item says).
        A message already final, or missing, is left alone and its receipt is NOT queued:
        that is how a repeated final receipt is dropped."""
        ...

    async def record_segment(self, message_id: str, segment: int, state: MtState) -> SegmentStates:
        """Remember one segment's receipt state (a missing message: empty states); says
        whether that segment already had a final state (a repeated receipt)."""
        ...

    async def cancel_mt(self, message_id: str, account: str, now: float) -> bool:
        """Cancel a message of ``account`` that is still QUEUED. True if it was."""

    async def replace_mt(self, message_id: str, account: str, changes: MtChanges) -> bool:
        """Change a message of ``account`` that is still QUEUED. True if it was."""

    async def count_queued(self, account: str) -> int:
        """Messages of ``account`` still QUEUED or LEASED (for the per-account cap)."""

    async def queue_depth(self, connector: str) -> int: ...

    # --- message-id maps ------------------------------------------------------------------
    async def put_id_maps(self, entries: Sequence[IdMapEntry]) -> None: ...

    async def get_id_map(self, connector: str, upstream_id: str) -> IdMapEntry | None: ...

    async def match_receipt(self, connector: str, candidates: Sequence[str]) -> ReceiptMatch | None:
        """The id map of the first of ``candidates`` (upstream id variants, best first) that
        ``connector`` has one for, with the message it names; None when none has one, or
        the message is gone. A read: on SQLite a short indexed look-up on the caller's
        thread (see ``SqliteEngine.read_quick``)."""
        ...

    # --- receipts waiting for their id map -------------------------------------------------
    async def hold_receipts(self, receipts: Sequence[PendingReceipt]) -> None:
        """Store (or replace, by ``id``) pending receipts."""

    async def due_pending_receipts(self, now: float, limit: int) -> list[PendingReceipt]:
        """Pending receipts not given up (``unmatched`` False) whose ``next_try_at`` has come,
        earliest first."""
        ...

    async def drop_pending_receipts(self, ids: Sequence[str]) -> None: ...

    async def count_pending_receipts(self) -> int:
        """Pending receipts still being retried (not given up)."""
        ...

    async def next_pending_receipt_at(self) -> float | None:
        """The earliest ``next_try_at`` of the pending receipts still being retried; None
        when there are none."""
        ...

    # --- parts of long replies ---------------------------------------------------------------
    async def put_reply_parts(self, parts: Sequence[ReplyPart]) -> None:
        """Store parts; a part already stored (same ``message_key`` and ``seq``) stays as it
        is (an operator resending a part)."""

    async def reply_parts(self, limit: int = 100_000) -> list[ReplyPart]:
        """Stored parts, oldest first (what a restarted daemon reassembles from)."""
        ...

    async def drop_reply_parts(self, message_keys: Sequence[str]) -> None:
        """Delete every part of these replies."""

    # --- conversations --------------------------------------------------------------------
    async def put_conversations(self, conversations: Sequence[Conversation]) -> None: ...

    async def get_conversation(self, sender: str, recipient: str) -> Conversation | None: ...

    # --- suppression list (hashed) --------------------------------------------------------
    async def add_suppression(self, scope: str, recipient: str, keyword: str, now: float) -> bool:
        """``scope`` is a sender number or an account name. True if newly added."""

    async def remove_suppression(self, scope: str, recipient: str) -> bool: ...

    async def is_suppressed(self, scopes: Sequence[str], recipient: str) -> bool:
        """True if ``recipient`` opted out of any of ``scopes`` (sender number, account)."""

    async def list_suppressions(self) -> list[Suppression]: ...

    def hash_msisdn(self, value: str) -> str:
        """The keyed hash used for suppression and audit entries."""
        ...

    # --- delivery queues (per account) ----------------------------------------------------
    async def enqueue_delivery(
        self, items: Sequence[DeliveryItem], *, done_parts: Sequence[str] = ()
    ) -> None:
        """Queue ``items``; an item with a ``lease_owner`` goes in leased to it until its
        ``lease_until``. An id already queued is left as it is. ``done_parts`` (reply
        ``message_key`` values) are deleted in the same request: a reassembled reply replaces
        its parts without a window in which both, or neither, exist."""

    async def lease_delivery(
        self, account: str, limit: int, lease_seconds: float, now: float, owner: str = ""
    ) -> list[DeliveryItem]:
        """Oldest ready items first (``not_before <= now`` and free, or lease expired), leased
        to ``owner`` until ``now + lease_seconds``; ``attempts`` is incremented."""

    async def ack_deliveries(self, item_ids: Sequence[str]) -> None:
        """The client accepted them (or they must not be retried): delete them."""

    async def nack_delivery(self, item_id: str, retry_at: float) -> None:
        """Free a leased item, to be leased again from ``retry_at``."""

    async def release_deliveries(self, owner: str) -> int:
        """Free every item leased to ``owner`` now (ready at once, attempts unchanged): a
        daemon stopping, or starting again after a crash, gives back what it held. Returns
        how many."""
        ...

    async def delivery_depth(self, account: str) -> int: ...

    # --- audit ----------------------------------------------------------------------------
    async def append_audit(self, event: AuditEvent) -> None: ...

    async def list_audit(self, limit: int = 1000) -> list[AuditEvent]: ...

    # --- data lifecycle -------------------------------------------------------------------
    async def purge(self, now: float) -> dict[str, int]:
        """Delete what retention allows: expired maps, conversations, delivery items, pending
        receipts, reply parts, final messages past ``expires_at``; clear the payload of
        messages whose validity has passed. Returns counts per data class."""

    async def erase(self, msisdn: str, now: float) -> dict[str, int]:
        """Remove every record mentioning ``msisdn`` (except the hashed suppression entry),
        append an audit event; returns counts per data class."""

    async def export(self, msisdn: str) -> dict[str, list[dict[str, object]]]:
        """Every record held about ``msisdn``, as JSON-ready dicts, per data class."""

    async def aclose(self) -> None: ...
