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
    ENROUTE (1).
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
    attempts: int = 0
    state: MtState = MtState.QUEUED
    lease_until: float = 0.0
    final_at: float = 0.0
    error_code: int = 0  # last upstream/command status for query_sm_resp and failure receipts
    segment_states: Mapping[int, int] = attrs.field(factory=dict)  # segment -> MtState value


@attrs.frozen
class MtChanges:
    """What ``replace_sm`` may change on a message that is still queued."""

    payload: bytes | None = None
    data_coding: int | None = None
    registered_delivery: int | None = None
    not_before: float | None = None
    validity_until: float | None = None


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


class DeliveryKind(enum.IntEnum):
    RECEIPT = 1
    MO = 2


@attrs.frozen
class DeliveryItem:
    """A deliver_sm waiting for a client's rx/trx bind (a receipt or a handset reply)."""

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
    message_id: str = ""  # ours, for receipts
    created_at: float = 0.0
    not_before: float = 0.0
    expires_at: float = 0.0
    attempts: int = 0
    lease_until: float = 0.0


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
        LEASED until ``now + lease_seconds``; ``attempts`` is incremented."""

    async def ack_mt(
        self, message_id: str, state: MtState, now: float, id_maps: Sequence[IdMapEntry] = ()
    ) -> None:
        """The worker is done with a leased message: submitted (ENROUTE) or final. A final state
        clears the payload (message text is kept no longer than needed).

        ``id_maps`` (the last segment's map, typically) are durable no later than the ack:
        written in the same transaction (SQLite) or acknowledged before the ack is sent
        (Redis), so an acked message never lacks its maps."""

    async def nack_mt(self, message_id: str, retry_at: float, error_code: int) -> None:
        """Give a leased message back to the queue, to be retried at ``retry_at``."""

    async def get_mt(self, message_id: str) -> MtMessage | None: ...

    async def set_mt_state(
        self, message_id: str, state: MtState, now: float, error_code: int = 0
    ) -> MtMessage | None:
        """Record a state reported by a receipt; final states clear the payload."""

    async def record_segment_state(
        self, message_id: str, segment: int, state: MtState
    ) -> Mapping[int, int]:
        """Remember one segment's receipt state; returns all segment states known so far."""

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

    # --- conversations --------------------------------------------------------------------
    async def put_conversations(self, conversations: Sequence[Conversation]) -> None: ...

    async def get_conversation(self, sender: str, recipient: str) -> Conversation | None: ...

    # --- suppression list (hashed) --------------------------------------------------------
    async def add_suppression(
        self, scope: str, recipient: str, keyword: str, now: float
    ) -> bool:
        """``scope`` is a sender number or an account name. True if newly added."""

    async def remove_suppression(self, scope: str, recipient: str) -> bool: ...

    async def is_suppressed(self, scopes: Sequence[str], recipient: str) -> bool:
        """True if ``recipient`` opted out of any of ``scopes`` (sender number, account)."""

    async def list_suppressions(self) -> list[Suppression]: ...

    def hash_msisdn(self, value: str) -> str:
        """The keyed hash used for suppression and audit entries."""
        ...

    # --- delivery queues (per account) ----------------------------------------------------
    async def enqueue_delivery(self, items: Sequence[DeliveryItem]) -> None: ...

    async def lease_delivery(
        self, account: str, limit: int, lease_seconds: float, now: float
    ) -> list[DeliveryItem]:
        """Oldest ready items first (``not_before <= now`` and not leased, or lease expired)."""

    async def ack_delivery(self, item_id: str) -> None:
        """The client accepted it (or it must not be retried): delete it."""

    async def nack_delivery(self, item_id: str, retry_at: float) -> None: ...

    async def delivery_depth(self, account: str) -> int: ...

    # --- audit ----------------------------------------------------------------------------
    async def append_audit(self, event: AuditEvent) -> None: ...

    async def list_audit(self, limit: int = 1000) -> list[AuditEvent]: ...

    # --- data lifecycle -------------------------------------------------------------------
    async def purge(self, now: float) -> dict[str, int]:
        """Delete what retention allows: expired maps, conversations, delivery items, final
        messages past ``expires_at``; clear the payload of messages whose validity has passed.
        Returns counts per data class."""

    async def erase(self, msisdn: str, now: float) -> dict[str, int]:
        """Remove every record mentioning ``msisdn`` (except the hashed suppression entry),
        append an audit event; returns counts per data class."""

    async def export(self, msisdn: str) -> dict[str, list[dict[str, object]]]:
        """Every record held about ``msisdn``, as JSON-ready dicts, per data class."""

    async def aclose(self) -> None: ...
